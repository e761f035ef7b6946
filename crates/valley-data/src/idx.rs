//! MNIST-format IDX files (MNIST, Fashion-MNIST), gzipped or raw.
//!
//! Images: big-endian header `0x00000803, n, rows, cols` then `n·rows·cols` bytes.
//! Labels: `0x00000801, n` then `n` bytes in `0..10`. The file length must match the
//! header exactly: shorter is [`Error::Truncated`], longer [`Error::TrailingData`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::{first_existing, read_maybe_gzip};
use crate::{scale_u8, Dataset, FileIdentity, ImageSet};

pub const IMAGES_MAGIC: u32 = 0x0000_0803;
pub const LABELS_MAGIC: u32 = 0x0000_0801;
const NUM_CLASSES: usize = 10;

/// Raw images of one IDX file: `count` images of `rows × cols` bytes.
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u8>,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn check_len(path: &Path, expected: u64, found: u64) -> Result<()> {
    if found < expected {
        Err(Error::Truncated { path: path.into(), expected_bytes: expected, found_bytes: found })
    } else if found > expected {
        Err(Error::TrailingData { path: path.into(), expected_bytes: expected, found_bytes: found })
    } else {
        Ok(())
    }
}

fn check_magic(path: &Path, bytes: &[u8], header: u64, magic: u32) -> Result<()> {
    if bytes.len() < 4 {
        return Err(Error::Truncated { path: path.into(), expected_bytes: header, found_bytes: bytes.len() as u64 });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.into(),
            expected: format!("0x{magic:08x}"),
            found: format!("0x{found:08x}"),
        });
    }
    if (bytes.len() as u64) < header {
        return Err(Error::Truncated { path: path.into(), expected_bytes: header, found_bytes: bytes.len() as u64 });
    }
    Ok(())
}

/// Parses an IDX image file already in memory (decompressed).
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<IdxImages> {
    check_magic(path, bytes, 16, IMAGES_MAGIC)?;
    let (count, rows, cols) = (be_u32(bytes, 4) as u64, be_u32(bytes, 8) as u64, be_u32(bytes, 12) as u64);
    if rows == 0 || cols == 0 {
        return Err(Error::shape(path, format!("image size {rows}x{cols} has a zero side")));
    }
    // u128: three 32-bit factors can overflow u64; such a header is simply truncated.
    let expected = (16 + count as u128 * rows as u128 * cols as u128).min(u64::MAX as u128) as u64;
    check_len(path, expected, bytes.len() as u64)?;
    Ok(IdxImages { count: count as usize, rows: rows as usize, cols: cols as usize, data: bytes[16..].to_vec() })
}

/// Parses an IDX label file already in memory; every label must be below 10.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<i64>> {
    check_magic(path, bytes, 8, LABELS_MAGIC)?;
    let count = be_u32(bytes, 4) as u64;
    check_len(path, 8 + count, bytes.len() as u64)?;
    bytes[8..]
        .iter()
        .enumerate()
        .map(|(index, &l)| {
            if (l as usize) < NUM_CLASSES {
                Ok(l as i64)
            } else {
                Err(Error::BadLabel { path: path.into(), index, label: l as i64, num_classes: NUM_CLASSES })
            }
        })
        .collect()
}

/// Reads an image file and its label file (each gzipped or raw) into an [`ImageSet`].
pub fn read_pair(images: &Path, labels: &Path) -> Result<(ImageSet, Vec<FileIdentity>)> {
    let (ib, iid) = read_maybe_gzip(images)?;
    let img = parse_images(images, &ib)?;
    drop(ib);
    let (lb, lid) = read_maybe_gzip(labels)?;
    let lab = parse_labels(labels, &lb)?;
    if img.count != lab.len() {
        return Err(Error::CountMismatch {
            images: images.into(),
            image_count: img.count,
            labels: labels.into(),
            label_count: lab.len(),
        });
    }
    let set = ImageSet {
        channels: 1,
        height: img.rows,
        width: img.cols,
        pixels: scale_u8(&img.data),
        labels: lab,
        num_classes: NUM_CLASSES,
    };
    Ok((set, vec![iid, lid]))
}

/// Finds `<prefix>-images-idx3-ubyte` (or `<prefix>-images.idx3-ubyte`, either with `.gz`)
/// and the matching labels file in `dir` or `dir/raw`.
fn find_split(dir: &Path, prefix: &str) -> Result<(PathBuf, PathBuf)> {
    let names = |kind: &str, idx: &str| -> Vec<String> {
        let mut v = Vec::new();
        for sep in ['-', '.'] {
            for ext in [".gz", ""] {
                v.push(format!("{prefix}-{kind}{sep}{idx}-ubyte{ext}"));
            }
        }
        v
    };
    // torchvision keeps the files in `raw/`
    let raw = dir.join("raw");
    let base = if first_existing(dir, &names("images", "idx3"), "").is_err() && raw.is_dir() {
        raw
    } else {
        dir.to_path_buf()
    };
    let images = first_existing(&base, &names("images", "idx3"), "MNIST-format image file")?;
    let labels = first_existing(&base, &names("labels", "idx1"), "MNIST-format label file")?;
    Ok((images, labels))
}

