//! Renders one figure of each kind plus an HTML report into /tmp/valley-report-preview/
//! (or the directory given as the first argument), for looking at by eye. It should show:
//! legible titles, ticks, axis labels and legends, no overlapping text, a shaded band
//! around the first valley, a dashed second curve, a gap where the data are NaN, and an
//! "no finite data" note in the all-NaN panel.

use std::path::PathBuf;

use valley_report::*;

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/valley-report-preview".into()));
    let lambdas: Vec<f64> = (0..81).map(|i| -1.0 + i as f64 * 0.025).collect();
    let valley = |a: f64, b: f64| -> Vec<f64> {
        lambdas.iter().map(|&l| 0.05 + if l < 0.0 { a * l * l } else { b * l * l }).collect()
    };
    let g = valley(4.0, 1.5);
    let lo: Vec<f64> = g.iter().map(|v| v * 0.85).collect();
    let hi: Vec<f64> = g.iter().map(|v| v * 1.15).collect();
    let mut s = valley(2.5, 2.5);
    s[30] = f64::NAN;
    s[31] = f64::INFINITY;
    let panel = |title: &str| {
        Panel::new(title, "λ", "train loss")
            .with_series(Series::new("Gaussian d", lambdas.clone(), g.clone()).with_band(lo.clone(), hi.clone()))
            .with_series(Series::new("sign-consistent d (SC)", lambdas.clone(), s.clone()).dashed())
            .with_series(Series::new("Rademacher d", lambdas.clone(), valley(1.0, 3.0)))
    };
    let log = Panel {
        log_y: true,
        ..Panel::new("log scale", "λ", "test error").with_series(Series::new(
            "err",
            lambdas.clone(),
            lambdas.iter().map(|l| 10f64.powf(-3.0 + 3.0 * l * l)).collect::<Vec<_>>(),
        ))
    };
    let nan = Panel::new("all NaN", "λ", "loss").with_series(Series::new("nan", lambdas.clone(), vec![f64::NAN; 81]));
    let mut figs = line_figure(
        &dir.join("line"),
        "Valley shapes, VGG11 on CIFAR-10",
        &[panel("clean model"), panel("noisy labels"), log, nan],
        2,
    )?;

    let groups: Vec<String> =
        ["FedAvg", "FedProx", "SCAFFOLD", "FedAvg + BN-init aligned (ours)"].iter().map(|s| s.to_string()).collect();
    let bars = vec![
        ("IID".to_string(), vec![0.812, 0.805, 0.821, 0.83]),
        ("Dirichlet α=0.5".to_string(), vec![0.74, 0.75, 0.77, 0.79]),
        ("Dirichlet α=0.1".to_string(), vec![0.52, 0.55, f64::NAN, 0.66]),
    ];
    figs.extend(bar_figure(&dir.join("bar"), "Test accuracy after 100 rounds", &groups, &bars, "accuracy")?);

    let a: Vec<f64> = (0..4000).map(|i| ((i as f64 * 0.7).sin() + (i as f64 * 1.3).cos()) * 0.05).collect();
    let b: Vec<f64> = a.iter().map(|v| v * 0.6 + 0.02).collect();
    let hp = HistPanel::new("features.0.weight", "parameter value", 40)
        .with_sample("model A", a.clone())
        .with_sample("model B", b);
    let hp2 = HistPanel::new("classifier.weight", "parameter value", 25)
        .with_sample("model A", a.iter().map(|v| v * 2.0).collect::<Vec<_>>());
    figs.extend(histogram_figure(&dir.join("hist"), "Parameter distributions", &[hp, hp2], 2)?);

    let xs: Vec<f64> = (0..41).map(|i| -1.0 + i as f64 * 0.05).collect();
    let z: Vec<Vec<f64>> =
        xs.iter().map(|y| xs.iter().map(|x| (x - 0.2).powi(2) + 2.0 * y * y + 0.3 * x * y).collect()).collect();
    figs.extend(heatmap_figure(
        &dir.join("heatmap"),
        "2D loss surface",
        &xs,
        &xs,
        &z,
        "α (direction 1)",
        "β (direction 2)",
        "train loss",
    )?);

    let rows: Vec<String> = (0..8).map(|i| format!("client {i}")).collect();
    let cols: Vec<String> = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let values: Vec<Vec<f64>> =
        (0..8).map(|r| (0..10).map(|c| (((r * 7 + c * 13) % 17) as f64).powi(2) * 3.0).collect()).collect();
    figs.extend(matrix_figure(
        &dir.join("matrix"),
        "Samples per client and class (Dirichlet α=0.1)",
        &rows,
        &cols,
        &values,
        true,
    )?);
    let small: Vec<Vec<f64>> = vec![vec![0.91, 0.05, 0.04], vec![0.1, 0.8, 0.1], vec![0.02, 0.08, 0.9]];
    let cls: Vec<String> = ["0", "1", "2"].iter().map(|s| s.to_string()).collect();
    figs.extend(matrix_figure(&dir.join("confusion"), "Confusion", &cls, &cls, &small, true)?);

    let mut report = HtmlReport::new("valley report preview <all figure kinds>");
    report.section(Section {
        title: "Valley asymmetry".into(),
        claim: Some("The positive side of the valley is flatter: mean loss at +λ < mean loss at −λ".into()),
        verdict: Some(true),
        verdict_detail: Some("mean +λ 0.55 < mean −λ 1.38".into()),
        paragraphs: vec!["Curves over 10 directions; shaded: 95 % interval.".into()],
        figures: figs.iter().filter(|p| p.extension().is_some_and(|e| e == "png")).cloned().collect(),
        figure_root: Some(dir.to_path_buf()),
        table: Some(Table {
            header: vec!["direction".into(), "mean +λ".into(), "mean −λ".into()],
            rows: vec![vec!["Gaussian".into(), "0.55".into(), "1.38".into()]],
        }),
        command: Some("valley valley --model vgg11 --dataset cifar10 --out runs/preview".into()),
    });
    report.section(Section { verdict: Some(false), ..Section::new("A failing claim") });
    report.write(&dir.join("report.html"))?;
    for f in &figs {
        println!("{}", f.display());
    }
    println!("{}", dir.join("report.html").display());
    Ok(())
}
