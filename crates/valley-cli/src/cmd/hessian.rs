//! `valley hessian CHECKPOINT`: trace, top eigenvalues and spectral density of the loss
//! Hessian per parameter group, at θf and along a valley θf + λ·d.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::json;
use valley::eval::{BnPolicy, Split};
use valley::grid::Lambdas;
use valley::noise::{self, Context, DirectionSpec, Noise, Norm};
use valley::params::{Group, Params};
use valley_data::DatasetKind;
use valley_landscape::hessian::density::DensityConfig;
use valley_landscape::hessian::eigen::PowerConfig;
use valley_landscape::hessian::report;
use valley_landscape::hessian::run::{along_valley, analyse, group_name, HessianConfig};
use valley_landscape::hessian::trace::TraceConfig;
use valley_landscape::{EvalData, LandscapeSpec};

use crate::common::{load_checkpoint, DataArgs, DeviceArgs, EvalOptions, ShapeArgs};

#[derive(Args, Debug)]
pub struct HessianArgs {
    /// θf: a safetensors checkpoint.
    pub checkpoint: PathBuf,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<valley::Arch>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// The split whose mean loss is differentiated (its size: --test-limit/--train-limit).
    #[arg(long, default_value = "test")]
    pub split: Split,
    /// Parameter group(s): ALL (written `all`), CLF, FEAT, CONV, BN, ... or a regex; repeat.
    #[arg(long, default_value = "ALL")]
    pub group: Vec<Group>,
    /// Rows per Hessian-vector-product batch.
    #[arg(long, default_value_t = HessianConfig::default().batch)]
    pub hvp_batch: usize,
    /// Eigenvalues of largest magnitude to find.
    #[arg(long, default_value_t = HessianConfig::default().top_k)]
    pub top_k: usize,
    /// Hutchinson stops when its standard error is below this fraction of the trace.
    #[arg(long, default_value_t = TraceConfig::default().rel_tol)]
    pub trace_tol: f64,
    /// Hutchinson's minimum and maximum number of probe vectors.
    #[arg(long, default_value_t = TraceConfig::default().min_probes)]
    pub min_probes: usize,
    #[arg(long, default_value_t = TraceConfig::default().max_probes)]
    pub max_probes: usize,
    /// Power iteration stops when the eigenvalue changes by less than this fraction.
    #[arg(long, default_value_t = PowerConfig::default().rel_tol)]
    pub power_tol: f64,
    #[arg(long, default_value_t = PowerConfig::default().max_iter)]
    pub power_iter: usize,
    /// Lanczos steps of the spectral density (0: no density).
    #[arg(long, default_value_t = DensityConfig::default().steps)]
    pub density_steps: usize,
    #[arg(long, default_value_t = DensityConfig::default().runs)]
    pub density_runs: usize,
    /// Seed of the probe vectors.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// BN statistics: keep (the checkpoint's, as PyHessian) or recompute before measuring.
    #[command(flatten)]
    pub eval: EvalOptions,
    /// Along a valley: the direction's noise (the landscape command's names).
    #[arg(long)]
    pub direction: Option<Noise>,
    /// Its sign manipulation: consistent or as-sampled.
    #[arg(long, default_value = "consistent")]
    pub sign: String,
    /// Its normalisation (raw, ns, ns-tensor, filter, ...).
    #[arg(long, default_value = "ns")]
    pub norm: Norm,
    /// Its scale s.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Its seed.
    #[arg(long, default_value_t = 0)]
    pub direction_seed: u64,
    /// λ grid along the direction: START:END:COUNT or a list (write --lambdas=-1:1:5).
    #[arg(long, default_value = "-1:1:5", allow_hyphen_values = true)]
    pub lambdas: Lambdas,
    /// Seed of the --train-limit/--test-limit subsets.
    #[arg(long, default_value_t = 0)]
    pub subset_seed: u64,
    /// Also write the exact samples to OUT/eval-data.safetensors (for python/pyhessian_check.py).
    #[arg(long)]
    pub dump_eval_data: bool,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

impl HessianArgs {
    fn config(&self) -> HessianConfig {
        HessianConfig {
            batch: self.hvp_batch,
            top_k: self.top_k,
            trace: TraceConfig { rel_tol: self.trace_tol, min_probes: self.min_probes, max_probes: self.max_probes },
            power: PowerConfig { rel_tol: self.power_tol, max_iter: self.power_iter },
            density: (self.density_steps > 0)
                .then_some(DensityConfig { steps: self.density_steps, runs: self.density_runs }),
            seed: self.seed,
        }
    }

