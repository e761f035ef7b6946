//! SVHN cropped digits (`train_32x32.mat`, `test_32x32.mat`), MATLAB v5/v7 files.
//!
//! `X` is an `H×W×C×N` uint8 array stored column-major, so `X[h,w,c,n]` sits at
//! `h + H·(w + W·(c + C·n))`; it is rearranged to NCHW. `y` is `N×1` with labels
//! 1..=10, where 10 means the digit 0 (mapped to label 0). MATLAB v7.3 (HDF5) files are
//! not supported.

use std::path::Path;

use matfile::{MatFile, NumericData};

use crate::error::{Error, Result};
use crate::files::read_hashed;
use crate::{Dataset, FileIdentity, ImageSet};

const HEADER_BYTES: usize = 128;

fn numeric_as_f64(data: &NumericData) -> Vec<f64> {
    match data {
        NumericData::Int8 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::UInt8 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::Int16 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::UInt16 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::Int32 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::UInt32 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::Int64 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::UInt64 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::Single { real, .. } => real.iter().map(|&v| v as f64).collect(),
        NumericData::Double { real, .. } => real.to_vec(),
    }
}

/// Parses one SVHN-layout `.mat` file held in memory.
pub fn parse_mat(path: &Path, bytes: &[u8]) -> Result<ImageSet> {
    if bytes.len() < HEADER_BYTES {
        if !bytes.starts_with(&b"MATLAB"[..bytes.len().min(6)]) {
            return Err(bad_magic(path, bytes));
        }
        return Err(Error::Truncated {
            path: path.into(),
            expected_bytes: HEADER_BYTES as u64,
            found_bytes: bytes.len() as u64,
        });
    }
    if !bytes.starts_with(b"MATLAB") {
        return Err(bad_magic(path, bytes));
    }
    if bytes.starts_with(b"MATLAB 7.3") {
        return Err(Error::format(path, "MATLAB v7.3 (HDF5) files are not supported; re-save with `save -v7`"));
    }
    let mat = MatFile::parse(bytes).map_err(|e| Error::format(path, format!("cannot parse MAT file: {e}")))?;
    let missing = |name: &str| {
        Error::format(path, format!("no numeric array `{name}` (file truncated, or not an SVHN .mat file)"))
    };
    let x = mat.find_by_name("X").ok_or_else(|| missing("X"))?;
    let y = mat.find_by_name("y").ok_or_else(|| missing("y"))?;
    let dims = x.size().clone();
    if dims.len() != 4 || !(dims[2] == 1 || dims[2] == 3) || dims[0] == 0 || dims[1] == 0 {
        return Err(Error::shape(path, format!("X has size {dims:?}, expected H×W×C×N with C 1 or 3")));
    }
    let (h, w, c, n) = (dims[0], dims[1], dims[2], dims[3]);
    let xv = numeric_as_f64(x.data());
    if xv.len() != h * w * c * n {
        return Err(Error::shape(path, format!("X has {} values but size {dims:?}", xv.len())));
    }
    let yv = numeric_as_f64(y.data());
    if yv.len() != n || y.size().iter().product::<usize>() != n {
        return Err(Error::Shape {
            path: path.into(),
            detail: format!("y has size {:?} ({} values) but X holds {n} images", y.size(), yv.len()),
        });
    }
    let mut labels = Vec::with_capacity(n);
    for (index, &l) in yv.iter().enumerate() {
        if l.fract() != 0.0 || !(1.0..=10.0).contains(&l) {
            return Err(Error::BadLabel { path: path.into(), index, label: l as i64, num_classes: 10 });
        }
        labels.push(if l == 10.0 { 0 } else { l as i64 });
    }
    let mut pixels = vec![0f32; n * c * h * w];
    for ni in 0..n {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..w {
                    let v = xv[hi + h * (wi + w * (ci + c * ni))];
                    if !(0.0..=255.0).contains(&v) {
                        return Err(Error::format(path, format!("pixel value {v} outside 0..=255")));
                    }
                    pixels[((ni * c + ci) * h + hi) * w + wi] = v as f32 / 255.0;
                }
            }
        }
    }
    Ok(ImageSet { channels: c, height: h, width: w, pixels, labels, num_classes: 10 })
}

