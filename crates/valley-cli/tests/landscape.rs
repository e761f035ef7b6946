//! End to end: train a tiny model with the real binary, then draw its valley with the
//! contract command and check the files it writes.

mod common;

use std::path::Path;

fn valley(args: &[&str], cwd: &Path) -> std::process::Output {
    common::valley_in(args, Some(cwd))
}

#[test]
fn landscape_contract_command_writes_curves_summary_and_directions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::fashion_mnist();
    let data = ["--dataset", "fashion-mnist", "--train-limit", "500", "--test-limit", "200"];
    let mut train = vec!["train", "--model", "mlp", "--width", "0.25", "--epochs", "1", "--out", "runs/a"];
    train.extend(data);
    let o = valley(&train, d);
    assert!(o.status.success(), "train failed: {}", String::from_utf8_lossy(&o.stderr));

    let mut land = vec![
        "landscape",
        "--checkpoint",
        "runs/a/final.safetensors",
        "--directions",
        "gaussian",
        "--sign",
        "both",
        "--scale",
        "1",
        "--lambdas=-1:1:5",
        "--seed",
        "3",
        "--save-direction",
        "--out",
        "out/land",
    ];
    land.extend(&data[2..]);
    let o = valley(&land, d);
    assert!(o.status.success(), "landscape failed: {}", String::from_utf8_lossy(&o.stderr));
    let out = d.join("out/land");

    let mut rdr = csv::Reader::from_path(out.join("curves.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    for col in ["direction", "sign", "scale", "group", "seed", "lambda", "split", "loss", "error"] {
        assert!(header.contains(&col.to_string()), "curves.csv lacks column {col}: {header:?}");
    }
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2 * 5, "two sign modes × five λ on the test split");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut signs: Vec<&str> = rows.iter().map(|r| &r[col("sign")]).collect();
    signs.dedup();
    assert_eq!(signs, ["as-sampled", "consistent"]);
    assert!(rows.iter().all(|r| &r[col("seed")] == "3" && &r[col("group")] == "ALL" && &r[col("split")] == "test"));
    let lambdas: Vec<f64> = rows[..5].iter().map(|r| r[col("lambda")].parse().unwrap()).collect();
    assert_eq!(lambdas, [-1.0, -0.5, 0.0, 0.5, 1.0]);
    // λ = 0 is θf for every direction.
    assert_eq!(rows[2][col("loss")], rows[7][col("loss")]);

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in ["valley_version", "checkpoint", "spec", "bn", "curves", "aggregated", "dataset"] {
        assert!(summary.get(key).is_some(), "summary.json lacks `{key}`");
    }
    assert_eq!(summary["checkpoint"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(summary["bn"]["policy"], "recompute");
    assert_eq!(summary["curves"].as_array().unwrap().len(), 2);
    for m in ["mean_plus", "mean_minus", "diff", "asymmetry", "width_plus", "curvature_minus"] {
        assert!(summary["curves"][0]["error"].get(m).is_some(), "curve metrics lack {m}");
    }
    for f in [
        "direction-gaussian-as-sampled-s1.safetensors",
        "direction-gaussian-consistent-s1.safetensors",
        "valley-test-error.png",
        "valley-test-loss.svg",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }

    // Bad specs fail with a message naming the problem, before any evaluation.
    let ck = ["landscape", "--checkpoint", "runs/a/final.safetensors", "--out", "out/bad"];
    for (extra, needle) in [
        (vec!["--directions", "gaussion"], "unknown noise `gaussion`"),
        (vec!["--lambdas=1:-1:5"], "λ grid"),
        (vec!["--group", "re:^nothing$"], "selects no parameter"),
        (vec!["--directions", "init", "--init", "missing.safetensors"], "does not exist"),
    ] {
        let args: Vec<&str> = ck.iter().copied().chain(extra.iter().copied()).collect();
        let o = valley(&args, d);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} should fail");
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
}
