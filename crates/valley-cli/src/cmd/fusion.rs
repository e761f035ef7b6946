//! `valley interpolate|ssr|soups|merge`: model fusion (paper §4).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;
use valley::checkpoint::Checkpoint;
use valley::eval::{BnPolicy, Split};
use valley::grid::Lambdas;
use valley::params::Params;
use valley::train::{self, DataConfig, OptimConfig, Prepared};
use valley::{Device, Model, ModelConfig};
use valley_data::DatasetKind;
use valley_fusion::interpolate::{self, CurveData};
use valley_fusion::merge;
use valley_fusion::report::{self, CheckpointId};
use valley_fusion::same_layout;
use valley_fusion::soups::{self, SoupsConfig, SoupsData, SoupsEvent};

use crate::common::{check_output_dir, data_for, load_checkpoint, DataArgs, DeviceArgs, EvalOptions, ShapeArgs};

#[derive(Args, Debug)]
pub struct InterpolateArgs {
    /// Checkpoint θA (λ = 0).
    pub a: PathBuf,
    /// Checkpoint θB (λ = 1).
    pub b: PathBuf,
    /// Output folder for interpolation.{csv,json,png,svg}.
    #[arg(long)]
    pub out: PathBuf,
    /// λ grid: START:END:COUNT or a comma list (0, 0.5 and 1 are always added).
    #[arg(long, default_value = "-0.5:1.5:21", allow_hyphen_values = true)]
    pub lambdas: Lambdas,
    /// Splits to evaluate: test, train or test,train.
    #[arg(long, default_value = "test", value_delimiter = ',')]
    pub splits: Vec<Split>,
    #[command(flatten)]
    pub eval: EvalOptions,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<valley::Arch>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Seed of the --train-limit/--test-limit subsets (use the training run's seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct SsrArgs {
    /// Checkpoint θA.
    pub a: PathBuf,
    /// Checkpoint θB.
    pub b: PathBuf,
    /// The shared initialisation θI (adds SSR-IA and SSR-IB).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Output folder for ssr.{json,csv,png,svg}.
    #[arg(long)]
    pub out: PathBuf,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<valley::Arch>,
    #[command(flatten)]
    pub shape: ShapeArgs,
}

#[derive(Args, Debug)]
pub struct SoupsArgs {
    /// Output folder (checkpoints, soups.json, soups.csv, soups.png).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Architecture (see `valley train --help`).
    #[arg(long, default_value = "cnn")]
    pub model: valley::Arch,
    /// Width multiplier.
    #[arg(long, default_value_t = 0.5)]
    pub width: f64,
    /// Epoch budget of each half; checkpoints at {1,2,3,5,10,20,30,50} up to it, plus the last.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Checkpoint epochs, comma separated (overrides the paper's list).
    #[arg(long, value_delimiter = ',')]
    pub checkpoints: Option<Vec<usize>>,
    /// Epochs of the pre-training task.
    #[arg(long, default_value_t = 5)]
    pub pretrain_epochs: usize,
    /// Fraction of the loaded training samples held out for pre-training.
    #[arg(long, default_value_t = 0.5)]
    pub pretrain_fraction: f64,
    /// Classes of the pre-training task, comma separated (default: the first half).
    #[arg(long, value_delimiter = ',')]
    pub pretrain_classes: Option<Vec<i64>>,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0.03)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// cosine, constant or step:EVERY:GAMMA (over the budget).
    #[arg(long, default_value = "cosine")]
    pub schedule: valley::train::Schedule,
    /// λ grid of each interpolation curve (0, 0.5 and 1 are always added).
    #[arg(long, default_value = "0:1:5", allow_hyphen_values = true)]
    pub lambdas: Lambdas,
    #[command(flatten)]
    pub eval: EvalOptions,
    /// The verdict's threshold on Spearman ρ(gap, SSR-AB).
    #[arg(long, default_value_t = 0.5)]
    pub min_spearman: f64,
    /// Peak learning rate of A and B fine-tuned from the pre-trained start (default: --lr).
    #[arg(long)]
    pub finetune_lr: Option<f64>,
    /// A loss barrier (test loss above the chord, λ ∈ [0, 1]) above this counts as a barrier.
    #[arg(long, default_value_t = soups::BARRIER_THRESHOLD)]
    pub barrier_threshold: f64,
    /// SSR-AB the fine-tuned pairs must keep at every checkpoint.
    #[arg(long, default_value_t = soups::MIN_PRETRAINED_SSR)]
    pub min_pretrained_ssr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Random crop + flip augmentation of every training run (default: on for 32x32 data, off
    /// otherwise); `reproduce soups` trains with it on.
    #[arg(long)]
    pub augment: Option<bool>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Checkpoints to merge (same architecture).
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// uniform, greedy, task-arithmetic or ties.
    #[arg(long, default_value = "uniform")]
    pub method: merge::Method,
    /// Output checkpoint (a merge.json with statistics is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Weights of the uniform soup, comma separated (normalised to sum 1).
    #[arg(long, value_delimiter = ',')]
    pub weights: Option<Vec<f64>>,
    /// The shared base θ for task vectors θi − base (required by task-arithmetic and ties).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// Scale λ of the summed (task arithmetic) or merged (TIES) task vector.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub lambda: f64,
    /// TIES: fraction of each task vector kept by magnitude.
    #[arg(long, default_value_t = 0.2)]
    pub keep: f64,
    #[command(flatten)]
    pub eval: EvalOptions,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Overwrite --out if it exists (never allowed when --out is one of the inputs).
    #[arg(long)]
    pub force: bool,
}

fn warn_normalisation(a: &Checkpoint, b: &Checkpoint) {
    let (na, nb) = (serde_json::to_string(&a.normalisation()).ok(), serde_json::to_string(&b.normalisation()).ok());
    if na != nb {
        eprintln!(
            "warning: {} and {} record different input normalisations; using {}'s",
            a.path.display(),
            b.path.display(),
            a.path.display()
        );
    }
}

fn dataset_json(data: &Prepared, args: &DataArgs, seed: u64) -> serde_json::Value {
    json!({ "name": data.name, "files": data.files, "train_size": data.train.len(), "test_size": data.test.len(),
            "train_limit": args.train_limit, "test_limit": args.test_limit, "subset_seed": seed })
}

pub fn interpolate(a: InterpolateArgs) -> Result<()> {
    check_output_dir(&a.out)?;
    let device = a.device.resolve()?;
    let grid = a.lambdas.with_anchors();
    if grid.len() != a.lambdas.len() {
        eprintln!("note: λ = 0, 0.5 and 1 added to the grid for the barrier and the gap");
    }
    let (ck_a, ma) = load_checkpoint(&a.a, a.model, &a.shape, device)?;
    let spec = a.eval.config(BnPolicy::Recompute, Some(&ck_a))?;
    let (ck_b, mb) = load_checkpoint(&a.b, a.model, &a.shape, device)?;
    same_layout(&a.a, &ma, &a.b, &mb)?;
    warn_normalisation(&ck_a, &ck_b);
    let data = data_for(&a.data, a.seed, &ck_a, &ma, device)?;
    let work = Model::new(ma.config(), device)?;
    let splits: Vec<(Split, &valley::tensors::TensorSet)> = a
        .splits
        .iter()
        .map(|&s| {
            (
                s,
                match s {
                    Split::Train => &data.train,
                    Split::Test => &data.test,
                },
            )
        })
        .collect();
    let bn = spec.bn_sample(&data.train);
    let curve_data = CurveData { bn: &bn.set, splits: &splits };
    let pb = crate::progress::bar(grid.len() as u64, "interpolate");
    let points =
        interpolate::curve((&ma, &mb, &work), &grid, &spec, &curve_data, |i, _| pb.set_position(i as u64 + 1))?;
    pb.finish_and_clear();
    let summaries =
        a.splits.iter().map(|&s| interpolate::summarise(&points, s)).collect::<valley_fusion::Result<Vec<_>>>()?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    report::write_interpolation(
        &a.out,
        (&CheckpointId::of(&a.a)?, &CheckpointId::of(&a.b)?),
        dataset_json(&data, &a.data, a.seed),
        &spec,
        &grid,
        &points,
        &summaries,
    )?;
    for s in &summaries {
        println!(
            "{}: acc A {:.2}%  B {:.2}%  ½A+½B {:.2}%  gap {:+.2} pts  loss barrier {:.4}",
            s.split,
            s.accuracy_a * 100.0,
            s.accuracy_b * 100.0,
            s.accuracy_mid * 100.0,
            s.gap * 100.0,
            s.barrier
        );
    }
    println!("wrote {}/interpolation.{{csv,json,png,svg}}", a.out.display());
    Ok(())
}

pub fn ssr(a: SsrArgs) -> Result<()> {
    check_output_dir(&a.out)?;
    let device = Device::Cpu;
    let (_, ma) = load_checkpoint(&a.a, a.model, &a.shape, device)?;
    let (_, mb) = load_checkpoint(&a.b, a.model, &a.shape, device)?;
    same_layout(&a.a, &ma, &a.b, &mb)?;
    let init = match &a.init {
        Some(p) => {
            let (_, mi) = load_checkpoint(p, a.model, &a.shape, device)?;
            same_layout(&a.a, &ma, p, &mi)?;
            Some(Params::of(&mi))
        }
        None => None,
    };
    let groups = valley_fusion::ssr_report(&ma, &Params::of(&ma), &Params::of(&mb), init.as_ref())?;
    let mut ids = vec![("a", CheckpointId::of(&a.a)?), ("b", CheckpointId::of(&a.b)?)];
    if let Some(p) = &a.init {
        ids.push(("init", CheckpointId::of(p)?));
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    report::write_ssr(&a.out, &ids, &groups)?;
    let opt = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into());
    print!("{}", report::ssr_table(&groups, &|x| format!("{x:.4}"), &opt).to_markdown());
    println!("wrote {}/ssr.{{json,csv,png,svg}}", a.out.display());
    Ok(())
}

pub fn soups(a: SoupsArgs) -> Result<()> {
    check_output_dir(&a.out)?;
    let device = a.device.resolve()?;
    let data_cfg = DataConfig { augment: a.augment, ..a.data.config(DatasetKind::FashionMnist, a.seed)? };
    let data = train::prepare(&data_cfg, None, device)?;
    let mut model = ModelConfig::new(a.model, data.channels, data.image_size, data.num_classes);
    model.width = a.width;
    let optim = OptimConfig { lr: a.lr, momentum: a.momentum, weight_decay: a.weight_decay, ..OptimConfig::default() };
    let classes = data.num_classes;
    let pretrain_classes = a.pretrain_classes.clone().unwrap_or_else(|| (0..(classes + 1) / 2).collect());
    if let Some(c) = pretrain_classes.iter().find(|&&c| c < 0 || c >= classes) {
        bail!("--pretrain-classes: class {c} does not exist ({} has {classes} classes)", data.name);
    }
    let cfg = SoupsConfig {
        model,
        optim,
        schedule: a.schedule.clone(),
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        checkpoints: a.checkpoints.clone().unwrap_or_else(|| soups::checkpoint_epochs(a.epochs)),
        pretrain_fraction: a.pretrain_fraction,
        pretrain_classes,
        pretrain_epochs: a.pretrain_epochs,
        lambdas: a.lambdas.to_vec(),
        // The study trains its own models and augments BN samples as it trains them.
        eval: a.eval.config(BnPolicy::Recompute, None)?,
        min_spearman: a.min_spearman,
        finetune_lr: a.finetune_lr,
        barrier_threshold: a.barrier_threshold,
        min_pretrained_ssr: a.min_pretrained_ssr,
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let sd = SoupsData {
        train: &data.train,
        train_images: data.train_images.as_ref(),
        test: &data.test,
        normalisation: &data.normalisation,
    };
    let t0 = std::time::Instant::now();
    let mut on_event = |e: SoupsEvent| {
        match e {
        SoupsEvent::Phase(p) => eprintln!("[{:>6.1}s] {p}", t0.elapsed().as_secs_f64()),
        SoupsEvent::Epoch { who, epoch, train, test } => eprintln!(
            "  {who:<14} epoch {epoch:>3}  train loss {:.4} acc {:.2}%  test acc {:.2}%",
            train.loss,
            train.accuracy * 100.0,
            test.accuracy * 100.0
        ),
        SoupsEvent::Point(p) => eprintln!(
            "  {:<10} epoch {:>3}  acc A {:.2}% B {:.2}% mid {:.2}%  gap {:+.2} pts  barrier {:.4}  SSR-IA {:.4} IB {:.4} AB {:.4}",
            p.start.name(),
            p.epoch,
            p.test.accuracy_a * 100.0,
            p.test.accuracy_b * 100.0,
            p.test.accuracy_mid * 100.0,
            p.test.gap * 100.0,
            p.test.barrier,
            p.ssr_ia,
            p.ssr_ib,
            p.ssr_ab
        ),
    }
    };
    let outcome = soups::run_soups(&cfg, &sd, &a.out, device, &mut on_event)?;
    // Whether the study trained on crops and flips (interpolation trains nothing).
    let mut dataset = dataset_json(&data, &a.data, a.seed);
    dataset["augment"] = json!(data.augment);
    report::write_soups(&a.out, &outcome, dataset)?;
    let v = &outcome.verdict;
    println!(
        "Spearman ρ(gap, SSR-AB) = {:.3} (Pearson {:.3}, {} points); mean SSR-AB random {:.4} vs pre-trained {:.4}; mean gap random {:+.2} vs pre-trained {:+.2} pts",
        v.spearman_gap_ssr_ab,
        v.pearson_gap_ssr_ab,
        v.points,
        v.mean_ssr_ab_random,
        v.mean_ssr_ab_pretrained,
        v.mean_gap_random * 100.0,
        v.mean_gap_pretrained * 100.0
    );
    println!(
        "random-start barrier at the last checkpoint {:.4} (needs > {}); pre-trained: min SSR-AB {:.4} (needs > {}), max barrier {:.4} (needs ≤ {})",
        v.final_barrier_random,
        v.barrier_threshold,
        v.min_ssr_ab_pretrained,
        v.min_pretrained_ssr,
        v.max_barrier_pretrained,
        v.barrier_threshold
    );
    println!(
        "verdict: {} — wrote {}/soups.{{json,csv,png,svg}}",
        if v.pass { "PASS" } else { "FAIL" },
        a.out.display()
    );
    Ok(())
}

pub fn merge(a: MergeArgs) -> Result<()> {
    let paths: Vec<&std::path::Path> = a.models.iter().chain(&a.base).map(PathBuf::as_path).collect();
    valley::checkpoint::check_output(&a.out, &paths, a.force)?;
    valley::checkpoint::check_output(&a.out.with_extension("json"), &paths, a.force)?;
    let device = a.device.resolve()?;
    let inputs = merge::Inputs::load(&a.models, a.base.as_deref(), device)?;
    for p in inputs.normalisation_mismatches() {
        eprintln!(
            "warning: {} and {} record different input normalisations; using {}'s",
            a.models[0].display(),
            p.display(),
            a.models[0].display()
        );
    }
    let spec = merge::MergeSpec {
        method: a.method,
        weights: a.weights.clone(),
        lambda: a.lambda,
        keep: a.keep,
        eval: a.eval.config(BnPolicy::Keep, inputs.checkpoints.first())?,
        seed: a.seed,
    };
    let data = if spec.needs_data() {
        Some(data_for(&a.data, a.seed, &inputs.checkpoints[0], &inputs.models[0], device)?)
    } else {
        None
    };
    let report = merge::run(&spec, &inputs, data.as_ref(), &a.out)?;
    if let Some(g) = &report.greedy {
        println!(
            "greedy soup: {} of {} models (order {:?}); held-out accuracy {:.2}%, other half of the test split {:.2}%",
            g.trace.included.len(),
            inputs.models.len(),
            g.trace.order,
            g.trace.soup_accuracy.last().unwrap_or(&f64::NAN) * 100.0,
            g.other_half_accuracy * 100.0
        );
    }
    let conflicts = &report.conflicts;
    let f = |x: f64| if x.is_nan() { "–".to_string() } else { format!("{x:.4}") };
    let o = |x: Option<f64>| x.map(f).unwrap_or_else(|| "–".into());
    let table = valley_report::Table {
        header: [
            "group",
            "numel",
            "conflict before",
            "after trim",
            "after election",
            "overruled",
            "dropped by election",
        ]
        .map(String::from)
        .to_vec(),
        rows: conflicts
            .iter()
            .map(|c| {
                vec![
                    c.group.clone(),
                    c.numel.to_string(),
                    f(c.before),
                    o(c.after_trim),
                    f(c.after_election),
                    f(c.overruled),
                    o(c.dropped_by_election),
                ]
            })
            .collect(),
    };
    print!("{}", table.to_markdown());
    println!("wrote {} and {}", a.out.display(), report.record.display());
    Ok(())
}
