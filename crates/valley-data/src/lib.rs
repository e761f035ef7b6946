//! Datasets, subsets, normalisation, augmentation and federated partitions for valley.
//!
//! Pure Rust, no tensor engine: images are `f32` buffers in NCHW order with pixel values
//! scaled to `[0, 1]` (raw value / `pixel_max`). Every reader validates magic numbers,
//! dimensions, record counts, label ranges and truncation, and reports problems as a
//! [`Error`] naming the file; none panics on bad input. Every file read is recorded as
//! a [`FileIdentity`] (size and SHA-256) so a run's metadata can name its data exactly.

mod augment;
pub mod cifar;
mod error;
pub mod files;
pub mod folder;
pub mod idx;
mod normalise;
pub mod partition;
mod subset;
pub mod svhn;
pub mod table;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use augment::augment_crop_flip;
pub use error::{Error, Result};
pub use normalise::Normalisation;
pub use partition::{client_class_matrix, partition, Partition};
pub use subset::{stratified_split, stratified_subset};

/// Images in NCHW order, pixel values scaled to `[0,1]` (raw value / `pixel_max`).
///
/// Sample `i` occupies `pixels[i*C*H*W .. (i+1)*C*H*W]`, its label is `labels[i]` in
/// `0..num_classes`.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<f32>,
    pub labels: Vec<i64>,
    pub num_classes: usize,
}

impl ImageSet {
    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per sample, C·H·W.
    pub fn sample_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The samples at `indices`, in that order (repeats allowed).
    ///
    /// Panics if an index is `>= self.len()`: indices come from code, not from files.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let s = self.sample_len();
        let mut pixels = Vec::with_capacity(indices.len() * s);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * s..(i + 1) * s]);
            labels.push(self.labels[i]);
        }
        ImageSet {
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels,
            labels,
            num_classes: self.num_classes,
        }
    }

    /// Samples per class, indexed by label (length `num_classes`; labels outside the range
    /// are not counted).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            if l >= 0 && (l as usize) < self.num_classes {
                counts[l as usize] += 1;
            }
        }
        counts
    }
}

/// Identity of one input file: its path, size on disk and SHA-256 of the bytes on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A train/test pair as loaded from disk, with the identity of every file read.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub train: ImageSet,
    pub test: ImageSet,
    /// Raw value that maps to 1.0: 255 for 8-bit images, 16 for digits.
    pub pixel_max: f32,
    pub files: Vec<FileIdentity>,
    pub class_names: Option<Vec<String>>,
}

/// The dataset formats valley can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    Cifar100,
    Svhn,
    ImageFolder,
    Csv,
    Digits,
}

const ALL_KINDS: [DatasetKind; 8] = [
    DatasetKind::FashionMnist,
    DatasetKind::Mnist,
    DatasetKind::Cifar10,
    DatasetKind::Cifar100,
    DatasetKind::Svhn,
    DatasetKind::ImageFolder,
    DatasetKind::Csv,
    DatasetKind::Digits,
];

impl std::str::FromStr for DatasetKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ALL_KINDS.iter().copied().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL_KINDS.iter().map(|k| k.name()).collect();
            Error::UnknownDataset { given: s.to_string(), valid: names.join(", ") }
        })
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl DatasetKind {
    /// The dataset's name on the command line and in records (`fashion-mnist`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Svhn => "svhn",
            DatasetKind::ImageFolder => "image-folder",
            DatasetKind::Csv => "csv",
            DatasetKind::Digits => "digits",
        }
    }

    /// Where the dataset lives when neither a directory nor an environment variable is
    /// given: `/usr/share/datasets/<name>` for the downloadable benchmarks, the bundled
    /// `data/digits` of this workspace for digits, none for `image-folder` and `csv`.
    pub fn default_dir(&self) -> Option<PathBuf> {
        match self {
            DatasetKind::Digits => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits")),
            DatasetKind::ImageFolder | DatasetKind::Csv => None,
            k => Some(Path::new("/usr/share/datasets").join(k.name())),
        }
    }

    /// The environment variable that overrides the default directory, e.g.
    /// `VALLEY_FASHION_MNIST_DIR`, `VALLEY_CIFAR10_DIR`.
    pub fn env_var(&self) -> String {
        format!("VALLEY_{}_DIR", self.name().to_uppercase().replace('-', "_"))
    }

    fn class_names(&self) -> Option<Vec<String>> {
        let names: &[&str] = match self {
            DatasetKind::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DatasetKind::Mnist | DatasetKind::Svhn | DatasetKind::Digits => {
                &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
            }
            DatasetKind::Cifar10 => {
                &["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
            }
            _ => return None,
        };
        Some(names.iter().map(|s| s.to_string()).collect())
    }
}

