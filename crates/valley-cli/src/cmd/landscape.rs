//! `valley landscape`: 1D valleys L(θf + λ·d) along many directions, their asymmetry
//! metrics and figures; with `--plane`, a 2D surface over two directions.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use valley::eval::BnPolicy;
use valley::grid::Lambdas;
use valley::noise::{self, Context, DirectionSpec, Norm};
use valley::params::Group;
use valley_data::DatasetKind;
use valley_landscape::metrics::Metric;
use valley_landscape::run::{self, Event};
use valley_landscape::summary::{self, Provenance, Timing};
use valley_landscape::trajectory::{self, Axes, TrajectoryPlane};
use valley_landscape::{plane, plots, EvalData, Evaluator, LandscapeSpec, Split};

use crate::common::{load_checkpoint, DataArgs, DeviceArgs, EvalOptions, ShapeArgs};
use crate::progress;

#[derive(Args, Debug)]
pub struct LandscapeArgs {
    /// θf: a safetensors checkpoint (e.g. runs/a/final.safetensors); with --trajectory RUN,
    /// RUN/final.safetensors by default.
    #[arg(long, required_unless_present = "trajectory")]
    pub checkpoint: Option<PathBuf>,
    /// θ0 for the `init` direction (default: init.safetensors beside the checkpoint).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<valley::Arch>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Directions, comma separated: gaussian, uniform, ternary, gaussian-shifted,
    /// uniform-positive, binary, ones (or all-noise); init, theta, sign, sign-centered, sgp,
    /// sgp-centered (or special); diff:A.safetensors:B.safetensors; file:PATH. Default
    /// gaussian; with --trajectory, the top two principal directions of the path.
    #[arg(long)]
    pub directions: Option<String>,
    /// Sign manipulation: as-sampled, consistent or both (default both, or none with --flip-ratio).
    #[arg(long)]
    pub sign: Option<String>,
    /// Sign-change ratios r (a fraction r of elements take θf's sign), e.g. 0,0.1,0.5,1.
    #[arg(long, value_delimiter = ',')]
    pub flip_ratio: Vec<f64>,
    /// Scales s, comma separated (paper: 0.2,1,2).
    #[arg(long, default_value = "1", value_delimiter = ',', allow_hyphen_values = true)]
    pub scale: Vec<f64>,
    /// Normalisation: raw, ns (global), ns-tensor, filter (1-D tensors by |θ|), filter-ignore, filter-tensor.
    #[arg(long, default_value = "ns")]
    pub norm: Norm,
    /// Parameter group: ALL, CLF, FEAT, LAYER1, CONV, BN, BN-weight, CLF-weight, CLF-bias,
    /// other-weight, other-bias, or a regex over parameter names; repeat for several groups.
    #[arg(long, default_value = "ALL")]
    pub group: Vec<Group>,
    /// λ grid: START:END:COUNT or a comma list (write --lambdas=-1:1:5). Default -1:1:21;
    /// with --trajectory, 21 values per axis covering the path.
    #[arg(long, allow_hyphen_values = true)]
    pub lambdas: Option<Lambdas>,
    /// β grid of --plane (default: the λ grid).
    #[arg(long, allow_hyphen_values = true)]
    pub betas: Option<Lambdas>,
    /// Seed of the first direction.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directions per random noise: seeds seed, seed+1, ... (mean and 95% interval reported).
    #[arg(long, default_value_t = 1)]
    pub repeats: u64,
    /// Splits to evaluate: test, train or train,test.
    #[arg(long, default_value = "test", value_delimiter = ',')]
    pub splits: Vec<Split>,
    #[command(flatten)]
    pub eval: EvalOptions,
    /// Seed of the --train-limit/--test-limit stratified subsets.
    #[arg(long, default_value_t = 0)]
    pub subset_seed: u64,
    /// Error width threshold δ (absolute): the side's width is the smallest |λ| with error > error(θf) + δ.
    #[arg(long, default_value_t = 0.05)]
    pub error_delta: f64,
    /// Loss width threshold ρ (relative): loss > loss(θf)·(1 + ρ).
    #[arg(long, default_value_t = 0.5)]
    pub loss_ratio: f64,
    /// Write each direction to OUT/direction-<noise>-<sign>-s<scale>.safetensors.
    #[arg(long)]
    pub save_direction: bool,
    /// Write the exact evaluation tensors to OUT/eval-data.safetensors (for python/landscape_reference.py).
    #[arg(long)]
    pub dump_eval_data: bool,
    /// 2D surface over the first two --directions (grid --lambdas × --betas), resumable.
    #[arg(long)]
    pub plane: bool,
    /// With --plane: draw the training path of this run folder (its epoch-N.safetensors from
    /// `valley train --save-epochs`, with init and final) on the plane, which by default is
    /// that of the path's top two principal directions; writes trajectory.csv.
    #[arg(long, requires = "plane")]
    pub trajectory: Option<PathBuf>,
    /// Skip the figures.
    #[arg(long)]
    pub no_plots: bool,
    /// Output folder.
    #[arg(long, default_value = "out/landscape")]
    pub out: PathBuf,
}

