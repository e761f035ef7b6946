//! CIFAR-10 and CIFAR-100 binary versions.
//!
//! CIFAR-10: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`, records of
//! 1 + 3072 bytes (label, then the 32×32 image as R, G, B planes — already CHW).
//! CIFAR-100: `train.bin`, `test.bin`, records of 2 + 3072 bytes (coarse label, fine
//! label, image); the fine label (100 classes) is used. Files may sit in
//! `cifar-10-batches-bin/` / `cifar-100-binary/` inside the directory or in it directly.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::read_hashed;
use crate::{Dataset, FileIdentity, ImageSet};

const SIDE: usize = 32;
const IMAGE_BYTES: usize = 3 * SIDE * SIDE;

/// Layout of one CIFAR record: how many label bytes precede the image, which of them is
/// the label used, and how many classes it ranges over (the others are range-checked
/// against `label_ranges`).
#[derive(Clone, Copy, Debug)]
pub struct RecordLayout {
    pub label_ranges: &'static [usize],
    pub label_used: usize,
}

pub const CIFAR10: RecordLayout = RecordLayout { label_ranges: &[10], label_used: 0 };
/// Coarse label (20 classes) then fine label (100 classes); the fine label is used.
pub const CIFAR100: RecordLayout = RecordLayout { label_ranges: &[20, 100], label_used: 1 };

impl RecordLayout {
    pub fn record_bytes(&self) -> usize {
        self.label_ranges.len() + IMAGE_BYTES
    }

    pub fn num_classes(&self) -> usize {
        self.label_ranges[self.label_used]
    }
}

/// Reads the given files (concatenated in order) into one [`ImageSet`].
pub fn read_files(paths: &[PathBuf], layout: RecordLayout) -> Result<(ImageSet, Vec<FileIdentity>)> {
    let rec = layout.record_bytes();
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut ids = Vec::new();
    for path in paths {
        let (bytes, id) = read_hashed(path)?;
        if bytes.is_empty() || bytes.len() % rec != 0 {
            return Err(Error::RecordSize {
                path: path.clone(),
                record_bytes: rec as u64,
                found_bytes: bytes.len() as u64,
            });
        }
        for (index, r) in bytes.chunks_exact(rec).enumerate() {
            for (slot, &range) in layout.label_ranges.iter().enumerate() {
                if r[slot] as usize >= range {
                    return Err(Error::BadLabel {
                        path: path.clone(),
                        index,
                        label: r[slot] as i64,
                        num_classes: range,
                    });
                }
            }
            labels.push(r[layout.label_used] as i64);
            pixels.extend(r[layout.label_ranges.len()..].iter().map(|&v| v as f32 / 255.0));
        }
        ids.push(id);
    }
    let set = ImageSet { channels: 3, height: SIDE, width: SIDE, pixels, labels, num_classes: layout.num_classes() };
    Ok((set, ids))
}

fn base_dir(dir: &Path, sub: &str) -> PathBuf {
    let inner = dir.join(sub);
    if inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}

fn existing(base: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    names
        .iter()
        .map(|n| {
            let p = base.join(n);
            if p.is_file() {
                Ok(p)
            } else {
                Err(Error::NotFound {
                    path: p,
                    hint: format!(
                        "expected the binary version of the dataset ({}) in {}",
                        names.join(", "),
                        base.display()
                    ),
                })
            }
        })
        .collect()
}

/// Loads CIFAR-10 (pixel_max 255).
pub fn load_cifar10(dir: &Path) -> Result<Dataset> {
    let base = base_dir(dir, "cifar-10-batches-bin");
    let train_names =
        ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    let train_paths = existing(&base, &train_names)?;
    let test_paths = existing(&base, &["test_batch.bin"])?;
    let (train, mut files) = read_files(&train_paths, CIFAR10)?;
    let (test, f2) = read_files(&test_paths, CIFAR10)?;
    files.extend(f2);
    Ok(Dataset { name: String::new(), train, test, pixel_max: 255.0, files, class_names: None })
}

