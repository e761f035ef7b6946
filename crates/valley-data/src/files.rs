//! Reading whole files while hashing them, with transparent gzip.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::FileIdentity;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path` in chunks, feeding each chunk to SHA-256, and returns the raw bytes with
/// the file's identity (size and hash of the bytes on disk).
pub fn read_hashed(path: &Path) -> Result<(Vec<u8>, FileIdentity)> {
    let mut file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut chunk).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
        bytes.extend_from_slice(&chunk[..n]);
    }
    let identity = FileIdentity {
        path: path.display().to_string(),
        bytes: bytes.len() as u64,
        sha256: hex::encode(hasher.finalize()),
    };
    Ok((bytes, identity))
}

/// Like [`read_hashed`], then gunzips the content if it starts with the gzip magic bytes
/// `1f 8b` (whatever the file is called). The identity always describes the bytes on disk.
pub fn read_maybe_gzip(path: &Path) -> Result<(Vec<u8>, FileIdentity)> {
    let (bytes, identity) = read_hashed(path)?;
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out).map_err(|e| {
            Error::format(path, format!("corrupt or truncated gzip stream ({e}); re-download the file"))
        })?;
        Ok((out, identity))
    } else {
        Ok((bytes, identity))
    }
}

fn open_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound { path: path.to_path_buf(), hint: "the file does not exist".into() }
    } else {
        Error::io(path, e)
    }
}

/// The first of `names` that exists in `dir`, or a [`Error::NotFound`] listing them.
pub fn first_existing(dir: &Path, names: &[String], what: &str) -> Result<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file()).ok_or_else(|| Error::NotFound {
        path: dir.join(&names[0]),
        hint: format!("{what}: looked in {} for any of {}", dir.display(), names.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hash_matches_known_sha256_and_gzip_is_detected_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.gz"); // misleading extension: not gzip
        std::fs::write(&plain, b"abc").unwrap();
        let (bytes, id) = read_maybe_gzip(&plain).unwrap();
        assert_eq!(bytes, b"abc");
        assert_eq!(id.bytes, 3);
        assert_eq!(id.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        let gz = dir.path().join("b.raw"); // gzip without the extension
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello world").unwrap();
        let compressed = enc.finish().unwrap();
        std::fs::write(&gz, &compressed).unwrap();
        let (bytes, id) = read_maybe_gzip(&gz).unwrap();
        assert_eq!(bytes, b"hello world");
        assert_eq!(id.bytes, compressed.len() as u64);

        std::fs::write(&gz, &compressed[..compressed.len() - 6]).unwrap();
        let err = read_maybe_gzip(&gz).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert!(err.to_string().contains("b.raw"));
    }

    #[test]
    fn missing_file_is_not_found() {
        let err = read_hashed(Path::new("/nonexistent/valley/x.bin")).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert!(err.to_string().contains("x.bin"));
    }
}
