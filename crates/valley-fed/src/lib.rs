//! Federated learning with FedSign and its baselines (paper §5).
//!
//! Laid out like Flower: a [`strategy::Strategy`] decides which clients train each round
//! and how their models are aggregated; [`client`] holds the local training logic and the
//! per-client state; a [`transport::Transport`] carries instructions and results between
//! them (here [`transport::Simulation`], every client in this process); [`server::run`]
//! drives the rounds, measures them and checkpoints them; [`compare`] runs a grid of
//! algorithms × α × seeds and tabulates it.
//!
//! Algorithms ([`config::Algorithm`]): FedAvg, FedProx (CE + μ/2·‖θ − θt‖²), MOON
//! (model-contrastive term, τ = 0.5), FedDyn (per-client linear correction, server h),
//! FedSign (CE − γ·reduce_i[sgp(θt,i)·σ(θk,i) + sgp(−θt,i)·σ(−θk,i)], reduce = sum, mean or
//! tensor-mean, see [`config::Reduce`]).

pub mod client;
pub mod compare;
pub mod config;
mod error;
pub mod objective;
pub mod partition;
pub mod server;
pub mod strategy;
pub mod transport;

pub use config::{Algorithm, EvalSplit, FedConfig, Reduce};
pub use error::{Error, Result};
pub use server::{run, Event, FedDir, FedSummary, RoundRecord};
