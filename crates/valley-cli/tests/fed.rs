//! End-to-end tests of `valley fed` and `valley partition` with the real binary on a small
//! Fashion-MNIST subset (the setup script installs it; a missing dataset fails the tests).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The contract command with small numbers.
fn fed(algo: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = [
        "fed",
        "--algo",
        algo,
        "--dataset",
        "fashion-mnist",
        "--model",
        "mlp",
        "--clients",
        "10",
        "--participation",
        "0.5",
        "--rounds",
        "2",
        "--local-epochs",
        "1",
        "--alpha",
        "0.5",
        "--train-limit",
        "1000",
        "--test-limit",
        "300",
        "--seed",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--out".to_string(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    // Later flags override earlier ones (e.g. a second --rounds).
    common::valley(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "valley failed:\nstdout {}\nstderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn bytes(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// rounds.csv without the timing column (found by its header name).
fn rounds_without_seconds(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("rounds.csv")).unwrap();
    let at = text.lines().next().unwrap().split(',').position(|h| h == "seconds").expect("a seconds column");
    text.lines()
        .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != at).map(|(_, v)| v).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn fedavg_and_fedsign_write_their_results() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    for algo in ["fedavg", "fedsign"] {
        let out = tmp.path().join(algo);
        let extra: &[&str] = if algo == "fedsign" { &["--gamma", "0.01"] } else { &[] };
        ok(&fed(algo, &out, extra));
        let csv = std::fs::read_to_string(out.join("rounds.csv")).unwrap();
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().starts_with("round,test_accuracy,test_loss"));
        let rows: Vec<Vec<f64>> = lines.map(|l| l.split(',').filter_map(|v| v.parse().ok()).collect()).collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[1][1] > 0.15, "{algo}: accuracy after 2 rounds {} should beat chance (0.1)", rows[1][1]);
        let summary: serde_json::Value = serde_json::from_slice(&bytes(out.join("summary.json"))).unwrap();
        assert_eq!(summary["config"]["algorithm"]["name"], algo);
        assert!(out.join("accuracy.png").exists() && out.join("accuracy.svg").exists());
        // The global model is a valley checkpoint that `valley eval` reads.
        let global = out.join("global.safetensors");
        let e = common::valley(&["eval", common::p(&global), "--test-limit", "300", "--seed", "1"]);
        ok(&e);
        assert!(String::from_utf8_lossy(&e.stdout).contains("accuracy"));
    }
}

#[test]
fn parallel_client_count_does_not_change_the_global_model() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("t1"), tmp.path().join("t2"));
    ok(&fed("fedsign", &a, &["--parallel-clients", "1"]));
    ok(&fed("fedsign", &b, &["--parallel-clients", "2"]));
    assert!(
        bytes(a.join("global.safetensors")) == bytes(b.join("global.safetensors")),
        "1 and 2 parallel clients differ"
    );
    assert_eq!(rounds_without_seconds(&a), rounds_without_seconds(&b));
}

#[test]
fn resumed_run_matches_an_uninterrupted_one() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let (full, split) = (tmp.path().join("full"), tmp.path().join("split"));
    // FedDyn carries server and client state across rounds, so resume must restore both.
    ok(&fed("feddyn", &full, &["--rounds", "3"]));
    ok(&fed("feddyn", &split, &["--rounds", "1"]));
    ok(&fed("feddyn", &split, &["--rounds", "3", "--resume"]));
    assert!(
        bytes(full.join("global.safetensors")) == bytes(split.join("global.safetensors")),
        "resume changed the result"
    );
    assert_eq!(rounds_without_seconds(&full), rounds_without_seconds(&split));
    // Without --resume an existing run is not overwritten.
    let again = fed("feddyn", &split, &[]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("--resume"));
}

