//! Atomic file writes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one:
/// the bytes go to a hidden temporary file in the same directory (same filesystem, so the
/// rename is atomic), are synced, then renamed over `path`. Missing parent directories are
/// created. On failure the temporary file is removed and the old file is left intact.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let write_err = |source| Error::Write { path: path.to_path_buf(), source };
    let name = path.file_name().ok_or_else(|| Error::NoFileName { path: path.to_path_buf() })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(write_err)?;
    // pid and a counter keep concurrent writers (threads or processes) off each other's file.
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
        return Err(write_err(source));
    }
    Ok(())
}

/// Removes the temporary files an interrupted [`atomic_write`] left in `dir` (a kill
/// between create and rename leaves `.NAME.PID-N.tmp` behind; files written before this
/// module existed used tempfile's `.tmpXXXXXX`). Called when a run resumes in `dir`;
/// returns how many were removed.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(0) };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let legacy =
            name.len() == 10 && name.starts_with(".tmp") && name[4..].chars().all(|c| c.is_ascii_alphanumeric());
        let ours = name.starts_with('.') && name.ends_with(".tmp") && name.len() > 5;
        if (legacy || ours) && entry.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(entry.path()).map_err(|source| Error::Write { path: entry.path(), source })?;
            removed += 1;
        }
    }
    Ok(removed)
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
    fn atomic_write_into_missing_directory_reports_path_and_keeps_os_error_as_source() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let err = atomic_write(&blocker.join("out.txt"), b"y").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("file"), "{msg}");
        assert!(!msg.contains("os error"), "the OS error belongs to the source, not the message: {msg}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn path_without_file_name_is_refused() {
        assert!(matches!(atomic_write(Path::new("/"), b"x"), Err(Error::NoFileName { .. })));
    }
}