impl LandscapeArgs {
    fn spec(&self) -> Result<LandscapeSpec> {
        if self.repeats == 0 {
            bail!("--repeats must be at least 1");
        }
        let spec = LandscapeSpec {
            noises: LandscapeSpec::parse_directions(self.directions.as_deref().unwrap_or(DEFAULT_DIRECTION))?,
            signs: LandscapeSpec::parse_signs(self.sign.as_deref(), &self.flip_ratio)?,
            scales: self.scale.clone(),
            norm: self.norm,
            groups: self.group.clone(),
            seeds: (0..self.repeats).map(|k| self.seed + k).collect(),
            lambdas: self.lambdas().to_vec(),
            error_delta: self.error_delta,
            loss_ratio: self.loss_ratio,
        };
        spec.validate()?;
        Ok(spec)
    }

    fn lambdas(&self) -> Lambdas {
        self.lambdas.clone().unwrap_or_else(|| DEFAULT_LAMBDAS.parse().expect("the default λ grid parses"))
    }

    /// θf: --checkpoint, else the trajectory run's final model.
    fn center(&self) -> Result<PathBuf> {
        match (&self.checkpoint, &self.trajectory) {
            (Some(c), _) => Ok(c.clone()),
            (None, Some(run)) => {
                let f = valley::train::RunDir::new(run).final_();
                if !f.exists() {
                    bail!(
                        "run folder {} has no final.safetensors to centre the plane on; pass --checkpoint PATH",
                        run.display()
                    );
                }
                Ok(f)
            }
            (None, None) => bail!("--checkpoint is required"),
        }
    }
}

const DEFAULT_DIRECTION: &str = "gaussian";
/// The paper's λ grid.
const DEFAULT_LAMBDAS: &str = "-1:1:21";

