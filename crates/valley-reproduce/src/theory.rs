//! The theory demos: the linear softmax model on the 8×8 digits (finding 7, Figures 10 and
//! 29) and the ReLU argument (finding 8, Figures 27 and 28).

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::json;
use valley::models::Mode;
use valley::noise::{self, Context, DirectionSpec, Noise, Norm, SignMode};
use valley::params::{Group, Params};
use valley::tensors::TensorSet;
use valley::train::{self, DataConfig, OptimConfig, Optimizer, Schedule, TrainConfig};
use valley::{Kind, Model, ModelConfig, Tensor};
use valley_data::DatasetKind;
use valley_report::{line_figure, Panel, Series, Table};

use crate::verdict::{fmt, Finding, Judgement};
use crate::{listing2, Env, Result};
use std::path::Path;

/// Quantities of the softmax model at one point W(λ), averaged over the data.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct SoftmaxPoint {
    pub lambda: f64,
    pub error: f64,
    pub loss: f64,
    /// E_x[Σc pc(1 − pc)].
    pub sum_p_one_minus_p: f64,
    /// tr(H) = E_x[Σc pc(1 − pc) · ‖x‖²].
    pub trace_h: f64,
    /// gᵀW(λ) with g = ∇L(W(λ)) = E_x[(p − y) xᵀ], i.e. E_x[(p − y)ᵀ z], z = W x.
    pub first_order: f64,
    /// W(λ)ᵀ H W(λ) = E_x[zᵀ(diag(p) − ppᵀ)z] = E_x[Σ pc zc² − (Σ pc zc)²].
    pub second_order: f64,
}

/// Evaluates the quantities of [`SoftmaxPoint`] for logits `z = W x` of inputs `x`.
pub fn softmax_point(lambda: f64, z: &Tensor, x: &Tensor, y: &Tensor) -> SoftmaxPoint {
    let n = z.size()[0] as f64;
    let p = z.softmax(-1, Kind::Double);
    let zd = z.to_kind(Kind::Double);
    let onehot = y.one_hot(z.size()[1]).to_kind(Kind::Double);
    let one_minus_p: Tensor = 1.0 - &p;
    let sp = (&p * one_minus_p).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let xsq = x.flatten(1, -1).to_kind(Kind::Double).square().sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let mean = |t: Tensor| t.sum(Kind::Double).double_value(&[]) / n;
    let pz = (&p * &zd).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    let pz2 = (&p * zd.square()).sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
    SoftmaxPoint {
        lambda,
        error: 1.0 - mean(z.argmax(-1, false).eq_tensor(y).to_kind(Kind::Double)),
        loss: z.cross_entropy_for_logits(y).double_value(&[]),
        sum_p_one_minus_p: mean(sp.shallow_clone()),
        trace_h: mean(sp * xsq),
        first_order: mean(((&p - &onehot) * &zd).sum_dim_intlist([1i64].as_slice(), false, Kind::Double)),
        second_order: mean(pz2 - pz.square()),
    }
}

/// The 8×8 digits at raw pixel values 0–16, as the paper's theory section uses them.
fn raw_digits(device: valley::Device) -> Result<(TensorSet, TensorSet)> {
    let ds = valley_data::load(DatasetKind::Digits, None)?;
    let scale = |mut set: valley_data::ImageSet| {
        set.pixels.iter_mut().for_each(|p| *p *= ds.pixel_max);
        TensorSet::from_images(&set, device)
    };
    Ok((scale(ds.train.clone()), scale(ds.test.clone())))
}

/// Noise draws of the Listing 2 setting: the paper asks for the range over several draws.
const LISTING2_DRAWS: u64 = 5;

