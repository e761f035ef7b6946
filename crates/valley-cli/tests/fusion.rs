//! End-to-end tests of `valley interpolate|ssr|soups|merge` on tiny Fashion-MNIST runs.
//! The setup script installs the dataset; a missing dataset fails the tests.

mod common;

use std::path::{Path, PathBuf};

use common::{json, ok, p, valley};

fn train(dir: &Path, name: &str, model: &str, seed: &str) -> PathBuf {
    let out = dir.join(name);
    let s = out.to_str().unwrap();
    ok(&[
        "train",
        "--model",
        model,
        "--width",
        "0.25",
        "--dataset",
        "fashion-mnist",
        "--train-limit",
        "500",
        "--test-limit",
        "200",
        "--epochs",
        "1",
        "--seed",
        seed,
        "--out",
        s,
    ]);
    out
}

#[test]
fn ssr_interpolate_merge_eval_and_errors() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (train(tmp.path(), "a", "mlp", "1"), train(tmp.path(), "b", "mlp", "2"));
    let (fa, fb, init) = (a.join("final.safetensors"), b.join("final.safetensors"), a.join("init.safetensors"));

    let ssr_dir = tmp.path().join("ssr");
    let table = ok(&["ssr", p(&fa), p(&fb), "--init", p(&init), "--out", p(&ssr_dir)]);
    assert!(table.contains("ALL") && table.contains("CLF"), "{table}");
    let s = json(&ssr_dir.join("ssr.json"));
    for key in ["ssr_ab", "ssr_ia", "ssr_ib", "ssr_a_diff", "ssr_b_diff"] {
        let v = s["all"][key].as_f64().unwrap_or_else(|| panic!("ssr.json all.{key}: {s}"));
        assert!((0.0..=1.0).contains(&v));
    }
    assert!(s["groups"]["CLF"].is_object() && s["groups"].get("BN").is_none(), "an MLP has no BN group");
    assert_eq!(s["checkpoints"]["a"]["sha256"].as_str().unwrap().len(), 64);
    for f in ["ssr.csv", "ssr.png", "ssr.svg"] {
        assert!(ssr_dir.join(f).exists(), "{f}");
    }

    let int_dir = tmp.path().join("interp");
    ok(&[
        "interpolate",
        p(&fa),
        p(&fb),
        "--dataset",
        "fashion-mnist",
        "--train-limit",
        "500",
        "--test-limit",
        "200",
        "--seed",
        "1",
        "--lambdas",
        "0,0.5,1",
        "--splits",
        "test,train",
        "--out",
        p(&int_dir),
    ]);
    let csv = std::fs::read_to_string(int_dir.join("interpolation.csv")).unwrap();
    assert!(csv.starts_with("lambda,split,loss,accuracy"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 3 * 2);
    let j = json(&int_dir.join("interpolation.json"));
    assert!(j["barrier"].is_f64() && j["gap"].is_f64() && j["spec"]["eval"]["bn"] == "recompute");
    // λ = 0 reproduces A: `valley eval` of A on the same data gives the same accuracy.
    let eval = ok(&[
        "eval",
        p(&fa),
        "--dataset",
        "fashion-mnist",
        "--train-limit",
        "500",
        "--test-limit",
        "200",
        "--seed",
        "1",
        "--bn",
        "recompute",
    ]);
    let acc_a = j["endpoints"]["a"]["test"]["accuracy"].as_f64().unwrap();
    assert!(eval.contains(&format!("accuracy {:.2}%", acc_a * 100.0)), "eval says {eval}, curve says {acc_a}");
    assert!(int_dir.join("interpolation.png").exists() && int_dir.join("interpolation.svg").exists());

    let merged = tmp.path().join("merged.safetensors");
    let t =
        ok(&["merge", p(&fa), p(&fb), "--method", "ties", "--base", p(&init), "--keep", "0.5", "--out", p(&merged)]);
    assert!(t.contains("conflict before"), "{t}");
    let m = json(&merged.with_extension("json"));
    assert!(m["sign_conflicts"][0]["before"].as_f64().unwrap() > 0.0);
    let e = ok(&["eval", p(&merged), "--dataset", "fashion-mnist", "--test-limit", "200"]);
    assert!(e.contains("accuracy"), "{e}");
    ok(&["merge", p(&fa), p(&fb), "--weights", "1,3", "--out", p(&tmp.path().join("uniform.safetensors"))]);

    // Bad input names the file or the grid.
    let c = train(tmp.path(), "c", "cnn", "3");
    let err = String::from_utf8_lossy(
        &valley(&["ssr", p(&fa), p(&c.join("final.safetensors")), "--out", p(&ssr_dir)]).stderr,
    )
    .into_owned();
    assert!(err.contains("not the same architecture") && err.contains("c/final.safetensors"), "{err}");
    let err = String::from_utf8_lossy(
        &valley(&["interpolate", p(&fa), "/nonexistent/x.safetensors", "--out", p(&int_dir)]).stderr,
    )
    .into_owned();
    assert!(err.contains("/nonexistent/x.safetensors"), "{err}");
    let err = String::from_utf8_lossy(
        &valley(&["interpolate", p(&fa), p(&fb), "--lambdas", "0:1", "--out", p(&int_dir)]).stderr,
    )
    .into_owned();
    assert!(err.contains("λ grid `0:1`"), "{err}");
    let err = String::from_utf8_lossy(
        &valley(&["merge", p(&fa), p(&fb), "--method", "ties", "--force", "--out", p(&merged)]).stderr,
    )
    .into_owned();
    assert!(err.contains("--base"), "{err}");
}

#[test]
fn soups_smoke_run_writes_the_verdict() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("soups");
    ok(&[
        "soups",
        "--model",
        "mlp",
        "--width",
        "0.25",
        "--train-limit",
        "600",
        "--test-limit",
        "200",
        "--epochs",
        "2",
        "--pretrain-epochs",
        "1",
        "--lambdas",
        "0,1",
        "--augment",
        "true",
        "--out",
        p(&out),
    ]);
    let j = json(&out.join("soups.json"));
    // 28×28 data is not augmented by default; the flag turns crops and flips on.
    assert_eq!(j["dataset"]["augment"], true, "{}", j["dataset"]);
    let v = &j["verdict"];
    assert!(v["pass"].is_boolean() && v["points"] == 4, "{v}");
    for k in ["spearman_gap_ssr_ab", "mean_ssr_ab_random", "mean_ssr_ab_pretrained"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let csv = std::fs::read_to_string(out.join("soups.csv")).unwrap();
    assert!(csv.starts_with("start,epoch,acc_a,acc_b,acc_mid,gap,barrier,ssr_ia,ssr_ib,ssr_ab"));
    assert_eq!(csv.lines().count(), 5);
    for f in [
        "soups.png",
        "soups.svg",
        "random/a/epoch-2.safetensors",
        "pretrained/b/epoch-1.safetensors",
        "pretrained/init.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
}
