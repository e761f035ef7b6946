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

/// Reads a CSV the binary wrote: its header and rows.
fn read_csv(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut rdr = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = rdr.headers().unwrap().iter().map(String::from).collect();
    (header, rdr.records().map(Result::unwrap).collect())
}

#[test]
fn trajectory_of_a_run_is_drawn_on_its_pca_plane() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = ["--dataset", "digits", "--train-limit", "300", "--test-limit", "60"];
    let mut train = vec!["train", "--model", "mlp", "--hidden", "16", "--epochs", "4", "--batch-size", "64"];
    train.extend(["--save-epochs", "1,2,3,4", "--out", "runs/t"]);
    train.extend(data);
    let o = valley(&train, d);
    assert!(o.status.success(), "train failed: {}", String::from_utf8_lossy(&o.stderr));

    // The centre defaults to the run's final model; the grid to one covering the path.
    let mut land = vec!["landscape", "--plane", "--trajectory", "runs/t", "--save-direction", "--out", "out/pca"];
    land.extend(data);
    let o = valley(&land, d);
    assert!(o.status.success(), "landscape failed: {}", String::from_utf8_lossy(&o.stderr));
    let out = d.join("out/pca");

    let (header, rows) = read_csv(&out.join("trajectory.csv"));
    assert_eq!(header, ["label", "epoch", "file", "alpha", "beta", "distance", "in_plane"]);
    let labels: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
    // final.safetensors equals epoch-4.safetensors and is listed once.
    assert_eq!(labels, ["init", "epoch 1", "epoch 2", "epoch 3", "epoch 4"]);
    let num = |r: &csv::StringRecord, k: usize| r[k].parse::<f64>().unwrap();
    let last = rows.last().unwrap();
    assert_eq!((num(last, 3), num(last, 4), num(last, 5)), (0.0, 0.0, 0.0), "θf sits at the origin");
    assert!(num(&rows[0], 3) < 0.0, "the path starts on the negative side of PC1");
    for r in &rows {
        let (a, b, dist, inp) = (num(r, 3), num(r, 4), num(r, 5), num(r, 6));
        assert!((0.0..=1.0 + 1e-9).contains(&inp), "in-plane fraction {inp}");
        // With an orthonormal basis the in-plane part of θ − θf has norm √(α² + β²).
        assert!(((a * a + b * b).sqrt() - dist * inp.sqrt()).abs() < 1e-4 * (1.0 + dist), "{r:?}");
    }

    let plane = common::json(&out.join("plane.json"));
    let t = &plane["trajectory"];
    assert_eq!(t["basis"], "pca");
    let ev: Vec<f64> = t["explained_variance"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|&e| e > 0.0 && e <= 1.0), "explained variance {ev:?} outside (0, 1]");
    assert!(ev[0] >= ev[1] && ev[0] + ev[1] <= 1.0 + 1e-9, "{ev:?}");
    assert_eq!(plane["d1"], "PC1");

    // The grid covers every model of the path, and every grid point was evaluated.
    let grid = |k: &str| -> Vec<f64> { plane[k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect() };
    let (alphas, betas) = (grid("alphas"), grid("betas"));
    for r in &rows {
        assert!(alphas[0] < num(r, 3) && num(r, 3) < alphas[alphas.len() - 1]);
        assert!(betas[0] < num(r, 4) && num(r, 4) < betas[betas.len() - 1]);
    }
    let (_, points) = read_csv(&out.join("plane.csv"));
    assert_eq!(points.len(), alphas.len() * betas.len());

    let svg = std::fs::read_to_string(out.join("plane-test-loss.svg")).unwrap();
    assert!(out.join("plane-test-loss.png").exists());
    let axis = format!("α (PC1, {:.1} % of variance)", 100.0 * ev[0]);
    assert!(svg.contains(&axis), "the loss figure lacks the axis label `{axis}`");
    assert!(svg.lines().any(|l| l.trim() == "init"), "the path's first point is labelled");

    // The saved PC1 is a unit vector usable as a file direction.
    let o = valley(
        &[
            "landscape",
            "--checkpoint",
            "runs/t/final.safetensors",
            "--directions",
            "file:out/pca/direction-pc1.safetensors",
            "--sign",
            "as-sampled",
            "--norm",
            "raw",
            "--lambdas=-1,0,1",
            "--dataset",
            "digits",
            "--test-limit",
            "60",
            "--no-plots",
            "--out",
            "out/pc1",
        ],
        d,
    );
    assert!(o.status.success(), "file:direction-pc1 failed: {}", String::from_utf8_lossy(&o.stderr));

    // Two given directions instead of PCA: same coordinates file, the basis recorded.
    let mut given = vec![
        "landscape",
        "--plane",
        "--trajectory",
        "runs/t",
        "--directions",
        "gaussian,uniform",
        "--sign",
        "as-sampled",
        "--lambdas=-1:1:3",
        "--no-plots",
        "--out",
        "out/given",
    ];
    given.extend(data);
    let o = valley(&given, d);
    assert!(o.status.success(), "given directions failed: {}", String::from_utf8_lossy(&o.stderr));
    let plane = common::json(&d.join("out/given/plane.json"));
    assert_eq!(plane["trajectory"]["basis"], "given");
    let ev = plane["trajectory"]["explained_variance"].as_array().unwrap();
    assert!(ev.iter().all(|v| (0.0..=1.0).contains(&v.as_f64().unwrap())), "{ev:?}");
    let (_, rows) = read_csv(&d.join("out/given/trajectory.csv"));
    assert_eq!(rows.len(), 5);
}
