//! `valley bench`: training steps per second of the paper's models on random batches, to
//! compare with `python/bench_torch.py` (same cases, batch, threads and optimiser).

use anyhow::Result;
use clap::Args;
use valley::bench::BenchCase;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Models to time, comma separated: mlp, cnn, cnn32 (CNN on 3x32x32), resnet20, vgg11-bn,
    /// and the base networks of `reproduce --budget cpu`: cpu-cnn, cpu-resnet20, cpu-vgg11-bn.
    #[arg(
        long,
        default_value = "mlp,cnn,cnn32,resnet20,vgg11-bn,cpu-cnn,cpu-resnet20,cpu-vgg11-bn",
        value_delimiter = ','
    )]
    pub models: Vec<String>,
    #[arg(long, default_value_t = 128)]
    pub batch: i64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed steps per model (after 5 warm-up steps).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// cpu (default), cuda or auto.
    #[arg(long, default_value = "cpu")]
    pub device: valley::device::DeviceChoice,
    /// Print one JSON object per model instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.batch < 1 || a.steps < 1 || a.threads < 1 {
        anyhow::bail!(
            "--batch, --steps and --threads must be at least 1 (got {}, {} and {})",
            a.batch,
            a.steps,
            a.threads
        );
    }
    valley::device::set_threads(a.threads);
    let device = a.device.resolve()?;
    let cases = a.models.iter().map(|m| BenchCase::named(m)).collect::<valley::Result<Vec<_>>>()?;
    for case in cases {
        let rates = case.rates(a.batch, a.steps, device)?;
        let rate = rates.wall;
        if a.json {
            let record = serde_json::json!({"engine": "valley", "model": case.name, "steps_per_sec": rate,
                "steps_per_cpu_sec": rates.cpu,
                "batch": a.batch, "threads": a.threads, "device": valley::device::describe(device)});
            println!("{record}");
        } else {
            println!("{:<9} {rate:8.2} steps/s (batch {}, {} threads)", case.name, a.batch, a.threads);
        }
    }
    Ok(())
}