/// Finding 7, measured: Listing 2's setting ([`listing2`]) over several noise draws, and the
/// NS variant (W trained by SGD on the 80 % training split, NS-normalised Gaussian noise)
/// beside it; every point of every curve goes to `softmax.csv` (column `setting`), the fit to
/// `softmax-fit.json`, then [`softmax_judge`] decides.
pub fn softmax(env: &mut Env, command: &str) -> Result<Finding> {
    let dir = env.dir("softmax")?;
    let lambdas: Vec<f64> = (0..21).map(|i| -1.0 + 0.1 * i as f64).collect();
    let mut rows: Vec<listing2::Row> = Vec::new();

    let (x, y) = listing2::all_digits()?;
    let (w, fit) = listing2::fit(&x, &y, 10, listing2::C, 1e-10);
    (env.log)(&format!(
        "softmax: Listing 2 fit in {} Newton steps, ‖∇f‖ = {:.2e} (from {:.2e})",
        fit.iterations, fit.grad_norm, fit.grad_norm_initial
    ));
    let fit_json = serde_json::to_string_pretty(&fit).unwrap_or_default();
    valley_base::atomic_write(&dir.join("softmax-fit.json"), fit_json.as_bytes())?;
    for seed in 0..LISTING2_DRAWS {
        let eps = listing2::noise([10, 64], seed);
        for (noise, consistent) in [("as-sampled", false), ("consistent", true)] {
            for point in listing2::curve(&w, &eps, consistent, &lambdas, &x, &y) {
                rows.push(listing2::Row { setting: "listing2".into(), noise: noise.into(), seed, point });
            }
        }
    }
    class_zero_images(&dir, &w.get(0))?;

    let (train_set, _test_set) = raw_digits(env.device)?;
    let model = Model::seeded(&ModelConfig::new(valley::Arch::Linear, 1, 8, 10), 0, env.device)?;
    // Raw pixels (‖x‖² ≈ 3000) need a small step; full passes over 1438 images are cheap.
    let oc = OptimConfig { lr: 1e-4, momentum: 0.9, weight_decay: 0.0, ..Default::default() };
    let mut opt = Optimizer::new(&model, &oc)?;
    let epochs = env.budget.pick(20, 200, 200);
    for epoch in 0..epochs {
        let rng = valley::rng::stream(0, &[valley::rng::tag::SHUFFLE, epoch as u64]);
        let batches = train::Batches::new(&train_set, None, None, 64, rng);
        train::train_steps(&model, &mut opt, batches, oc.lr, usize::MAX, None, epoch, |_, _| {})?;
    }
    let theta = Params::of(&model);
    for sign in [SignMode::AsSampled, SignMode::Consistent] {
        let spec = DirectionSpec {
            noise: Noise::Gaussian,
            sign,
            norm: Norm::Ns { per_tensor: false },
            scale: 1.0,
            group: Group::All,
            seed: 0,
        };
        let d = noise::direction(&spec, &theta, &model, &Context::default())?;
        for &l in &lambdas {
            theta.write_shifted(&d, l, &model);
            let z = valley::tensors::no_grad(|| model.forward(&train_set.x, Mode::Eval));
            let point = softmax_point(l, &z, &train_set.x, &train_set.y);
            rows.push(listing2::Row { setting: "ns".into(), noise: sign.label(), seed: 0, point });
        }
    }
    theta.write_to(&model);
    listing2::write_csv(&dir.join("softmax.csv"), &rows)?;
    let (mut outcome, figures) = softmax_judged(&dir)?;
    if let Some(n) = outcome.numbers.as_object_mut() {
        n.insert("ns_epochs".into(), json!(epochs));
    }
    Finding::record(env, &dir, "softmax", command, figures, outcome)
}

/// Finding 7, judged from `softmax.csv` and `softmax-fit.json` in `dir` alone (no model is
/// trained or evaluated): [`listing2::verdict`] and the table (the figures are redrawn).
pub(crate) fn softmax_judge(dir: &Path) -> Result<Judgement> {
    Ok(softmax_judged(dir)?.0)
}

