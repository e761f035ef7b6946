//! Training speed on fixed random batches: steps per second of SGD (momentum 0.9, weight decay
//! 5e-4) for the models the paper and the reproductions use.
//!
//! `python/bench_torch.py` times the same cases with plain PyTorch (same shapes, batch,
//! threads, optimiser), so `scripts/bench.sh` can put the two side by side.

use std::time::Instant;

use crate::train::{self, OptimConfig, Optimizer};
use crate::{Arch, Device, Error, Kind, Model, ModelConfig, Result, Tensor};

/// One timed model: an architecture at a fixed input shape and width.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchCase {
    /// The name on the command line and in the output.
    pub name: &'static str,
    pub arch: Arch,
    pub in_channels: i64,
    pub image_size: i64,
    pub width: f64,
}

/// Every case `valley bench` knows; `python/bench_torch.py` keeps the same table.
/// `cpu-cnn`, `cpu-resnet20` (width 0.5) and `cpu-vgg11-bn` (width 0.25, so a 128-128 head)
/// are the base networks of `valley reproduce --budget cpu`.
pub const CASES: &[BenchCase] = &[
    BenchCase { name: "mlp", arch: Arch::Mlp, in_channels: 1, image_size: 28, width: 1.0 },
    BenchCase { name: "cnn", arch: Arch::Cnn, in_channels: 1, image_size: 28, width: 1.0 },
    BenchCase { name: "cnn32", arch: Arch::Cnn, in_channels: 3, image_size: 32, width: 1.0 },
    BenchCase { name: "resnet20", arch: Arch::Resnet20, in_channels: 3, image_size: 32, width: 1.0 },
    BenchCase { name: "vgg11-bn", arch: Arch::Vgg { depth: 11, bn: true }, in_channels: 3, image_size: 32, width: 1.0 },
    BenchCase { name: "cpu-cnn", arch: Arch::Cnn, in_channels: 1, image_size: 28, width: 0.5 },
    BenchCase { name: "cpu-resnet20", arch: Arch::Resnet20, in_channels: 3, image_size: 32, width: 0.5 },
    BenchCase {
        name: "cpu-vgg11-bn",
        arch: Arch::Vgg { depth: 11, bn: true },
        in_channels: 3,
        image_size: 32,
        width: 0.25,
    },
];

/// Warm-up steps before the clock starts (allocator and kernel selection).
pub const WARMUP_STEPS: usize = 5;

impl BenchCase {
    /// The case called `name`.
    pub fn named(name: &str) -> Result<&'static BenchCase> {
        CASES.iter().find(|c| c.name == name).ok_or_else(|| {
            let known: Vec<&str> = CASES.iter().map(|c| c.name).collect();
            Error::Config(format!("unknown bench model `{name}` (expected one of {})", known.join(", ")))
        })
    }

    /// The model configuration with 10 classes.
    pub fn config(&self) -> ModelConfig {
        let mut cfg = ModelConfig::new(self.arch, self.in_channels, self.image_size, 10);
        cfg.width = self.width;
        cfg
    }

    /// Training steps per second at `batch` over `steps` timed steps, on one fixed random
    /// batch (so data loading is not timed), after [`WARMUP_STEPS`] untimed steps.
    pub fn steps_per_second(&self, batch: i64, steps: usize, device: Device) -> Result<f64> {
        Ok(self.rates(batch, steps, device)?.wall)
    }

    /// [`BenchCase::steps_per_second`] by the wall clock and by the process's CPU time.
    pub fn rates(&self, batch: i64, steps: usize, device: Device) -> Result<Rates> {
        if batch < 1 || steps < 1 {
            return Err(Error::Config(format!("bench needs batch ≥ 1 and steps ≥ 1 (got {batch} and {steps})")));
        }
        let shape = [batch, self.in_channels, self.image_size, self.image_size];
        let (model, x, y) = crate::device::with_seed(0, || {
            let model = Model::new(&self.config(), device);
            (model, Tensor::randn(shape, (Kind::Float, device)), Tensor::randint(10, [batch], (Kind::Int64, device)))
        });
        let model = model?;
        let mut opt = Optimizer::new(&model, &OptimConfig::default())?;
        let batches = || std::iter::repeat_with(|| (x.shallow_clone(), y.shallow_clone()));
        train::train_steps(&model, &mut opt, batches(), 0.01, WARMUP_STEPS, None, 0, |_, _| {})?;
        let (t0, c0) = (Instant::now(), crate::device::process_cpu_time());
        train::train_steps(&model, &mut opt, batches(), 0.01, steps, None, 0, |_, _| {})?;
        let cpu = (crate::device::process_cpu_time() - c0).as_secs_f64();
        Ok(Rates { wall: steps as f64 / t0.elapsed().as_secs_f64(), cpu: steps as f64 / cpu })
    }
}

/// Training steps per second of one case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Per second of wall-clock time.
    pub wall: f64,
    /// Per second of CPU time of the whole process (all threads; infinite where the platform
    /// reports none). On a machine shared with other jobs this one varies far less than the
    /// wall-clock rate, and at one thread it measures the work a step costs.
    pub cpu: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_builds_and_names_are_unique() {
        for (i, case) in CASES.iter().enumerate() {
            assert!(Model::new(&case.config(), Device::Cpu).is_ok(), "{} does not build", case.name);
            assert!(CASES[..i].iter().all(|c| c.name != case.name), "{} listed twice", case.name);
            assert_eq!(BenchCase::named(case.name).unwrap(), case);
        }
        let err = BenchCase::named("vgg12").unwrap_err().to_string();
        assert!(err.contains("vgg12") && err.contains("resnet20"), "{err}");
    }

    #[test]
    fn a_short_run_reports_a_positive_finite_rate_and_refuses_zero_batches() {
        let rates = BenchCase::named("mlp").unwrap().rates(8, 2, Device::Cpu).unwrap();
        assert!(rates.wall.is_finite() && rates.wall > 0.0, "{rates:?}");
        assert!(rates.cpu > 0.0 && rates.cpu.is_finite(), "{rates:?}");
        assert!(BenchCase::named("mlp").unwrap().steps_per_second(0, 2, Device::Cpu).is_err());
    }
}
