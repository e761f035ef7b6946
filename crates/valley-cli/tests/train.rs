//! End-to-end tests of `valley train`, `eval` and `info` on real Fashion-MNIST subsets.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fails, ok};

fn train(out: &Path, extra: &[&str]) -> String {
    common::fashion_mnist();
    let o = out.to_str().unwrap();
    let mut args = vec![
        "train",
        "--dataset",
        "fashion-mnist",
        "--hidden",
        "64",
        "--train-limit",
        "1000",
        "--test-limit",
        "300",
        "--out",
        o,
    ];
    // Defaults that `extra` may override.
    for (flag, value) in [("--model", "mlp"), ("--seed", "7")] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn train_writes_a_complete_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("a");
    let out = train(&run, &["--epochs", "2", "--save-epochs", "1"]);
    assert!(out.contains("test accuracy"), "{out}");
    for f in ["init.safetensors", "final.safetensors", "epoch-1.safetensors", "metrics.jsonl", "run.json"] {
        assert!(run.join(f).exists(), "missing {f}");
    }
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let acc = json["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.5 && acc <= 1.0, "an MLP learns Fashion-MNIST beyond chance: {acc}");
    assert_eq!(json["mean"].as_array().unwrap().len(), 1);
    assert_eq!(json["std"].as_array().unwrap().len(), 1);
    assert!(json["dataset"]["files"][0]["sha256"].as_str().unwrap().len() == 64);

    // eval reproduces the accuracy recorded at the end of training.
    let final_ = run.join("final.safetensors");
    let eval =
        ok(&["eval", final_.to_str().unwrap(), "--dataset", "fashion-mnist", "--test-limit", "300", "--seed", "7"]);
    assert!(eval.contains(&format!("accuracy {:.2}%", acc * 100.0)), "eval: {eval} vs run.json {acc}");
    let info = ok(&["info", final_.to_str().unwrap()]);
    assert!(info.contains("mlp") && info.contains("CLF"), "{info}");
}

#[test]
fn same_seed_gives_byte_identical_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train(&a, &["--epochs", "1"]);
    train(&b, &["--epochs", "1"]);
    for f in ["init.safetensors", "final.safetensors"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
    let c = dir.path().join("c");
    train(&c, &["--epochs", "1", "--seed", "8"]);
    assert!(std::fs::read(a.join("final.safetensors")).unwrap() != std::fs::read(c.join("final.safetensors")).unwrap());
}

#[test]
fn resume_after_kill_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    train(&full, &["--epochs", "4", "--model", "cnn", "--width", "0.25"]);

    // Start the same run, kill -9 it once a checkpoint exists, then resume.
    let cut = dir.path().join("cut");
    let args = [
        "train",
        "--dataset",
        "fashion-mnist",
        "--model",
        "cnn",
        "--width",
        "0.25",
        "--hidden",
        "64",
        "--train-limit",
        "1000",
        "--test-limit",
        "300",
        "--seed",
        "7",
        "--epochs",
        "4",
        "--out",
        cut.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_valley"))
        .args(args)
        .env("CI", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !cut.join("checkpoint.safetensors").exists() {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().ok();
    child.wait().unwrap();
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    ok(&resumed);
    assert!(
        std::fs::read(full.join("final.safetensors")).unwrap() == std::fs::read(cut.join("final.safetensors")).unwrap(),
        "resumed run must end with the same weights"
    );
    let lines = std::fs::read_to_string(cut.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "one metrics line per epoch after resume:\n{lines}");
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"this is not a checkpoint").unwrap();
    fails(&["eval", bad.to_str().unwrap()], "broken.safetensors");
    fails(&["info", dir.path().join("missing.safetensors").to_str().unwrap()], "missing.safetensors");
    fails(&["train", "--model", "vgg12", "--out", dir.path().join("x").to_str().unwrap()], "unknown model `vgg12`");
    fails(&["train", "--dataset", "imagenet"], "imagenet");
    fails(&["train", "--lr=-1", "--out", dir.path().join("y").to_str().unwrap()], "lr");
    fails(&["train", "--no-such-flag"], "--no-such-flag");
    let empty = dir.path().join("empty-data");
    std::fs::create_dir_all(&empty).unwrap();
    fails(
        &[
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            empty.to_str().unwrap(),
            "--out",
            dir.path().join("z").to_str().unwrap(),
        ],
        "empty-data",
    );
    // A truncated IDX file names the file.
    let trunc = dir.path().join("trunc");
    std::fs::create_dir_all(&trunc).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(Path::new("/usr/share/datasets/fashion-mnist").join(f), trunc.join(f)).unwrap();
    }
    let raw = std::fs::read(trunc.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    std::fs::write(trunc.join("t10k-labels-idx1-ubyte.gz"), &raw[..raw.len() / 2]).unwrap();
    fails(
        &[
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            trunc.to_str().unwrap(),
            "--out",
            dir.path().join("w").to_str().unwrap(),
        ],
        "t10k-labels",
    );
    // A checkpoint of another architecture is rejected by name.
    let run = dir.path().join("m");
    train(&run, &["--epochs", "1"]);
    let ck = valley::checkpoint::Checkpoint::read(&run.join("final.safetensors")).unwrap();
    let mut meta = ck.metadata.clone();
    meta.insert("model".into(), meta["model"].replace("\"mlp\"", "\"cnn\""));
    let tensors: Vec<(String, valley::Tensor)> =
        ck.names.iter().map(|n| (n.clone(), ck.tensors[n].shallow_clone())).collect();
    let wrong = dir.path().join("wrong.safetensors");
    valley::checkpoint::save_tensors(&wrong, &tensors, meta).unwrap();
    fails(&["eval", wrong.to_str().unwrap()], "tensor `features.0.weight` has shape [64, 784], model cnn expects");
}

#[test]
fn a_toml_config_sets_options_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, "dataset = \"fashion-mnist\"\nmodel = \"mlp\"\nhidden = [32]\nepochs = 3\ntrain_limit = 500\ntest_limit = 100\nlr = 0.05\n").unwrap();
    let run = dir.path().join("r");
    ok(&["train", "--config", cfg.to_str().unwrap(), "--epochs", "1", "--out", run.to_str().unwrap()]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["config"]["epochs"], 1, "the flag wins over the file");
    assert_eq!(json["config"]["optim"]["lr"], 0.05, "the file sets what no flag gives");
    assert_eq!(json["config"]["model"]["hidden"][0], 32);
    std::fs::write(&cfg, "epochz = 3\n").unwrap();
    fails(&["train", "--config", cfg.to_str().unwrap()], "epochz");
}
