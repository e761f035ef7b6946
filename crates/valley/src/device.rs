//! Device selection and threading.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::{Error, Result};

/// `--device auto|cpu|cuda`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            _ => Err(Error::Config(format!("unknown device `{s}` (expected auto, cpu or cuda)"))),
        }
    }
}

impl DeviceChoice {
    /// CUDA when asked for (error if absent) or when `auto` finds it; the CPU otherwise.
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            Self::Cuda => Err(Error::Config("--device cuda asked for, but no CUDA device is available".into())),
        }
    }
}

/// Human-readable device name for run records.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Sets libtorch's intra-op thread count (0 keeps libtorch's default).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}

/// Seeds the engine's global generator (model initialisation draws from it).
pub fn manual_seed(seed: u64) {
    tch::manual_seed(seed as i64);
}
