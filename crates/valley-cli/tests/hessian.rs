//! `valley hessian` on a tiny trained model: hessian.json per group, the density figure, and
//! the curvature along a valley.

mod common;

use common::{fails, json, ok, p};

#[test]
fn hessian_writes_trace_eigenvalues_density_and_the_valley_curve() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let data = ["--dataset", "fashion-mnist", "--train-limit", "300", "--test-limit", "100"];
    let mut train = vec!["train", "--model", "mlp", "--hidden", "16", "--epochs", "1", "--out", p(&run)];
    train.extend(data);
    ok(&train);
    let out = tmp.path().join("h");
    let ck = run.join("final.safetensors");
    let mut args = vec!["hessian", p(&ck), "--group", "ALL", "--group", "CLF", "--out", p(&out)];
    args.extend(data);
    args.extend(["--max-probes", "12", "--top-k", "2", "--power-iter", "20", "--density-steps", "8"]);
    args.extend(["--direction", "gaussian", "--lambdas=-0.5,0,0.5"]);
    ok(&args);
    let h = json(&out.join("hessian.json"));
    assert_eq!(h["data"]["samples"], 100);
    assert_eq!(h["checkpoint"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(h["bn"]["policy"], "keep");
    let groups = h["groups"].as_array().unwrap();
    assert_eq!(groups[0]["group"], "all");
    assert_eq!(groups[1]["group"], "CLF");
    assert!(groups[0]["parameters"].as_i64().unwrap() > groups[1]["parameters"].as_i64().unwrap());
    for g in groups {
        let trace = g["trace"].as_f64().unwrap();
        assert!(trace.is_finite() && g["trace_stderr"].as_f64().unwrap() >= 0.0, "{g}");
        let top: Vec<f64> = g["top_eigenvalues"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(top.len(), 2);
        assert!(top[0].abs() >= top[1].abs() * 0.99, "largest magnitude first: {top:?}");
    }
    assert!(out.join("hessian-density.png").exists());
    let curve = std::fs::read_to_string(out.join("hessian-curve.csv")).unwrap();
    let lines: Vec<&str> = curve.lines().collect();
    assert_eq!(lines[0], "lambda,trace,trace_stderr,top_eigenvalue");
    assert_eq!(lines.len(), 4, "{curve}");
    assert!(out.join("hessian-curve.png").exists());
    // A group that selects nothing is refused with its name.
    let mut bad = vec!["hessian", p(&ck), "--group", "re:^nothing$", "--out", p(&out)];
    bad.extend(data);
    fails(&bad, "nothing");
}