/// Loads CIFAR-100 with fine labels (pixel_max 255); class names come from
/// `fine_label_names.txt` when present.
pub fn load_cifar100(dir: &Path) -> Result<Dataset> {
    let base = base_dir(dir, "cifar-100-binary");
    let train_paths = existing(&base, &["train.bin"])?;
    let test_paths = existing(&base, &["test.bin"])?;
    let (train, mut files) = read_files(&train_paths, CIFAR100)?;
    let (test, f2) = read_files(&test_paths, CIFAR100)?;
    files.extend(f2);
    let class_names = std::fs::read_to_string(base.join("fine_label_names.txt")).ok().and_then(|s| {
        let names: Vec<String> = s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        (names.len() == 100).then_some(names)
    });
    Ok(Dataset { name: String::new(), train, test, pixel_max: 255.0, files, class_names })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(labels: &[u8], seed: u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        r.extend((0..IMAGE_BYTES).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)));
        r
    }

    #[test]
    fn cifar10_round_trip_in_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&base).unwrap();
        for b in 1..=5u8 {
            let mut bytes = record(&[b], b);
            bytes.extend(record(&[9], 100 + b));
            std::fs::write(base.join(format!("data_batch_{b}.bin")), bytes).unwrap();
        }
        std::fs::write(base.join("test_batch.bin"), record(&[3], 42)).unwrap();
        let ds = load_cifar10(dir.path()).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (10, 1));
        assert_eq!(ds.train.labels, vec![1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
        assert_eq!(ds.test.labels, vec![3]);
        let want = record(&[3], 42);
        let back: Vec<u8> = ds.test.pixels.iter().map(|&v| (v * 255.0).round() as u8).collect();
        assert_eq!(back, want[1..]);
        // CHW: the second channel starts at offset 1024 of the image bytes
        assert_eq!(ds.test.pixels[1024], want[1 + 1024] as f32 / 255.0);
        assert_eq!(ds.files.len(), 6);
        assert_eq!(ds.train.num_classes, 10);
    }

    #[test]
    fn cifar100_uses_fine_label_and_checks_records() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut train = record(&[19, 99], 1);
        train.extend(record(&[0, 5], 2));
        std::fs::write(d.join("train.bin"), &train).unwrap();
        std::fs::write(d.join("test.bin"), record(&[3, 42], 3)).unwrap();
        let ds = load_cifar100(d).unwrap();
        assert_eq!(ds.train.labels, vec![99, 5]);
        assert_eq!(ds.test.labels, vec![42]);
        assert_eq!(ds.train.num_classes, 100);

        // a CIFAR-10 record in a CIFAR-100 file: wrong record size
        std::fs::write(d.join("test.bin"), record(&[3], 3)).unwrap();
        let e = load_cifar100(d).unwrap_err();
        assert!(matches!(e, Error::RecordSize { record_bytes: 3074, found_bytes: 3073, .. }), "{e}");
        assert!(e.to_string().contains("test.bin"));

        std::fs::write(d.join("test.bin"), record(&[3, 100], 3)).unwrap();
        let e = load_cifar100(d).unwrap_err();
        assert!(matches!(e, Error::BadLabel { label: 100, num_classes: 100, .. }), "{e}");
        std::fs::write(d.join("test.bin"), record(&[20, 1], 3)).unwrap();
        assert!(matches!(load_cifar100(d).unwrap_err(), Error::BadLabel { label: 20, num_classes: 20, .. }));
    }

    #[test]
    fn cifar10_bad_label_truncation_and_missing_batch() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for b in 1..=4u8 {
            std::fs::write(d.join(format!("data_batch_{b}.bin")), record(&[0], b)).unwrap();
        }
        std::fs::write(d.join("test_batch.bin"), record(&[0], 0)).unwrap();
        let e = load_cifar10(d).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }) && e.to_string().contains("data_batch_5.bin"), "{e}");

        let mut trunc = record(&[1], 5);
        trunc.extend(&record(&[1], 5)[..100]);
        std::fs::write(d.join("data_batch_5.bin"), trunc).unwrap();
        let e = load_cifar10(d).unwrap_err();
        assert!(matches!(e, Error::RecordSize { .. }) && e.to_string().contains("data_batch_5.bin"), "{e}");

        let mut bad = record(&[1], 5);
        bad.extend(record(&[10], 5));
        std::fs::write(d.join("data_batch_5.bin"), bad).unwrap();
        let e = load_cifar10(d).unwrap_err();
        assert!(matches!(e, Error::BadLabel { index: 1, label: 10, .. }), "{e}");
        std::fs::write(d.join("data_batch_5.bin"), b"").unwrap();
        assert!(matches!(load_cifar10(d).unwrap_err(), Error::RecordSize { found_bytes: 0, .. }));
    }
}
