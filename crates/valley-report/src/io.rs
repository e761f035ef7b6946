use std::path::{Path, PathBuf};

/// `<stem>.<ext>` without replacing an existing dot-suffix of the stem (`a.v2` → `a.v2.png`).
pub(crate) fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut s = stem.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_keeps_dots_in_stem() {
        assert_eq!(with_suffix(Path::new("a/b.v2"), "png"), PathBuf::from("a/b.v2.png"));
    }
}
