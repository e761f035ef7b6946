//! Images stored as CSV rows (optionally gzipped): one sample per row, a label column and
//! the pixel values row-major. Also the bundled scikit-learn digits.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::{first_existing, read_maybe_gzip};
use crate::subset::stratified_split;
use crate::{Dataset, FileIdentity, ImageSet};

/// Where the label sits in each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelColumn {
    First,
    Last,
}

/// The raw content of one CSV file: `labels.len()` rows of `features` values each.
#[derive(Clone, Debug)]
pub struct CsvTable {
    pub values: Vec<f32>,
    pub labels: Vec<i64>,
    pub features: usize,
    pub identity: FileIdentity,
}

/// Reads a CSV file (gzip detected by magic bytes). A first row that is not numeric is
/// taken as a header and skipped. Every row must have the same number of columns, values
/// must be finite and non-negative, labels non-negative integers.
pub fn read_csv(path: &Path, label: LabelColumn) -> Result<CsvTable> {
    let (bytes, identity) = read_maybe_gzip(path)?;
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes.as_slice());
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut width = None;
    for (row, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::format(path, format!("row {}: {e}", row + 1)))?;
        let nums: std::result::Result<Vec<f64>, _> = rec.iter().map(|f| f.parse::<f64>()).collect();
        let nums = match nums {
            Ok(n) => n,
            Err(_) if row == 0 => continue, // header
            Err(e) => return Err(Error::format(path, format!("row {}: non-numeric field ({e})", row + 1))),
        };
        let w = *width.get_or_insert(nums.len());
        if nums.len() != w || w < 2 {
            return Err(Error::shape(
                path,
                format!("row {} has {} columns, expected {w} (at least 2)", row + 1, nums.len()),
            ));
        }
        let (l, px) = match label {
            LabelColumn::First => (nums[0], &nums[1..]),
            LabelColumn::Last => (nums[w - 1], &nums[..w - 1]),
        };
        if l.fract() != 0.0 || l < 0.0 || !l.is_finite() {
            return Err(Error::format(path, format!("row {}: label {l} is not a non-negative integer", row + 1)));
        }
        if let Some(v) = px.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(Error::format(path, format!("row {}: pixel value {v} is negative or not finite", row + 1)));
        }
        labels.push(l as i64);
        values.extend(px.iter().map(|&v| v as f32));
    }
    let features = width.map_or(0, |w| w - 1);
    if labels.is_empty() {
        return Err(Error::format(path, "no data rows"));
    }
    Ok(CsvTable { values, labels, features, identity })
}

/// The pixel scale of CSV data: the largest value rounded up to 1, 16 or 255.
pub fn infer_pixel_max(max_value: f32, path: &Path) -> Result<f32> {
    [1.0, 16.0, 255.0].into_iter().find(|&m| max_value <= m).ok_or_else(|| {
        Error::format(path, format!("largest value {max_value} exceeds 255; rescale the pixels to 0..=255"))
    })
}

fn to_set(t: &CsvTable, shape: (usize, usize, usize), pixel_max: f32, num_classes: usize) -> Result<ImageSet> {
    let path = PathBuf::from(&t.identity.path);
    for (index, &label) in t.labels.iter().enumerate() {
        if label as usize >= num_classes {
            return Err(Error::BadLabel { path, index, label, num_classes });
        }
    }
    Ok(ImageSet {
        channels: shape.0,
        height: shape.1,
        width: shape.2,
        pixels: t.values.iter().map(|&v| v / pixel_max).collect(),
        labels: t.labels.clone(),
        num_classes,
    })
}

fn square_shape(t: &CsvTable) -> Result<(usize, usize, usize)> {
    let side = (t.features as f64).sqrt().round() as usize;
    if side * side != t.features {
        return Err(Error::shape(
            &t.identity.path,
            format!("{} pixel columns are not a square image; cannot infer the image shape", t.features),
        ));
    }
    Ok((1, side, side))
}

/// Loads `train.csv[.gz]` and `test.csv[.gz]` from `dir`, label in the first column.
///
/// Images are 1×s×s with s² the number of pixel columns. `pixel_max` is the largest value
/// in either file rounded up to 1, 16 or 255; `num_classes` is the largest label + 1.
pub fn load_csv_dir(dir: &Path) -> Result<Dataset> {
    let names = |s: &str| vec![format!("{s}.csv"), format!("{s}.csv.gz")];
    let train = read_csv(&first_existing(dir, &names("train"), "CSV training split")?, LabelColumn::First)?;
    let test = read_csv(&first_existing(dir, &names("test"), "CSV test split")?, LabelColumn::First)?;
    let shape = square_shape(&train)?;
    if test.features != train.features {
        return Err(Error::shape(
            &test.identity.path,
            format!("{} pixel columns but the training file has {}", test.features, train.features),
        ));
    }
    let max = train.values.iter().chain(&test.values).fold(0f32, |a, &b| a.max(b));
    let pixel_max = infer_pixel_max(max, Path::new(&train.identity.path))?;
    let num_classes = train.labels.iter().chain(&test.labels).max().map_or(0, |&m| m as usize + 1);
    Ok(Dataset {
        name: String::new(),
        train: to_set(&train, shape, pixel_max, num_classes)?,
        test: to_set(&test, shape, pixel_max, num_classes)?,
        pixel_max,
        files: vec![train.identity, test.identity],
        class_names: None,
    })
}

