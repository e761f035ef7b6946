use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{invalid, ReportError, Result};

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one:
/// the bytes go to a hidden temporary file in the same directory (same filesystem), are
/// synced, then renamed over `path`. Missing parent directories are created. On failure the
/// temporary file is removed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_err = |source| ReportError::Io { path: path.to_path_buf(), source };
    let name = path.file_name().ok_or_else(|| invalid(path, "the output path has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io_err)?;
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(source));
    }
    Ok(())
}

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
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        atomic_write(&path, b"first").unwrap();
        atomic_write(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["out.txt".to_string()]);
    }

    #[test]
    fn atomic_write_into_missing_directory_reports_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let err = atomic_write(&blocker.join("out.txt"), b"y").unwrap_err();
        assert!(err.to_string().contains("out.txt") || err.to_string().contains("file"));
    }

    #[test]
    fn suffix_keeps_dots_in_stem() {
        assert_eq!(with_suffix(Path::new("a/b.v2"), "png"), PathBuf::from("a/b.v2.png"));
    }
}