#[test]
fn dropout_completes_and_total_dropout_keeps_the_global_model() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("drop30");
    ok(&fed("fedavg", &out, &["--dropout", "0.3", "--stragglers", "0.3"]));
    assert_eq!(rounds_without_seconds(&out).len(), 3);
    let all = tmp.path().join("drop100");
    ok(&fed("fedavg", &all, &["--dropout", "1"]));
    let csv = rounds_without_seconds(&all);
    let header: Vec<&str> = csv[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for line in &csv[1..] {
        let v: Vec<&str> = line.split(',').collect();
        assert_eq!((v[col("returned")], v[col("stragglers")], v[col("kept_global")]), ("0", "0", "true"), "{csv:?}");
    }
}

#[test]
fn invalid_settings_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    for (extra, needle) in [
        (&["--alpha", "0"][..], "alpha"),
        (&["--participation", "1.5"][..], "(0, 1]"),
        (&["--clients", "2000"][..], "2000 clients"),
        (&["--algo", "fedsgd"][..], "unknown algorithm"),
    ] {
        let o = fed("fedavg", &out, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(needle), "{extra:?}: {err}");
    }
}

#[test]
fn compare_tune_selects_on_validation_and_reports_the_test_set_only_for_the_choice() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cmp");
    let o = common::valley(&[
        "fed",
        "compare",
        "--algos",
        "fedavg,fedsign",
        "--seeds",
        "1,2",
        "--tune",
        "--gammas",
        "0.001,0.1,1",
        "--validation",
        "0.2",
        "--dataset",
        "fashion-mnist",
        "--model",
        "mlp",
        "--clients",
        "10",
        "--participation",
        "0.5",
        "--rounds",
        "2",
        "--local-epochs",
        "1",
        "--train-limit",
        "1000",
        "--test-limit",
        "300",
        "--out",
        common::p(&root),
    ]);
    ok(&o);
    let sel = std::fs::read_to_string(root.join("selection.csv")).unwrap();
    let rows: Vec<Vec<&str>> = sel.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4, "fedavg plus three γ: {sel}");
    let fedsign: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == "fedsign").collect();
    assert_eq!(fedsign.iter().filter(|r| r[4] == "true").count(), 1, "{sel}");
    // The chosen γ has the best validation accuracy of the three.
    let score = |r: &Vec<&str>| r[3].parse::<f64>().unwrap();
    let chosen = fedsign.iter().find(|r| r[4] == "true").unwrap();
    assert!(fedsign.iter().all(|r| score(r) <= score(chosen)), "{sel}");
    // Selection runs never read the test set; final runs report it.
    let select_run = root.join("select").join("fedsign-g0.1-alpha0.5-seed0");
    let csv = std::fs::read_to_string(select_run.join("rounds.csv")).unwrap();
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert_eq!((last[1], last[2]), ("NaN", "NaN"), "{csv}");
    assert!(last[11].parse::<f64>().unwrap() > 0.1, "validation accuracy: {csv}");
    let chosen_dir = format!("fedsign-g{}-alpha0.5-seed2", chosen[2]);
    let csv = std::fs::read_to_string(root.join(chosen_dir).join("rounds.csv")).unwrap();
    let last: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert!(last[1].parse::<f64>().unwrap() > 0.1 && last[11] == "NaN", "{csv}");
    let table = std::fs::read_to_string(root.join("compare.csv")).unwrap();
    assert!(table.contains(&format!("fedsign γ={},0.5,", chosen[2])), "{table}");
}

#[test]
fn partition_prints_and_plots_the_matrix() {
    common::fashion_mnist();
    let tmp = tempfile::tempdir().unwrap();
    let o = common::valley(&[
        "partition",
        "--dataset",
        "fashion-mnist",
        "--clients",
        "10",
        "--alpha",
        "0.5",
        "--train-limit",
        "1000",
        "--out",
        common::p(tmp.path()),
    ]);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("| client | samples | c0 |"), "{text}");
    assert!(tmp.path().join("partition.png").exists() && tmp.path().join("partition.csv").exists());
}