fn bad_magic(path: &Path, bytes: &[u8]) -> Error {
    Error::BadMagic {
        path: path.into(),
        expected: "\"MATLAB 5.0 MAT-file\" header".into(),
        found: format!("{:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(10)])),
    }
}

/// Reads one `.mat` file from disk.
pub fn read_mat(path: &Path) -> Result<(ImageSet, FileIdentity)> {
    let (bytes, id) = read_hashed(path)?;
    Ok((parse_mat(path, &bytes)?, id))
}

/// Loads `train_32x32.mat` and `test_32x32.mat` from `dir` (pixel_max 255).
pub fn load_dir(dir: &Path) -> Result<Dataset> {
    let (train, a) = read_mat(&dir.join("train_32x32.mat"))?;
    let (test, b) = read_mat(&dir.join("test_32x32.mat"))?;
    Ok(Dataset { name: String::new(), train, test, pixel_max: 255.0, files: vec![a, b], class_names: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &[u8] = include_bytes!("../testdata/svhn_tiny_plain.mat");
    const COMPRESSED: &[u8] = include_bytes!("../testdata/svhn_tiny_compressed.mat");

    /// See testdata/make_svhn_fixtures.py: X[h,w,c,n] = (h + 2w + 7c + 13n) % 256, 4×5×3×6.
    fn check_fixture(set: &ImageSet) {
        assert_eq!((set.len(), set.channels, set.height, set.width), (6, 3, 4, 5));
        assert_eq!(set.labels, vec![0, 1, 2, 9, 0, 5]);
        for n in 0..6 {
            for c in 0..3 {
                for h in 0..4 {
                    for w in 0..5 {
                        let want = ((h + 2 * w + 7 * c + 13 * n) % 256) as f32 / 255.0;
                        assert_eq!(set.pixels[((n * 3 + c) * 4 + h) * 5 + w], want, "n{n} c{c} h{h} w{w}");
                    }
                }
            }
        }
    }

    #[test]
    fn scipy_written_files_round_trip() {
        check_fixture(&parse_mat(Path::new("plain.mat"), PLAIN).unwrap());
        check_fixture(&parse_mat(Path::new("compressed.mat"), COMPRESSED).unwrap());
    }

    #[test]
    fn load_dir_reads_both_splits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train_32x32.mat"), COMPRESSED).unwrap();
        std::fs::write(dir.path().join("test_32x32.mat"), PLAIN).unwrap();
        let ds = load_dir(dir.path()).unwrap();
        check_fixture(&ds.train);
        check_fixture(&ds.test);
        assert_eq!(ds.files[1].bytes, PLAIN.len() as u64);
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let p = Path::new("train_32x32.mat");
        let e = parse_mat(p, b"PK\x03\x04 not a mat file at all").unwrap_err();
        assert!(matches!(e, Error::BadMagic { .. }) && e.to_string().contains("train_32x32.mat"), "{e}");
        assert!(matches!(parse_mat(p, &PLAIN[..100]).unwrap_err(), Error::Truncated { .. }));
        for src in [PLAIN, COMPRESSED] {
            for cut in (HEADER_BYTES..src.len()).step_by(7) {
                let e = parse_mat(p, &src[..cut]).expect_err("truncated file must not parse");
                assert!(e.to_string().contains("train_32x32.mat"));
            }
        }
        let mut v73 = PLAIN.to_vec();
        v73[7..10].copy_from_slice(b"7.3");
        assert!(matches!(parse_mat(p, &v73).unwrap_err(), Error::Format { .. }));
    }

    #[test]
    fn label_out_of_range_is_bad_label() {
        // y is stored as doubles in the uncompressed fixture: find the value 5.0 (last label)
        // and replace it by 11.0.
        let five = 5.0f64.to_le_bytes();
        let pos = PLAIN.windows(8).rposition(|w| w == five).unwrap();
        let mut bad = PLAIN.to_vec();
        bad[pos..pos + 8].copy_from_slice(&11.0f64.to_le_bytes());
        let e = parse_mat(Path::new("test_32x32.mat"), &bad).unwrap_err();
        assert!(matches!(e, Error::BadLabel { index: 5, label: 11, .. }), "{e}");
    }
}