pub fn run(a: LandscapeArgs) -> Result<()> {
    crate::common::check_output_dir(&a.out)?;
    let spec = a.spec()?;
    // A run folder that cannot give a trajectory fails before any data is loaded.
    if let Some(run) = &a.trajectory {
        trajectory::snapshots(run)?;
    }
    let checkpoint = a.center()?;
    let device = a.device.resolve()?;
    let (ck, model) = load_checkpoint(&checkpoint, a.model, &a.shape, device)?;
    let bn = a.eval.config(BnPolicy::Recompute, Some(&ck))?;
    let init = a.init.clone().or_else(|| {
        let p = valley::train::RunDir::new(checkpoint.parent().unwrap_or(Path::new("."))).init();
        p.exists().then_some(p)
    });
    if let Some(p) = a.init.as_ref().filter(|p| !p.exists()) {
        bail!("--init {} does not exist", p.display());
    }
    let ctx = Context { init };
    // Every direction is checked before any data is loaded, so a bad spec fails in seconds.
    if spec.noises.iter().any(|n| matches!(n, valley::noise::Noise::Init)) && ctx.init.is_none() {
        bail!("direction `init` needs θ0: no init.safetensors beside {} (pass --init PATH)", checkpoint.display());
    }
    let data_cfg = a.data.config(DatasetKind::FashionMnist, a.subset_seed)?;
    let data = EvalData::prepare(&ck, &model, &data_cfg, &a.splits, &bn, device)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    if a.dump_eval_data {
        data.dump(&a.out.join("eval-data.safetensors"), &bn)?;
    }
    let sha = valley::checkpoint::sha256_file(&checkpoint)?;
    let mut eval = Evaluator::new(&model, &data, bn);
    if a.plane {
        return run_plane(&a, &checkpoint, &spec, &mut eval, &ctx, &sha);
    }

    let total_points = spec.directions().len() * spec.lambdas.len();
    let pb = progress::bar(total_points as u64, "landscape");
    let t0 = Instant::now();
    let meta = vec![
        ("checkpoint".to_string(), checkpoint.display().to_string()),
        ("checkpoint_sha256".to_string(), sha.clone()),
    ];
    let curves =
        run::run(&spec, &mut eval, &ctx, a.save_direction.then_some(a.out.as_path()), &meta, &mut |e| match e {
            Event::Direction { index, total, spec } => {
                pb.set_message(format!("{}/{} {}", index + 1, total, spec.label()))
            }
            Event::Point { .. } => pb.inc(1),
        })?;
    let seconds = t0.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let aggs = run::aggregate(&curves);
    run::write_curves_csv(&a.out.join("curves.csv"), &curves)?;
    let base = eval.at(&[]);
    eval.restore();
    let from = Provenance {
        command: std::env::args().collect(),
        checkpoint: &checkpoint,
        checkpoint_sha256: &sha,
        init: ctx.init.as_deref(),
        data: &data_cfg,
        device: valley::device::describe(device),
    };
    let timing = Timing { sweep_seconds: seconds, evaluated_points: eval.evaluations, grid_points: total_points };
    summary::write_summary(&a.out, &from, &eval, &spec, (&curves, &aggs), &base, &timing)?;
    if !a.no_plots {
        plots::valley_figures(&a.out, &aggs, spec.norm.label())?;
        plots::ratio_figures(&a.out, &aggs)?;
    }
    print_table(&aggs);
    println!(
        "{} curves, {} points evaluated in {:.1}s ({:.2}s/point); results in {}",
        curves.len(),
        eval.evaluations,
        seconds,
        seconds / eval.evaluations.max(1) as f64,
        a.out.display()
    );
    Ok(())
}

fn print_table(aggs: &[valley_landscape::Aggregate]) {
    println!(
        "{:<18} {:<11} {:>5} {:<7} {:<5} {:>9} {:>9} {:>7} {:>8} {:>8}",
        "direction", "sign", "scale", "group", "split", "err λ>0", "err λ<0", "asym", "width+", "width−"
    );
    for a in aggs {
        let m = |k: Metric| a.error_metrics.mean(k);
        let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| ">grid".into());
        println!(
            "{:<18} {:<11} {:>5} {:<7} {:<5} {:>9} {:>9} {:>7} {:>8} {:>8}",
            a.key.direction_id(),
            a.key.sign.label(),
            a.key.scale,
            a.key.group.to_string(),
            a.key.split.to_string(),
            f(m(Metric::MeanPlus)),
            f(m(Metric::MeanMinus)),
            m(Metric::Asymmetry).map(|x| format!("{x:+.3}")).unwrap_or_default(),
            f(m(Metric::WidthPlus)),
            f(m(Metric::WidthMinus)),
        );
    }
}

