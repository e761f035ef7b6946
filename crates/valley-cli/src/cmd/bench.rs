//! `valley bench`: training steps per second of the MLP and CNN on random batches, to
//! compare with `scripts/bench_torch.py` (same shapes, batch and threads).

use std::time::Instant;

use anyhow::Result;
use clap::Args;
use valley::train::{OptimConfig, Optimizer};
use valley::{Model, ModelConfig, Tensor};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Models to time, comma separated (mlp, cnn, cnn32 = CNN on 3x32x32).
    #[arg(long, default_value = "mlp,cnn,cnn32", value_delimiter = ',')]
    pub models: Vec<String>,
    #[arg(long, default_value_t = 128)]
    pub batch: i64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Timed steps per model (after 5 warm-up steps).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Print one JSON object per model instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    valley::device::set_threads(a.threads);
    for name in &a.models {
        let (arch, c, s) = match name.as_str() {
            "cnn32" => ("cnn", 3, 32),
            other => (other, 1, 28),
        };
        valley::device::manual_seed(0);
        let model = Model::new(&ModelConfig::new(arch.parse()?, c, s, 10), valley::Device::Cpu)?;
        let mut opt = Optimizer::new(&model, &OptimConfig::default())?;
        let x = Tensor::randn([a.batch, c, s, s], (valley::Kind::Float, valley::Device::Cpu));
        let y = Tensor::randint(10, [a.batch], (valley::Kind::Int64, valley::Device::Cpu));
        let batches = std::iter::repeat_with(|| (x.shallow_clone(), y.shallow_clone()));
        valley::train::train_steps(&model, &mut opt, batches.take(5), 0.01, 5, None, 0, |_, _| {})?;
        let t0 = Instant::now();
        valley::train::train_steps(&model, &mut opt, batches.take(a.steps), 0.01, a.steps, None, 0, |_, _| {})?;
        let rate = a.steps as f64 / t0.elapsed().as_secs_f64();
        if a.json {
            println!(
                "{}",
                serde_json::json!({"engine": "valley", "model": name, "steps_per_sec": rate, "batch": a.batch, "threads": a.threads})
            );
        } else {
            println!("{name:<6} {rate:8.2} steps/s (batch {}, {} threads)", a.batch, a.threads);
        }
    }
    Ok(())
}