/// [`softmax_judge`] and the figures it draws from the saved table.
fn softmax_judged(dir: &Path) -> Result<(Judgement, Vec<std::path::PathBuf>)> {
    let rows = listing2::read_csv(&dir.join("softmax.csv"))?;
    let fit_path = dir.join("softmax-fit.json");
    let fit: listing2::Fit = std::fs::read_to_string(&fit_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        .map_err(|detail| crate::Error::BadMeasurements { path: fit_path.clone(), detail })?;
    let m = listing2::Measurements { rows, fit };
    let (pass, detail) = listing2::verdict(&m);

    let curves = |setting: &str, seed: u64| -> Vec<(String, Vec<SoftmaxPoint>)> {
        ["as-sampled", "consistent"]
            .iter()
            .map(|n| {
                let pts = m.rows.iter().filter(|r| r.setting == setting && r.noise == *n && r.seed == seed);
                (n.to_string(), pts.map(|r| r.point).collect())
            })
            .collect()
    };
    let mut figures = softmax_figure(
        &dir.join("softmax-listing2"),
        "Listing 2 (raw randn, W at the L2 optimum), draw 0: Gaussian vs sign-consistent",
        &curves("listing2", 0),
    )?;
    figures.extend(softmax_figure(
        &dir.join("softmax-theory"),
        "Softmax model on 8×8 digits (NS noise): Gaussian vs sign-consistent",
        &curves("ns", 0),
    )?);
    for name in ["minus", "zero", "plus"] {
        figures
            .extend(["png", "svg"].map(|e| dir.join(format!("class0-{name}.{e}"))).into_iter().filter(|f| f.exists()));
    }

    let mut table = Table {
        header: ["setting", "noise", "λ", "error", "loss", "E[Σp(1−p)]", "tr(H)", "gᵀW", "WᵀHW"]
            .map(String::from)
            .to_vec(),
        rows: vec![],
    };
    for setting in ["listing2", "ns"] {
        for (label, pts) in curves(setting, 0) {
            for l in [-1.0, 0.0, 1.0] {
                if let Some(p) = pts.iter().find(|p| (p.lambda - l).abs() < 1e-9) {
                    table.rows.push(vec![
                        setting.to_string(),
                        label.clone(),
                        fmt(l),
                        fmt(p.error),
                        fmt(p.loss),
                        fmt(p.sum_p_one_minus_p),
                        fmt(p.trace_h),
                        fmt(p.first_order),
                        fmt(p.second_order),
                    ]);
                }
            }
        }
    }
    let mut a_grid: Vec<f64> = m.rows.iter().map(|r| r.point.lambda).filter(|&l| l > 1e-9).collect();
    a_grid.sort_by(f64::total_cmp);
    a_grid.dedup_by(|x, y| (*x - *y).abs() < 1e-9);
    let holds = |setting: &str| -> serde_json::Value {
        listing2::QUANTITIES
            .iter()
            .map(|(name, q)| (name.to_string(), json!(listing2::draws_holding(&m.rows, setting, "consistent", *q))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let asym = |setting: &str| {
        json!({
            "consistent": listing2::trace_asymmetry(&m.rows, setting, "consistent"),
            "gaussian": listing2::trace_asymmetry(&m.rows, setting, "as-sampled"),
        })
    };
    let numbers = json!({
        "fit": m.fit,
        "a_grid": a_grid,
        "draws_holding_at_a": { "listing2": holds("listing2"), "ns": holds("ns") },
        "trace_h_asymmetry": { "listing2": asym("listing2"), "ns": asym("ns") },
        "csv": "softmax.csv",
    });
    Ok((Judgement { pass, detail, numbers, table }, figures))
}

fn softmax_figure(stem: &Path, title: &str, curves: &[(String, Vec<SoftmaxPoint>)]) -> Result<Vec<std::path::PathBuf>> {
    type Get = fn(&SoftmaxPoint) -> f64;
    let quantities: [(&str, Get); 6] = [
        ("error", |p| p.error),
        ("loss", |p| p.loss),
        ("E[Σ p(1−p)]", |p| p.sum_p_one_minus_p),
        ("tr(H)", |p| p.trace_h),
        ("first order gᵀW(λ)", |p| p.first_order),
        ("second order WᵀHW", |p| p.second_order),
    ];
    let panels: Vec<Panel> = quantities
        .iter()
        .map(|(name, get)| {
            let mut panel = Panel::new(*name, "λ", *name);
            for (i, (label, pts)) in curves.iter().enumerate() {
                let xs: Vec<f64> = pts.iter().map(|p| p.lambda).collect();
                let ys: Vec<f64> = pts.iter().map(get).collect();
                panel = panel.with_series(Series::new(label.clone(), xs, ys).color(i));
            }
            panel
        })
        .collect();
    Ok(line_figure(stem, title, &panels, 3)?)
}

/// Figure 10: the class-0 weight image w + λ·sign(w) for λ ∈ {−a, 0, +a}, a = mean |w|,
/// of the class-0 row `w0` (64 weights) of Listing 2's W.
fn class_zero_images(dir: &std::path::Path, w0: &Tensor) -> Result<Vec<std::path::PathBuf>> {
    let w = w0.to_kind(Kind::Double);
    let a = w.abs().mean(Kind::Double).double_value(&[]);
    let mut files = Vec::new();
    for (name, lambda) in [("minus", -a), ("zero", 0.0), ("plus", a)] {
        let img = &w + valley::params::sign_pm1(&w) * lambda;
        let values = valley::tensors::to_vec_f32(&img);
        let z: Vec<Vec<f64>> = (0..8).map(|r| (0..8).map(|c| values[(7 - r) * 8 + c] as f64).collect()).collect();
        let axis: Vec<f64> = (0..8).map(|i| i as f64).collect();
        files.extend(valley_report::heatmap_figure(
            &dir.join(format!("class0-{name}")),
            &format!("class 0: w + λ·sign(w), λ = {lambda:+.3}"),
            &axis,
            &axis,
            &z,
            "pixel column",
            "pixel row",
            "weight",
        )?);
    }
    Ok(files)
}

/// Finding 8: ReLU. (a) With h ~ G(0, I), w = 0.1·h + δ, δ ~ G(0, I), the distribution of
/// (w + λ·sign(w))ᵀh shifts right as λ grows, before and after ReLU. (b) In a trained MLP, the
/// hidden units' active/inactive states agree more with θf's at θf + a·d than at θf − a·d for
/// a sign-consistent direction d.
pub fn relu(env: &mut Env, command: &str) -> Result<Finding> {
    let dir = env.dir("relu")?;
    let (synthetic, mut figures) = relu_synthetic(&dir)?;
    valley_base::csv::write_records(&dir.join(RELU_SYNTHETIC), &synthetic)?;
    let mut rows = Vec::new();
    // The MLP of the theory and, as Fig. 28, the base ResNet-20 with BN.
    let mlp = relu_training(env.budget);
    let resnet = crate::base::base_config(env.budget, crate::base::BaseNet::Resnet20);
    for (name, cfg) in [("mlp", mlp), ("resnet20", resnet)] {
        let run = crate::trained(env, &cfg, &format!("relu: {name}"))?;
        rows.extend(activation_agreement(env, name, &cfg, &run)?);
    }
    valley_base::csv::write_records(&dir.join(RELU_NETWORK), &rows)?;
    figures.extend(agreement_figure(&dir, &rows)?);
    Finding::record(env, &dir, "relu", command, figures, judge_relu(&dir)?)
}

const RELU_SYNTHETIC: &str = "relu-synthetic.csv";
const RELU_NETWORK: &str = "relu-network.csv";

/// One λ of the synthetic ReLU argument: the means of s = (w + λ·sign(w))ᵀh and of ReLU(s).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ShiftStats {
    lambda: f64,
    mean: f64,
    mean_after_relu: f64,
}

/// The activation confusion of one network at ±a: the fraction of hidden units whose state
/// (active or not) agrees with θf's, and the on→on and off→off fractions.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Agreement {
    network: String,
    a: f64,
    agree_plus: f64,
    on_on_plus: f64,
    off_off_plus: f64,
    agree_minus: f64,
    on_on_minus: f64,
    off_off_minus: f64,
}

/// Finding 8's agreement rows for the network trained by `cfg` in `run`, at a ∈ {0.2, …, 1}.
fn activation_agreement(env: &Env, name: &str, cfg: &TrainConfig, run: &std::path::Path) -> Result<Vec<Agreement>> {
    let ck = valley::checkpoint::Checkpoint::read(&valley::train::RunDir::new(run).final_())?;
    let model = ck.to_model(None, env.device)?;
    let data = train::prepare(&cfg.data, ck.normalisation().as_ref(), env.device)?;
    let (x, _) = data.test.slice(0, data.test.len().min(2000));
    let theta = Params::of(&model);
    let d = noise::direction(&DirectionSpec::consistent(Noise::Gaussian), &theta, &model, &Context::default())?;
    let states = |m: &Model| -> Tensor {
        valley::tensors::no_grad(|| {
            Tensor::cat(&m.hidden_preactivations(&x).iter().map(|t| t.flatten(1, -1)).collect::<Vec<_>>(), 1).gt(0.0)
        })
    };
    let frac = |t: Tensor| t.to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
    let base = states(&model);
    let mut rows = Vec::new();
    for i in 1..=5 {
        let a = i as f64 / 5.0; // exactly 0.2, 0.4, …, as printed
        let at = |lambda: f64| {
            theta.write_shifted(&d, lambda, &model);
            let s = states(&model);
            let off_off = s.logical_not().logical_and(&base.logical_not());
            (frac(s.eq_tensor(&base)), frac(s.logical_and(&base)), frac(off_off))
        };
        let (p, m) = (at(a), at(-a));
        rows.push(Agreement {
            network: name.into(),
            a,
            agree_plus: p.0,
            on_on_plus: p.1,
            off_off_plus: p.2,
            agree_minus: m.0,
            on_on_minus: m.1,
            off_off_minus: m.2,
        });
    }
    theta.write_to(&model);
    Ok(rows)
}

fn agreement_figure(dir: &std::path::Path, rows: &[Agreement]) -> Result<Vec<std::path::PathBuf>> {
    let mut networks: Vec<&str> = rows.iter().map(|r| r.network.as_str()).collect();
    networks.dedup();
    let panels: Vec<Panel> = networks
        .iter()
        .map(|n| {
            let rs: Vec<&Agreement> = rows.iter().filter(|r| r.network == *n).collect();
            let xs: Vec<f64> = rs.iter().map(|r| r.a).collect();
            Panel::new(format!("{n}: agreement with θf's activation states"), "a", "fraction of units agreeing")
                .with_series(
                    Series::new("θf + a·|ε|⊙sign(θf)", xs.clone(), rs.iter().map(|r| r.agree_plus).collect::<Vec<_>>())
                        .color(0),
                )
                .with_series(
                    Series::new("θf − a·|ε|⊙sign(θf)", xs, rs.iter().map(|r| r.agree_minus).collect::<Vec<_>>())
                        .color(1),
                )
        })
        .collect();
    Ok(line_figure(&dir.join("relu-agreement"), "Activation confusion along ±a·|ε|⊙sign(θf)", &panels, panels.len())?)
}

/// Finding 8's verdict from the two CSV files in `dir`.
pub(crate) fn judge_relu(dir: &std::path::Path) -> Result<Judgement> {
    let synthetic: Vec<ShiftStats> = read_rows("relu", dir, RELU_SYNTHETIC)?;
    let network: Vec<Agreement> = read_rows("relu", dir, RELU_NETWORK)?;
    let (pass, detail) = relu_verdict(&synthetic, &network);
    let mut table = Table {
        header: [
            "network",
            "a",
            "agree (+a)",
            "on→on (+a)",
            "off→off (+a)",
            "agree (−a)",
            "on→on (−a)",
            "off→off (−a)",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![],
    };
    table.rows = network
        .iter()
        .map(|r| {
            let v = [r.a, r.agree_plus, r.on_on_plus, r.off_off_plus, r.agree_minus, r.on_on_minus, r.off_off_minus];
            std::iter::once(r.network.clone()).chain(v.iter().map(|&x| fmt(x))).collect()
        })
        .collect();
    Ok(Judgement { pass, detail, numbers: json!({ "synthetic": synthetic, "network": network }), table })
}

/// Finding 8's rule (see `claims.rs`): both synthetic means rise strictly with λ over the whole
/// grid, and every network agrees more at +a than at −a for every a.
fn relu_verdict(synthetic: &[ShiftStats], network: &[Agreement]) -> (bool, String) {
    let mut sorted = synthetic.to_vec();
    sorted.sort_by(|a, b| a.lambda.total_cmp(&b.lambda));
    let rising = sorted.len() >= 2
        && sorted.windows(2).all(|w| w[1].mean > w[0].mean && w[1].mean_after_relu > w[0].mean_after_relu);
    let against: Vec<String> =
        network.iter().filter(|r| r.agree_plus <= r.agree_minus).map(|r| format!("{} a={}", r.network, r.a)).collect();
    let pass = rising && !network.is_empty() && against.is_empty();
    let detail = format!(
        "means of (w+λ·sign(w))ᵀh by λ: {} ({}); agreement +a vs −a: {}{}",
        sorted
            .iter()
            .map(|s| format!("{}: {:.3}/{:.3}", s.lambda, s.mean, s.mean_after_relu))
            .collect::<Vec<_>>()
            .join(", "),
        if rising { "both rise strictly" } else { "not strictly rising" },
        network
            .iter()
            .map(|r| format!("{} a={} {:.3} vs {:.3}", r.network, r.a, r.agree_plus, r.agree_minus))
            .collect::<Vec<_>>()
            .join(", "),
        if against.is_empty() { String::new() } else { format!("; not higher on + at {}", against.join(", ")) }
    );
    (pass, detail)
}

/// Reads the rows of `file` in finding `name`'s folder `dir`.
fn read_rows<T: serde::de::DeserializeOwned>(name: &str, dir: &std::path::Path, file: &str) -> Result<Vec<T>> {
    let missing =
        |why: String| crate::Error::NoMeasurements { name: name.into(), dir: dir.to_path_buf(), missing: why };
    if !dir.join(file).exists() {
        return Err(missing(file.to_string()));
    }
    valley_base::csv::read_records(&dir.join(file)).map_err(|e| missing(format!("{file} unreadable: {e}")))
}

fn relu_training(budget: crate::Budget) -> TrainConfig {
    let mut data = DataConfig::new(DatasetKind::FashionMnist);
    data.train_limit = budget.pick(Some(2000), Some(20000), None);
    data.test_limit = budget.pick(Some(500), None, None);
    TrainConfig {
        data,
        model: ModelConfig { hidden: vec![256, 256], ..ModelConfig::new(valley::Arch::Mlp, 1, 28, 10) },
        optim: OptimConfig::default(),
        schedule: Schedule::Cosine,
        epochs: budget.pick(1, 5, 20),
        batch_size: 256,
        seed: 0,
        save_epochs: vec![],
        eval_batch: 1000,
    }
}

/// The λ of the synthetic ReLU argument: the paper's, negative ones included (Fig. 27).
const RELU_LAMBDAS: [f64; 7] = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0];

/// The shift statistics of s = (w + λ·sign(w))ᵀh per λ, and the histogram files.
fn relu_synthetic(dir: &std::path::Path) -> Result<(Vec<ShiftStats>, Vec<std::path::PathBuf>)> {
    const DIM: usize = 100;
    const SAMPLES: usize = 10_000;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let lambdas = RELU_LAMBDAS;
    let mut values: Vec<Vec<f64>> = vec![Vec::with_capacity(SAMPLES); lambdas.len()];
    for _ in 0..SAMPLES {
        let h: Vec<f64> = (0..DIM).map(|_| StandardNormal.sample(&mut rng)).collect();
        let w: Vec<f64> =
            h.iter().map(|&hi| 0.1 * hi + Distribution::<f64>::sample(&StandardNormal, &mut rng)).collect();
        for (k, &l) in lambdas.iter().enumerate() {
            let s: f64 = w.iter().zip(&h).map(|(&wi, &hi)| (wi + l * if wi > 0.0 { 1.0 } else { -1.0 }) * hi).sum();
            values[k].push(s);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let stats = lambdas
        .iter()
        .zip(&values)
        .map(|(&l, v)| ShiftStats {
            lambda: l,
            mean: mean(v),
            mean_after_relu: mean(&v.iter().map(|x| x.max(0.0)).collect::<Vec<_>>()),
        })
        .collect();
    let before = values
        .iter()
        .zip(lambdas)
        .fold(valley_report::HistPanel::new("before ReLU", "(w + λ·sign(w))ᵀh", 60), |p, (v, l)| {
            p.with_sample(format!("λ = {l}"), v.clone())
        });
    let after = values.iter().zip(lambdas).fold(
        valley_report::HistPanel::new("after ReLU (positive part)", "ReLU((w + λ·sign(w))ᵀh)", 60),
        |p, (v, l)| p.with_sample(format!("λ = {l}"), v.iter().copied().filter(|&x| x > 0.0).collect::<Vec<_>>()),
    );
    let files = valley_report::histogram_figure(
        &dir.join("relu-shift"),
        "h ~ G(0,I), w = 0.1h + δ: the sum shifts right with λ",
        &[before, after],
        2,
    )?;
    Ok((stats, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(network: &str, a: f64, plus: f64, minus: f64) -> Agreement {
        Agreement {
            network: network.into(),
            a,
            agree_plus: plus,
            on_on_plus: 0.5 * plus,
            off_off_plus: 0.5 * plus,
            agree_minus: minus,
            on_on_minus: 0.5 * minus,
            off_off_minus: 0.5 * minus,
        }
    }

    #[test]
    fn relu_needs_a_strict_rise_over_negative_lambda_and_more_agreement_on_plus() {
        let shift = |l: f64, m: f64| ShiftStats { lambda: l, mean: m, mean_after_relu: m.exp() };
        let rising: Vec<ShiftStats> = RELU_LAMBDAS.iter().map(|&l| shift(l, 3.0 * l)).collect();
        let nets = |minus_at_1: f64| {
            let mut v: Vec<Agreement> = [0.2, 0.6].iter().map(|&a| agreement("mlp", a, 0.9, 0.8)).collect();
            v.push(agreement("resnet20", 1.0, 0.85, minus_at_1));
            v
        };
        assert!(relu_verdict(&rising, &nets(0.7)).0);
        // Flat over the negative λ (ReLU's mean unchanged there) is not a strict rise.
        let flat_negative: Vec<ShiftStats> = RELU_LAMBDAS
            .iter()
            .map(|&l| ShiftStats { lambda: l, mean: 3.0 * l, mean_after_relu: l.max(0.0) })
            .collect();
        assert!(!relu_verdict(&flat_negative, &nets(0.7)).0);
        let (pass, detail) = relu_verdict(&rising, &nets(0.85));
        assert!(!pass && detail.contains("resnet20 a=1"), "{detail}");
        assert!(!relu_verdict(&rising, &[]).0, "no network measured fails");
    }

    #[test]
    fn softmax_quantities_match_hand_computation() {
        // One sample, two classes, z = (0, 0): p = (½, ½), Σp(1−p) = ½, ‖x‖² = 4 → tr(H) = 2;
        // y = 0: (p − y)ᵀz = 0; Var_p(z) = 0; loss = ln 2.
        let z = Tensor::from_slice(&[0.0f32, 0.0]).reshape([1, 2]);
        let x = Tensor::from_slice(&[2.0f32]).reshape([1, 1]);
        let y = Tensor::from_slice(&[0i64]);
        let p = softmax_point(0.0, &z, &x, &y);
        assert!((p.sum_p_one_minus_p - 0.5).abs() < 1e-9);
        assert!((p.trace_h - 2.0).abs() < 1e-9);
        assert!((p.loss - std::f64::consts::LN_2).abs() < 1e-6);
        assert!(p.second_order.abs() < 1e-9 && p.first_order.abs() < 1e-9);
        // z = (1, −1), y = 1: p = (σ(2), σ(−2)); Var_p(z) = 4·p0·p1; (p−y)ᵀz = p0·1 + (p1−1)(−1) = 2·p0.
        let z = Tensor::from_slice(&[1.0f32, -1.0]).reshape([1, 2]);
        let y = Tensor::from_slice(&[1i64]);
        let q = softmax_point(0.0, &z, &x, &y);
        let p0 = 1.0 / (1.0 + (-2.0f64).exp());
        assert!((q.second_order - 4.0 * p0 * (1.0 - p0)).abs() < 1e-6);
        assert!((q.first_order - 2.0 * p0).abs() < 1e-6);
        assert_eq!(q.error, 1.0);
    }
}
