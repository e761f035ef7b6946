//! `valley reproduce` at the smoke budget writes a verdict, figures and a report per finding,
//! and `valley report` collects them.

mod common;

fn valley(args: &[&str]) -> (bool, String) {
    let out = common::valley(args);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn smoke_reproductions_write_verdicts_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (out, cache) = (dir.path().join("out"), dir.path().join("cache"));
    let (o, c) = (out.to_str().unwrap(), cache.to_str().unwrap());
    let (ok, log) = valley(&["reproduce", "noise,softmax,relu", "--budget", "smoke", "--out", o, "--cache", c]);
    assert!(ok, "{log}");
    for name in ["noise", "softmax", "relu"] {
        let text = std::fs::read_to_string(out.join(name).join("verdict.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["pass"].is_boolean(), "{name}: {text}");
        assert!(v["claim"].as_str().unwrap().len() > 20);
        assert!(v["command"].as_str().unwrap().starts_with("valley reproduce"));
        for f in v["figures"].as_array().unwrap() {
            assert!(out.join(name).join(f.as_str().unwrap()).exists(), "{name}: missing figure {f}");
        }
        assert!(out.join(name).join("report.html").exists());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Finding 1") && html.contains("Finding 7") && html.contains("data:image/png;base64,"));
    let noise: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("noise/verdict.json")).unwrap()).unwrap();
    for arm in ["with_bn", "without_bn"] {
        assert_eq!(noise["numbers"][arm].as_array().unwrap().len(), 14, "{arm}: 7 noises × {{as sampled, consistent}}");
    }

    // Re-judging from the saved tables gives the same verdicts without training anything.
    let verdict = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name).join("verdict.json")).unwrap()).unwrap()
    };
    let before = [verdict("noise"), verdict("relu"), verdict("softmax")];
    let (ok, log) = valley(&["reproduce", "noise,relu,softmax", "--rejudge", o]);
    assert!(ok && !log.contains("training"), "{log}");
    for (name, first) in ["noise", "relu", "softmax"].into_iter().zip(&before) {
        let again = verdict(name);
        assert_eq!((&again["pass"], &again["detail"]), (&first["pass"], &first["detail"]), "{name}");
        assert_eq!(again["figures"].as_array().map(Vec::len), first["figures"].as_array().map(Vec::len));
    }
    // A missing saved table is named, not guessed.
    std::fs::remove_file(out.join("noise/sweep.json")).unwrap();
    let (ok, log) = valley(&["reproduce", "noise", "--rejudge", o]);
    assert!(!ok && log.contains("sweep.json") && log.contains("no saved measurements"), "{log}");
    // Finding 7 writes every point of both settings, and its fit reaches the optimum.
    let mut rdr = csv::Reader::from_path(out.join("softmax/softmax.csv")).unwrap();
    let settings: std::collections::BTreeSet<String> = rdr.records().map(|r| r.unwrap()[0].to_string()).collect();
    assert_eq!(settings.into_iter().collect::<Vec<_>>(), ["listing2", "ns"]);
    let fit = common::json(&out.join("softmax/softmax-fit.json"));
    assert!(fit["grad_norm"].as_f64().unwrap() <= 1e-8 * fit["grad_norm_initial"].as_f64().unwrap(), "{fit}");
    assert_eq!(fit["samples"], 1797);
    // The report after re-judging still holds every finding of the folder.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Finding 1") && html.contains("Finding 7") && html.contains("Finding 8"));

    // The cache makes a second run reuse the trained model.
    let (ok, log) = valley(&["reproduce", "relu", "--budget", "smoke", "--out", o, "--cache", c]);
    assert!(ok && log.contains("reusing"), "{log}");

    let report = dir.path().join("all.html");
    let (ok, log) = valley(&["report", o, "--out", report.to_str().unwrap()]);
    assert!(ok && log.contains("3 findings"), "{log}");
    let all = std::fs::read_to_string(&report).unwrap();
    // Folders are read alphabetically (noise, relu, softmax); the report keeps the paper's order.
    let at = |t: &str| all.find(t).unwrap_or_else(|| panic!("{t} missing from the report"));
    assert!(at("Finding 1") < at("Finding 7") && at("Finding 7") < at("Finding 8"));

    let (ok, log) = valley(&["reproduce", "nosuch", "--out", o]);
    assert!(!ok && log.contains("unknown finding `nosuch`"), "{log}");
}
