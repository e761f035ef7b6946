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

/// Free memory glibc keeps at the top of the heap before returning it to the system.
pub const TRIM_THRESHOLD: i32 = 1 << 30;

/// Keeps freed tensor memory in the process instead of handing it back to the system.
///
/// libtorch allocates every CPU tensor with `malloc` and has no caching allocator on the CPU.
/// With glibc's defaults, blocks above 128 KiB (up to 32 MiB as the threshold adapts) come
/// from a fresh `mmap`, and the heap top is trimmed after frees, so every training step and
/// every evaluation batch pays page faults to zero new pages: 870 faults per MLP step (a fifth
/// of its CPU time) and 6,000 per step of the cpu-budget CNN (a third of its CPU time).
/// Serving every request from the heap (`M_MMAP_MAX` = 0) and trimming only above
/// [`TRIM_THRESHOLD`] reuses the same pages step after step. Numbers are unaffected (only where
/// the memory comes from changes). Returns whether both settings were accepted; a no-op
/// returning `false` off glibc.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called at start-up before
        // any thread that allocates tensors exists.
        unsafe { libc::mallopt(libc::M_MMAP_MAX, 0) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// CPU time this process has used so far, all threads together.
pub fn process_cpu_time() -> std::time::Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec we own.
        if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } == 0 {
            return std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
        std::time::Duration::ZERO
    }
    #[cfg(not(unix))]
    {
        std::time::Duration::ZERO
    }
}

/// libtorch has one global generator per process, and tch exposes no other. A draw on another
/// thread between a seed and the draws it should fix changes them (two test threads did), so
/// every draw valley makes from it holds this lock; it is reentrant so a seeded section may
/// build models.
static ENGINE_RNG: parking_lot::ReentrantMutex<()> = parking_lot::ReentrantMutex::new(());

/// Seeds the engine's global generator and runs `draw` with no other thread drawing from it
/// until it returns: the same seed gives the same draws whatever runs beside it.
pub fn with_seed<T>(seed: u64, draw: impl FnOnce() -> T) -> T {
    let _only_drawer = ENGINE_RNG.lock();
    #[allow(clippy::disallowed_methods)] // the one place that may seed
    tch::manual_seed(seed as i64);
    draw()
}

/// Runs `draw` (which draws from the global generator without seeding it) while no seeded
/// section runs on another thread, so it cannot change that section's draws.
pub fn unseeded<T>(draw: impl FnOnce() -> T) -> T {
    let _only_drawer = ENGINE_RNG.lock();
    draw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_allocator_settings() {
        assert!(keep_freed_memory(), "mallopt refused M_MMAP_MAX 0 or M_TRIM_THRESHOLD {TRIM_THRESHOLD}");
    }

    #[test]
    fn a_seed_fixes_its_draws_while_another_thread_draws() {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let randn = || tch::Tensor::randn([4], (tch::Kind::Float, Device::Cpu));
        // Many small draws per section leave the other thread room to cut in, were it allowed.
        let draw = || with_seed(9, || (0..200).map(|_| randn()).collect::<Vec<_>>());
        let sections = std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = unseeded(randn);
                }
            });
            let sections: Vec<_> = (0..20).map(|_| draw()).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            sections
        });
        for section in &sections[1..] {
            assert!(section.iter().zip(&sections[0]).all(|(a, b)| a.equal(b)), "a draw changed under the same seed");
        }
    }
}

#[cfg(all(test, unix))]
mod cpu_time_tests {
    #[test]
    fn process_cpu_time_grows_with_work() {
        let t0 = super::process_cpu_time();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(super::process_cpu_time() > t0);
    }
}