/// Fraction of each digit class held out as the test split.
pub const DIGITS_TEST_FRACTION: f64 = 0.2;
/// Seed of the digits train/test split.
pub const DIGITS_SPLIT_SEED: u64 = 0;

/// Loads scikit-learn's `digits.csv.gz` (1797 rows: 64 values in 0..=16, then the label).
///
/// There is no official test split: [`stratified_split`] with test fraction 0.2 and seed
/// 0 gives 1438 training and 359 test images, each split in file order. pixel_max is 16.
pub fn load_digits(dir: &Path) -> Result<Dataset> {
    let path = first_existing(dir, &["digits.csv.gz".into(), "digits.csv".into()], "scikit-learn digits")?;
    let t = read_csv(&path, LabelColumn::Last)?;
    if t.features != 64 {
        return Err(Error::shape(&path, format!("{} pixel columns, digits has 64 (8x8)", t.features)));
    }
    if let Some(v) = t.values.iter().find(|&&v| v > 16.0) {
        return Err(Error::format(&path, format!("pixel value {v} above 16")));
    }
    let all = to_set(&t, (1, 8, 8), 16.0, 10)?;
    let (train_idx, test_idx) = stratified_split(&all.labels, 10, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)?;
    Ok(Dataset {
        name: String::new(),
        train: all.select(&train_idx),
        test: all.select(&test_idx),
        pixel_max: 16.0,
        files: vec![t.identity],
        class_names: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn csv_dir_round_trips_with_header_and_gzip() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("train.csv"), "label,p0,p1,p2,p3\n2,0,255,10,20\n0,1,2,3,4\n").unwrap();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"1,5,6,7,8\n").unwrap();
        std::fs::write(d.join("test.csv.gz"), e.finish().unwrap()).unwrap();
        let ds = load_csv_dir(d).unwrap();
        assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (1, 2, 2));
        assert_eq!(ds.pixel_max, 255.0);
        assert_eq!(ds.train.labels, vec![2, 0]);
        assert_eq!(ds.train.num_classes, 3);
        assert_eq!(ds.train.pixels[1], 1.0);
        assert_eq!(ds.test.pixels, [5.0, 6.0, 7.0, 8.0].map(|v: f32| v / 255.0).to_vec());
        assert_eq!(ds.files.len(), 2);
    }

    #[test]
    fn pixel_max_rounds_up_to_1_16_or_255() {
        let p = Path::new("x.csv");
        assert_eq!(infer_pixel_max(0.7, p).unwrap(), 1.0);
        assert_eq!(infer_pixel_max(12.0, p).unwrap(), 16.0);
        assert_eq!(infer_pixel_max(17.0, p).unwrap(), 255.0);
        assert!(infer_pixel_max(256.0, p).is_err());
    }

    #[test]
    fn malformed_csv_errors_name_the_file() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("test.csv"), "0,1,2,3,4\n").unwrap();
        type Check = fn(&Error) -> bool;
        let cases: [(&str, Check); 5] = [
            ("0,1,2,3,4\n1,1,2,3\n", |e| matches!(e, Error::Shape { .. })),
            ("0,1,2,3,4\n1,1,x,3,4\n", |e| matches!(e, Error::Format { .. })),
            ("0,1,2,3\n", |e| matches!(e, Error::Shape { .. })), // 3 pixels: not square
            ("0.5,1,2,3,4\n", |e| matches!(e, Error::Format { .. })),
            ("0,1,-2,3,4\n", |e| matches!(e, Error::Format { .. })),
        ];
        for (content, is_expected) in cases {
            std::fs::write(d.join("train.csv"), content).unwrap();
            let e = load_csv_dir(d).unwrap_err();
            assert!(is_expected(&e), "{content:?}: {e}");
            assert!(e.to_string().contains("train.csv"), "{e}");
        }
    }

    #[test]
    fn digits_label_out_of_range_is_bad_label() {
        let t = tempfile::tempdir().unwrap();
        let mut row: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
        row.push("10".into());
        std::fs::write(t.path().join("digits.csv"), row.join(",") + "\n").unwrap();
        let e = load_digits(t.path()).unwrap_err();
        assert!(matches!(e, Error::BadLabel { label: 10, num_classes: 10, index: 0, .. }), "{e}");
        assert!(e.to_string().contains("digits.csv"));
    }
}
