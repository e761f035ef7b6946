//! From a dataset on disk to normalised tensors: subsets, normalisation, batching.

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};
use valley_data::{DatasetKind, FileIdentity, ImageSet, Normalisation};

use crate::models::ModelConfig;
use crate::rng::{self, tag};
use crate::tensors::TensorSet;
use crate::{Error, Result};

/// Which data a run uses; recorded in `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    /// Folder holding the dataset's files (default: the dataset's standard location).
    pub data_dir: Option<PathBuf>,
    /// Stratified subset sizes (deterministic by `subset_seed`).
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub subset_seed: u64,
    /// Random crop (pad 4) and horizontal flip; `None` = on for 32x32 data only.
    pub augment: Option<bool>,
}

impl DataConfig {
    pub fn new(dataset: DatasetKind) -> Self {
        Self { dataset, data_dir: None, train_limit: None, test_limit: None, subset_seed: 0, augment: None }
    }

    /// Whether training augments images of side `height` × `width`: `augment` when given,
    /// else on for 32×32 data (CIFAR, SVHN) only.
    pub fn augments(&self, height: usize, width: usize) -> bool {
        self.augment.unwrap_or(height == 32 && width == 32)
    }
}

/// A dataset ready for the engine.
pub struct Prepared {
    pub name: String,
    pub train: TensorSet,
    pub test: TensorSet,
    /// The normalised training images, kept only when augmentation needs them.
    pub train_images: Option<ImageSet>,
    pub normalisation: Normalisation,
    pub files: Vec<FileIdentity>,
    pub channels: i64,
    pub image_size: i64,
    pub num_classes: i64,
    pub augment: bool,
}

/// Loads, subsets and normalises a dataset. `normalisation` = `None` computes it on the
/// (subset) training split; a checkpoint's recorded normalisation is passed in to evaluate it.
pub fn prepare(cfg: &DataConfig, normalisation: Option<&Normalisation>, device: Device) -> Result<Prepared> {
    let ds = valley_data::load(cfg.dataset, cfg.data_dir.as_deref())?;
    let mut train = match cfg.train_limit {
        Some(n) => valley_data::stratified_subset(&ds.train, n, rng::derive_seed(cfg.subset_seed, &[tag::SUBSET, 0])),
        None => ds.train,
    };
    let mut test = match cfg.test_limit {
        Some(n) => valley_data::stratified_subset(&ds.test, n, rng::derive_seed(cfg.subset_seed, &[tag::SUBSET, 1])),
        None => ds.test,
    };
    // An empty split would train on nothing or report accuracy 0 of 0 samples as a result.
    for (split, set, limit) in [("training", &train, cfg.train_limit), ("test", &test, cfg.test_limit)] {
        if set.is_empty() {
            let why = match limit {
                Some(0) => format!("the {split} limit is 0; give a limit of at least 1"),
                _ => format!("the dataset's {split} split has no samples; check the dataset folder"),
            };
            return Err(Error::Config(format!("dataset {}: {why}", cfg.dataset)));
        }
    }
    let norm = normalisation.cloned().unwrap_or_else(|| Normalisation::compute(&train));
    norm.apply(&mut train)?;
    norm.apply(&mut test)?;
    let augment = cfg.augments(train.height, train.width);
    Ok(Prepared {
        name: ds.name,
        train: TensorSet::from_images(&train, device),
        test: TensorSet::from_images(&test, device),
        channels: train.channels as i64,
        image_size: train.height as i64,
        num_classes: train.num_classes as i64,
        train_images: augment.then_some(train),
        normalisation: norm,
        files: ds.files,
        augment,
    })
}

impl Prepared {
    /// Checks that a model of `config` (read from `source`) fits this data: same input
    /// channels, image size and number of classes. Without it a mismatch surfaces as a
    /// libtorch shape panic deep inside the forward pass.
    pub fn check_fits(&self, config: &ModelConfig, source: &Path) -> Result<()> {
        let model = (config.in_channels, config.image_size, config.num_classes);
        let data = (self.channels, self.image_size, self.num_classes);
        if model != data {
            return Err(Error::ModelData {
                checkpoint: source.to_path_buf(),
                model: format!(
                    "a {} model for {}x{}x{} images and {} classes",
                    config.arch, model.0, model.1, model.1, model.2
                ),
                data: format!(
                    "dataset {} has {}x{}x{} images and {} classes",
                    self.name, data.0, data.1, data.1, data.2
                ),
            });
        }
        Ok(())
    }
}

/// Yields the mini-batches of one epoch in a shuffled order drawn from `rng`.
pub struct Batches<'a> {
    set: &'a TensorSet,
    images: Option<&'a ImageSet>,
    order: Vec<i64>,
    batch: usize,
    pos: usize,
    rng: rand_chacha::ChaCha8Rng,
}

impl<'a> Batches<'a> {
    /// `indices` restricts the epoch to a client's samples (all samples when `None`).
    pub fn new(
        set: &'a TensorSet,
        images: Option<&'a ImageSet>,
        indices: Option<&[usize]>,
        batch: usize,
        mut rng: rand_chacha::ChaCha8Rng,
    ) -> Self {
        let mut order: Vec<i64> = match indices {
            Some(ix) => ix.iter().map(|&i| i as i64).collect(),
            None => (0..set.len() as i64).collect(),
        };
        order.shuffle(&mut rng);
        Self { set, images, order, batch: batch.max(1), pos: 0, rng }
    }

    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch)
    }
}

impl Iterator for Batches<'_> {
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch).min(self.order.len());
        let ix = &self.order[self.pos..end];
        self.pos = end;
        let Some(images) = self.images else { return Some(self.set.gather(ix)) };
        // Augmentation runs on the host copy so it draws from the same seeded stream; only the
        // labels are gathered on the device.
        let y = self.set.y.index_select(0, &Tensor::from_slice(ix).to_device(self.set.y.device()));
        let (c, h, w) = (images.channels, images.height, images.width);
        let len = c * h * w;
        let mut buf = Vec::with_capacity(ix.len() * len);
        for &i in ix {
            buf.extend_from_slice(&images.pixels[i as usize * len..(i as usize + 1) * len]);
        }
        let x = crate::tensors::crop_flip(buf, [ix.len(), c, h, w], self.set.x.device(), &mut self.rng);
        Some((x, y))
    }
}