    fn direction_spec(&self, noise: &Noise) -> Result<DirectionSpec> {
        let sign = match LandscapeSpec::parse_signs(Some(&self.sign), &[])?.as_slice() {
            [one] => *one,
            _ => bail!("--sign takes one of consistent or as-sampled along a valley (got `{}`)", self.sign),
        };
        Ok(DirectionSpec {
            noise: noise.clone(),
            sign,
            norm: self.norm,
            scale: self.scale,
            group: self.group.first().cloned().unwrap_or(Group::All),
            seed: self.direction_seed,
        })
    }
}

pub fn run(a: HessianArgs) -> Result<()> {
    let cfg = a.config();
    let lambdas = a.lambdas.to_vec();
    let device = a.device.resolve()?;
    let (ck, model) = load_checkpoint(&a.checkpoint, a.model, &a.shape, device)?;
    let bn = a.eval.config(BnPolicy::Keep, Some(&ck))?;
    let data_cfg = a.data.config(DatasetKind::FashionMnist, a.subset_seed)?;
    let data = EvalData::prepare(&ck, &model, &data_cfg, &[a.split], &bn, device)?;
    let set = &data.splits[0].1;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    if a.dump_eval_data {
        data.dump(&a.out.join("eval-data.safetensors"), &bn)?;
    }
    bn.apply_bn(&model, &data.bn_set);
    eprintln!(
        "hessian: {} parameters, {} samples of {} ({})",
        model.num_parameters(),
        set.len(),
        data.dataset,
        a.split
    );
    let groups = analyse(&model, set, &a.group, &cfg)?;
    let context = json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "checkpoint": { "path": a.checkpoint, "sha256": valley::checkpoint::sha256_file(&a.checkpoint)?,
                        "model": model.config() },
        "data": { "dataset": data.dataset, "split": a.split, "samples": set.len(), "files": data.files },
        "bn": { "policy": bn.bn, "mode": "evaluation (running statistics)",
                "recomputed_from": if bn.bn == BnPolicy::Recompute { Some(data.bn_set.len()) } else { None } },
        "spec": cfg,
    });
    report::write_json(&a.out, context, &groups)?;
    report::density_figure(&a.out, &groups)?;
    for g in &groups {
        let top: Vec<String> = g.top_eigenvalues.iter().map(|e| format!("{:.4}", e.value)).collect();
        println!(
            "{:<12} tr(H) {:.4} ± {:.4} ({} probes)  top eigenvalues {}",
            g.group,
            g.trace.trace,
            g.trace.stderr,
            g.trace.probes,
            top.join(", ")
        );
    }
    if let Some(noise) = &a.direction {
        valley_curve(&a, noise, &lambdas, &model, set, (&bn, &data.bn_set), &cfg)?;
    }
    println!("results in {}", a.out.display());
    Ok(())
}

fn valley_curve(
    a: &HessianArgs,
    noise: &Noise,
    lambdas: &[f64],
    model: &valley::Model,
    set: &valley::tensors::TensorSet,
    bn: (&valley::eval::EvalConfig, &valley::tensors::TensorSet),
    cfg: &HessianConfig,
) -> Result<()> {
    let spec = a.direction_spec(noise)?;
    let theta = Params::of(model);
    let init = a.checkpoint.parent().unwrap_or(Path::new(".")).join("init.safetensors");
    let ctx = Context { init: init.exists().then_some(init) };
    let d = noise::direction(&spec, &theta, model, &ctx)?;
    let group = &spec.group;
    let points = along_valley(model, &theta, &d, lambdas, set, group, bn, cfg)?;
    report::write_curve(&a.out, &format!("{} {}", spec.label(), group_name(group)), &points)?;
    for p in &points {
        println!("λ {:+.3}  tr(H) {:.4} ± {:.4}  λmax {:.4}", p.lambda, p.trace, p.trace_stderr, p.top_eigenvalue);
    }
    Ok(())
}
