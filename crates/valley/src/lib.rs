//! valley: the asymmetric valleys of deep networks, sign consistency, model fusion and
//! FedSign (Li et al., NeurIPS 2024), on libtorch.
//!
//! Layers, lowest first: `data` (in the `valley-data` crate) → [`models`] → [`train`]
//! (with [`checkpoint`]) → [`params`] / [`noise`] → [`landscape`], [`fusion`], [`fed`].

pub mod checkpoint;
pub mod device;
mod error;
pub mod grid;
pub mod models;
pub mod noise;
pub mod params;
pub mod rng;
pub mod tensors;
pub mod train;

pub use error::{Error, Result};
pub use models::{Arch, BnInit, Model, ModelConfig};
pub use tch::{Device, Kind, Tensor};

/// valley's version, recorded in everything it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