/// The directory to load `kind` from: `dir` if given, else `$VALLEY_<NAME>_DIR`, else
/// `$VALLEY_DATA_DIR/<name>`, else [`DatasetKind::default_dir`].
pub fn resolve_dir(kind: DatasetKind, dir: Option<&Path>) -> Result<PathBuf> {
    resolve_dir_with(kind, dir, |k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn resolve_dir_with(kind: DatasetKind, dir: Option<&Path>, env: impl Fn(&str) -> Option<PathBuf>) -> Result<PathBuf> {
    if let Some(d) = dir {
        return Ok(d.to_path_buf());
    }
    if let Some(d) = env(&kind.env_var()) {
        return Ok(d);
    }
    if let Some(d) = env("VALLEY_DATA_DIR") {
        return Ok(d.join(kind.name()));
    }
    kind.default_dir().ok_or_else(|| Error::NoDefaultDir { dataset: kind.name(), env_var: kind.env_var() })
}

/// Loads the train and test split of `kind`. With `dir` `None` the directory comes from
/// [`resolve_dir`].
///
/// Pixel values are raw / `pixel_max`; for `csv` the scale is inferred (see
/// [`table::load_csv_dir`]); `digits` has no official test split and gets a stratified
/// 80/20 split with seed 0 (see [`stratified_split`]).
pub fn load(kind: DatasetKind, dir: Option<&Path>) -> Result<Dataset> {
    let dir = resolve_dir(kind, dir)?;
    if dir.is_file() {
        return Err(Error::DirIsFile { dataset: kind.name(), path: dir });
    }
    if !dir.is_dir() {
        return Err(Error::NotFound {
            path: dir.clone(),
            hint: format!(
                "dataset `{}` directory is missing; pass another directory or set {} (or VALLEY_DATA_DIR)",
                kind.name(),
                kind.env_var()
            ),
        });
    }
    let mut ds = match kind {
        DatasetKind::FashionMnist | DatasetKind::Mnist => idx::load_dir(&dir)?,
        DatasetKind::Cifar10 => cifar::load_cifar10(&dir)?,
        DatasetKind::Cifar100 => cifar::load_cifar100(&dir)?,
        DatasetKind::Svhn => svhn::load_dir(&dir)?,
        DatasetKind::ImageFolder => folder::load_dir(&dir)?,
        DatasetKind::Csv => table::load_csv_dir(&dir)?,
        DatasetKind::Digits => table::load_digits(&dir)?,
    };
    ds.name = kind.name().to_string();
    if ds.class_names.is_none() {
        ds.class_names = kind.class_names();
    }
    Ok(ds)
}

/// Converts raw 8-bit values to `[0,1]`.
pub(crate) fn scale_u8(raw: &[u8]) -> Vec<f32> {
    raw.iter().map(|&v| v as f32 / 255.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_and_unknown_lists_valid_names() {
        for k in ALL_KINDS {
            assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
        }
        let err = "cifar-10".parse::<DatasetKind>().unwrap_err().to_string();
        assert!(err.contains("cifar-10") && err.contains("fashion-mnist") && err.contains("digits"), "{err}");
        assert_eq!(DatasetKind::FashionMnist.env_var(), "VALLEY_FASHION_MNIST_DIR");
        assert_eq!(DatasetKind::Cifar10.env_var(), "VALLEY_CIFAR10_DIR");
    }

    #[test]
    fn directory_resolution_order() {
        let env = |k: &str| match k {
            "VALLEY_CIFAR10_DIR" => Some(PathBuf::from("/own")),
            "VALLEY_DATA_DIR" => Some(PathBuf::from("/all")),
            _ => None,
        };
        let k = DatasetKind::Cifar10;
        assert_eq!(resolve_dir_with(k, Some(Path::new("/x")), env).unwrap(), PathBuf::from("/x"));
        assert_eq!(resolve_dir_with(k, None, env).unwrap(), PathBuf::from("/own"));
        assert_eq!(resolve_dir_with(DatasetKind::Svhn, None, env).unwrap(), PathBuf::from("/all/svhn"));
        assert_eq!(
            resolve_dir_with(DatasetKind::FashionMnist, None, |_| None).unwrap(),
            PathBuf::from("/usr/share/datasets/fashion-mnist")
        );
        assert!(resolve_dir_with(DatasetKind::Csv, None, |_| None).is_err());
    }

    #[test]
    fn select_and_class_counts() {
        let set = ImageSet {
            channels: 1,
            height: 1,
            width: 2,
            pixels: vec![0.0, 0.1, 1.0, 1.1, 2.0, 2.1],
            labels: vec![0, 2, 2],
            num_classes: 3,
        };
        assert_eq!(set.sample_len(), 2);
        assert_eq!(set.class_counts(), vec![1, 0, 2]);
        let s = set.select(&[2, 0]);
        assert_eq!(s.pixels, vec![2.0, 2.1, 0.0, 0.1]);
        assert_eq!(s.labels, vec![2, 0]);
        assert!(set.select(&[]).is_empty());
    }

    #[test]
    fn load_missing_dir_is_not_found() {
        let err = load(DatasetKind::Mnist, Some(Path::new("/nonexistent/valley-mnist"))).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert!(err.to_string().contains("valley-mnist"));
    }

    #[test]
    fn bundled_digits_load_with_stratified_split() {
        let ds = load(DatasetKind::Digits, None).unwrap();
        assert_eq!(ds.train.len() + ds.test.len(), 1797);
        assert_eq!(ds.test.len(), 359);
        assert_eq!((ds.train.channels, ds.train.height, ds.train.width), (1, 8, 8));
        assert_eq!(ds.pixel_max, 16.0);
        assert_eq!(ds.train.num_classes, 10);
        // stratified: every class is ~20% test
        let (tr, te) = (ds.train.class_counts(), ds.test.class_counts());
        for c in 0..10 {
            let frac = te[c] as f64 / (tr[c] + te[c]) as f64;
            assert!((frac - 0.2).abs() < 0.01, "class {c}: {frac}");
        }
        // first row of the file: 0,0,5,13,9,1,0,0,... label 0, lands in one of the splits
        let first = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0].map(|v: f32| v / 16.0);
        let found = [&ds.train, &ds.test]
            .iter()
            .any(|s| (0..s.len()).any(|i| s.pixels[i * 64..i * 64 + 8] == first && s.labels[i] == 0));
        assert!(found);
        assert!(ds.train.pixels.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert_eq!(ds.files.len(), 1);
        assert_eq!(ds.name, "digits");
        // deterministic
        let again = load(DatasetKind::Digits, None).unwrap();
        assert_eq!(again.test.labels, ds.test.labels);
        assert_eq!(again.test.pixels, ds.test.pixels);
    }
}