/// Loads `train-*` and `t10k-*` IDX files from `dir` (pixel_max 255).
pub fn load_dir(dir: &Path) -> Result<Dataset> {
    let (ti, tl) = find_split(dir, "train")?;
    let (ei, el) = find_split(dir, "t10k")?;
    let (train, mut files) = read_pair(&ti, &tl)?;
    let (test, f2) = read_pair(&ei, &el)?;
    files.extend(f2);
    if (train.height, train.width) != (test.height, test.width) {
        return Err(Error::shape(
            &ei,
            format!(
                "test images are {}x{} but training images are {}x{}",
                test.height, test.width, train.height, train.width
            ),
        ));
    }
    Ok(Dataset { name: String::new(), train, test, pixel_max: 255.0, files, class_names: None })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    pub fn images_bytes(n: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [IMAGES_MAGIC, n, rows, cols] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    pub fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [LABELS_MAGIC, labels.len() as u32] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(labels);
        v
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Writes a 3-image 2x3 train split (gzipped, dash names) and 2-image test split (raw,
    /// dot names).
    fn write_valid(dir: &Path) -> (Vec<u8>, Vec<u8>) {
        let train_px: Vec<u8> = (0..18).map(|i| (i * 14) as u8).collect();
        let test_px: Vec<u8> = vec![255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gz(&images_bytes(3, 2, 3, &train_px))).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), gz(&labels_bytes(&[9, 0, 4]))).unwrap();
        std::fs::write(dir.join("t10k-images.idx3-ubyte"), images_bytes(2, 2, 3, &test_px)).unwrap();
        std::fs::write(dir.join("t10k-labels.idx1-ubyte"), labels_bytes(&[1, 2])).unwrap();
        (train_px, test_px)
    }

    #[test]
    fn valid_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (train_px, test_px) = write_valid(dir.path());
        let ds = load_dir(dir.path()).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (3, 2));
        assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (1, 2, 3));
        assert_eq!(ds.train.labels, vec![9, 0, 4]);
        assert_eq!(ds.test.labels, vec![1, 2]);
        let back: Vec<u8> = ds.train.pixels.iter().map(|&v| (v * 255.0).round() as u8).collect();
        assert_eq!(back, train_px);
        assert_eq!(ds.test.pixels[0], 1.0);
        assert_eq!(ds.test.pixels[3], test_px[3] as f32 / 255.0);
        assert_eq!(ds.files.len(), 4);
        assert!(ds.files[0].path.ends_with("train-images-idx3-ubyte.gz"));
        assert_eq!(ds.files[2].bytes, 16 + 12);
    }

    fn expect_err(dir: &Path, file: &str, bytes: Vec<u8>) -> Error {
        std::fs::write(dir.join(file), bytes).unwrap();
        let err = load_dir(dir).unwrap_err();
        assert!(err.to_string().contains(file), "message should name {file}: {err}");
        err
    }

    #[test]
    fn corrupt_files_give_matching_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_, test_px) = write_valid(d);
        let img = "t10k-images.idx3-ubyte";
        let lab = "t10k-labels.idx1-ubyte";

        let mut bad = images_bytes(2, 2, 3, &test_px);
        bad[3] = 0x01;
        assert!(matches!(expect_err(d, img, bad), Error::BadMagic { .. }));
        let e = expect_err(d, img, images_bytes(2, 2, 3, &test_px[..11]));
        assert!(matches!(e, Error::Truncated { expected_bytes: 28, found_bytes: 27, .. }), "{e}");
        let mut long = test_px.clone();
        long.push(0);
        assert!(matches!(expect_err(d, img, images_bytes(2, 2, 3, &long)), Error::TrailingData { .. }));
        assert!(matches!(expect_err(d, img, vec![0, 0, 8]), Error::Truncated { .. }));
        assert!(matches!(expect_err(d, img, images_bytes(0, 0, 3, &[])), Error::Shape { .. }));
        // a huge claimed count must not overflow or allocate
        assert!(matches!(expect_err(d, img, images_bytes(u32::MAX, u32::MAX, u32::MAX, &[])), Error::Truncated { .. }));
        std::fs::write(d.join(img), images_bytes(2, 2, 3, &test_px)).unwrap();

        let e = expect_err(d, lab, labels_bytes(&[1, 10]));
        assert!(matches!(e, Error::BadLabel { index: 1, label: 10, num_classes: 10, .. }), "{e}");
        let e = expect_err(d, lab, labels_bytes(&[1, 2, 3]));
        assert!(matches!(e, Error::CountMismatch { image_count: 2, label_count: 3, .. }), "{e}");
        assert!(e.to_string().contains(img));
        let mut short = labels_bytes(&[1, 2]);
        short.pop();
        assert!(matches!(expect_err(d, lab, short), Error::Truncated { .. }));
        let mut wrong = labels_bytes(&[1, 2]);
        wrong[3] = 0x03;
        assert!(matches!(expect_err(d, lab, wrong), Error::BadMagic { .. }));
    }

    #[test]
    fn missing_split_names_the_expected_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    }

    #[test]
    fn real_fashion_mnist_if_installed() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        if !dir.is_dir() {
            eprintln!("skipping: {} not present", dir.display());
            return;
        }
        let ds = crate::load(crate::DatasetKind::FashionMnist, Some(dir)).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (60000, 10000));
        assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (1, 28, 28));
        assert_eq!(ds.train.class_counts(), vec![6000; 10]);
        assert_eq!(ds.test.class_counts(), vec![1000; 10]);
        assert_eq!(ds.files.len(), 4);
        assert!(ds.files.iter().all(|f| f.sha256.len() == 64));
        assert_eq!(ds.class_names.as_ref().unwrap()[9], "Ankle boot");
    }
}
