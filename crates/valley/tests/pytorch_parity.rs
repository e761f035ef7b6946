//! valley's checkpoints load into the equivalent PyTorch modules (python/valley_models.py)
//! with `load_state_dict(strict=True)` and give the same logits (max abs diff < 1e-4).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use valley::checkpoint::{save_model, save_tensors};
use valley::train::{train_steps, OptimConfig, Optimizer};
use valley::{Device, Kind, Model, ModelConfig, Tensor};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Saves a briefly trained model, an input batch and its logits; returns the three paths.
fn prepare(dir: &Path, arch: &str, channels: i64, size: i64, width: f64) -> [PathBuf; 3] {
    let mut cfg = ModelConfig::new(arch.parse().unwrap(), channels, size, 10);
    cfg.width = width;
    cfg.bn_init = valley::BnInit::Uniform;
    let (model, x, y) = valley::device::with_seed(5, || {
        let model = Model::new(&cfg, Device::Cpu).unwrap();
        let x = Tensor::randn([16, channels, size, size], (Kind::Float, Device::Cpu));
        (model, x, Tensor::randint(10, [16], (Kind::Int64, Device::Cpu)))
    });
    // A few steps so weights and BN running statistics differ from their initial values.
    let mut opt = Optimizer::new(&model, &OptimConfig::default()).unwrap();
    let batches = std::iter::repeat_with(|| (x.shallow_clone(), y.shallow_clone())).take(3);
    train_steps(&model, &mut opt, batches, 0.01, 3, None, 0, |_, _| {}).unwrap();

    let ckpt = dir.join(format!("{arch}-{channels}x{size}.safetensors"));
    save_model(&model, &ckpt, &[]).unwrap();
    let logits = tch::no_grad(|| model.forward(&x, valley::models::Mode::Eval));
    let (inputs, outputs) = (
        dir.join(format!("{arch}-{channels}x{size}-x.safetensors")),
        dir.join(format!("{arch}-{channels}x{size}-logits.safetensors")),
    );
    save_tensors(&inputs, &[("x".into(), x)], HashMap::new()).unwrap();
    save_tensors(&outputs, &[("logits".into(), logits)], HashMap::new()).unwrap();

    [ckpt, inputs, outputs]
}

#[test]
fn every_architecture_matches_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("mlp", 1, 28, 0.25),
        ("linear", 1, 8, 1.0),
        ("cnn", 1, 28, 0.5),
        ("cnn", 3, 32, 0.25),
        ("vgg11-bn", 3, 32, 0.125),
        ("vgg11", 1, 28, 0.125),
        ("vgg16-bn", 3, 32, 0.0625),
        ("resnet20", 3, 32, 0.5),
        ("resnet18", 1, 28, 0.0625),
    ];
    let files: Vec<PathBuf> = cases.iter().flat_map(|&(a, c, s, w)| prepare(dir.path(), a, c, s, w)).collect();
    let python = root().join(".venv/bin/python");
    let out = Command::new(&python)
        .arg(root().join("python/check_parity.py"))
        .args(&files)
        .env("PYTHONPATH", root().join("python"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); run scripts/setup.sh first", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "PyTorch parity failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("max_abs_diff").count(), cases.len(), "{stdout}");
}
