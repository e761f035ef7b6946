//! valley: the asymmetric valleys of deep networks, sign consistency, model fusion and
//! FedSign (Li et al., NeurIPS 2024), on libtorch.
//!
//! This crate is the core the others build on. Layers, lowest first: datasets (the
//! `valley-data` crate) → [`models`] → [`train`] (with [`checkpoint`]) and [`eval`]
//! (evaluation, BN re-estimation) → [`params`] / [`noise`]. Landscapes, fusion and federated
//! learning live in the `valley-landscape`, `valley-fusion` and `valley-fed` crates.

pub mod bench;
pub mod checkpoint;
pub mod device;
mod error;
pub mod eval;
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

/// valley's version, recorded in everything it writes (one constant for the workspace).
pub use valley_base::VERSION;