fn run_plane(
    a: &LandscapeArgs,
    checkpoint: &Path,
    spec: &LandscapeSpec,
    eval: &mut Evaluator,
    ctx: &Context,
    sha: &str,
) -> Result<()> {
    // With a trajectory and no --directions, the plane is the path's PCA plane.
    let pca = a.trajectory.is_some() && a.directions.is_none();
    // Not deduplicated: `gaussian,gaussian` is two independent draws (seeds seed, seed+1).
    let noises = a
        .directions
        .as_deref()
        .unwrap_or(DEFAULT_DIRECTION)
        .split(',')
        .map(|n| n.trim().parse::<valley::noise::Noise>())
        .collect::<valley::Result<Vec<_>>>()?;
    if !pca && noises.len() != 2 {
        bail!("--plane needs exactly two directions (e.g. --directions gaussian,uniform), got {}", noises.len());
    }
    if spec.groups.len() != 1 || (!pca && (spec.signs.len() != 1 || spec.scales.len() != 1)) {
        bail!("--plane needs one sign mode (--sign as-sampled or consistent), one --scale and one --group");
    }
    // The second direction uses the next seed so that two draws of the same noise differ.
    let mk = |i: usize| DirectionSpec {
        noise: noises[i.min(noises.len() - 1)].clone(),
        sign: spec.signs[0],
        norm: spec.norm,
        scale: spec.scales[0],
        group: spec.groups[0].clone(),
        seed: a.seed + i as u64,
    };
    let (s1, s2) = (mk(0), mk(1));
    let traj = match &a.trajectory {
        None => None,
        Some(run) => {
            let mask = spec.groups[0].mask(eval.model())?;
            let axes = if pca {
                // Only used when the path is a line and PCA gives a single direction.
                let fallback = DirectionSpec {
                    noise: valley::noise::Noise::Gaussian,
                    sign: valley::noise::SignMode::AsSampled,
                    norm: Norm::Raw,
                    scale: 1.0,
                    group: spec.groups[0].clone(),
                    seed: a.seed,
                };
                Axes::Pca { fallback: noise::direction(&fallback, eval.theta(), eval.model(), ctx)? }
            } else {
                Axes::Given {
                    d1: noise::direction(&s1, eval.theta(), eval.model(), ctx)?,
                    d2: noise::direction(&s2, eval.theta(), eval.model(), ctx)?,
                    labels: [s1.label(), s2.label()],
                }
            };
            Some(trajectory::trajectory_plane(run, eval.theta(), eval.model(), &mask, axes)?)
        }
    };
    let (alphas, betas) = match (&traj, &a.lambdas) {
        (Some(t), None) => {
            let (al, be) = trajectory::covering_grid(&t.coords, 21);
            (al, a.betas.as_ref().map(|b| b.to_vec()).unwrap_or(be))
        }
        _ => {
            let alphas = spec.lambdas.clone();
            let betas = a.betas.as_ref().map(|b| b.to_vec()).unwrap_or_else(|| alphas.clone());
            (alphas, betas)
        }
    };
    plane::check_grid(&alphas, &betas)?;
    let (d1, d2, labels) = match &traj {
        Some(t) => (t.d1.clone(), t.d2.clone(), t.labels.clone()),
        None => (
            noise::direction(&s1, eval.theta(), eval.model(), ctx)?,
            noise::direction(&s2, eval.theta(), eval.model(), ctx)?,
            [s1.label(), s2.label()],
        ),
    };
    let mut body = serde_json::json!({
        "checkpoint": { "path": checkpoint, "sha256": sha },
        "d1": labels[0], "d2": labels[1], "seeds": [s1.seed, s2.seed],
        "norm": if pca { "none (unit principal directions)" } else { spec.norm.label() },
        "group": spec.groups[0].to_string(),
        "alphas": alphas, "betas": betas,
        "bn": { "policy": eval.config.bn, "batch": eval.config.bn_batch, "batches": eval.config.bn_batches, "seed": eval.config.bn_seed, "augment": eval.config.bn_augment },
        "splits": a.splits, "test_limit": a.data.test_limit, "train_limit": a.data.train_limit, "subset_seed": a.subset_seed,
    });
    if let Some(t) = &traj {
        body["trajectory"] = trajectory_record(a, t, pca);
    }
    let record = valley_base::RunMeta::new().stamp(body);
    let json_path = a.out.join("plane.json");
    let csv_path = a.out.join("plane.csv");
    plane::start(&json_path, &csv_path, &record)?;
    if a.save_direction {
        match &traj {
            Some(t) if pca => {
                for (i, d) in [&t.d1, &t.d2].into_iter().enumerate() {
                    let name = format!("direction-pc{}.safetensors", i + 1);
                    trajectory::save_axis(&a.out.join(name), d, &t.labels[i], t.explained[i])?;
                }
            }
            _ => {
                for (tag, d, s) in [("d1", &d1, &s1), ("d2", &d2, &s2)] {
                    let name = run::direction_file(s, false).replace("direction-", &format!("direction-{tag}-"));
                    run::save_direction(&a.out.join(name), d, s, &[])?;
                }
            }
        }
    }
    if let Some(t) = &traj {
        trajectory::write_csv(&a.out.join("trajectory.csv"), &t.trajectory.snapshots, &t.coords)?;
        println!(
            "trajectory: {} models of {}; axis 1 ({}) explains {:.2} % of the path's variance, axis 2 ({}) {:.2} %{}",
            t.coords.len(),
            a.trajectory.as_deref().unwrap_or(Path::new("")).display(),
            t.labels[0],
            100.0 * t.explained[0],
            t.labels[1],
            100.0 * t.explained[1],
            if t.fallback_second {
                " (the path is a line: axis 2 is a random direction orthogonal to axis 1)"
            } else {
                ""
            }
        );
    }
    let pb = progress::bar(alphas.len() as u64, "plane rows");
    let t0 = Instant::now();
    let points = plane::plane(eval, &d1, &d2, &alphas, &betas, &csv_path, &mut |row, _, skipped| {
        pb.set_position(row as u64);
        if skipped > 0 {
            pb.set_message(format!("row {row}: {skipped} points already done"));
        }
    })?;
    pb.finish_and_clear();
    if !a.no_plots {
        let (axis_labels, path) = match &traj {
            Some(t) => (
                [0, 1].map(|i| format!("{}, {:.1} % of variance", t.labels[i], 100.0 * t.explained[i])),
                trajectory::marks(&t.trajectory.snapshots, &t.coords),
            ),
            None => (labels.clone(), vec![]),
        };
        plane::plane_figures(&a.out, &points, &alphas, &betas, (&axis_labels[0], &axis_labels[1]), &path)?;
    }
    println!(
        "plane {}×{}: {} points evaluated in {:.1}s; results in {}",
        alphas.len(),
        betas.len(),
        eval.evaluations,
        t0.elapsed().as_secs_f64(),
        csv_path.display()
    );
    Ok(())
}

/// The `trajectory` block of plane.json: where the path comes from, how its plane was made,
/// and how much of the path's variance each axis explains.
fn trajectory_record(a: &LandscapeArgs, t: &TrajectoryPlane, pca: bool) -> serde_json::Value {
    let second = match (pca, t.fallback_second) {
        (false, _) => "given",
        (true, false) => "pca",
        (true, true) => "random gaussian (seed --seed) orthogonalised against PC1: the path is a line",
    };
    serde_json::json!({
        "run": a.trajectory,
        "basis": if pca { "pca" } else { "given" },
        "second_axis": second,
        "models": t.trajectory.snapshots.iter().map(|s| &s.label).collect::<Vec<_>>(),
        "fitted_on": t.fitted_on,
        "explained_variance": t.explained,
        "explained_variance_plane": t.explained[0] + t.explained[1],
        "csv": "trajectory.csv",
    })
}
