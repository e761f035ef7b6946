//! The model-soups study (paper §4, Figure 11): two models trained from a shared θI on the
//! IID halves of a training set, measured at checkpoints; from a random and from a
//! pre-trained θI. The claim: the performance gap tracks SSR-AB, and a pre-trained start
//! keeps SSR-AB high and fuses better.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use valley::checkpoint::{self, Checkpoint};
use valley::eval::{Eval, EvalConfig, Split};
use valley::grid::Lambdas;
use valley::params::{ssr, Params};
use valley::rng::{self, tag};
use valley::tensors::TensorSet;
use valley::train::{self, EpochPlan, EpochStats, OptimConfig, Schedule};
use valley::{Device, Model, ModelConfig};
use valley_base::stats::{mean, pearson, spearman};
use valley_data::{Normalisation, Partition};

use crate::interpolate::{self, CurveData, CurvePoint, CurveSummary};
use crate::ssr::{ssr_report, GroupSsr};
use crate::{Error, Result};

/// The paper's checkpoint epochs.
pub const PAPER_EPOCHS: [usize; 8] = [1, 2, 3, 5, 10, 20, 30, 50];

/// The paper's epochs that fit in a budget of `epochs`, plus the last epoch [choice: so the
/// end of training is always measured].
pub fn checkpoint_epochs(epochs: usize) -> Vec<usize> {
    let mut out: Vec<usize> = PAPER_EPOCHS.iter().copied().filter(|&e| e <= epochs).collect();
    if epochs > 0 && !out.contains(&epochs) {
        out.push(epochs);
    }
    out
}

/// Everything a soups study needs; `soups.json` stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoupsConfig {
    /// Architecture, with the dataset's channels, image size and classes filled in.
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub schedule: Schedule,
    /// Training budget of each half, in epochs.
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Epochs at which A and B are saved and measured.
    pub checkpoints: Vec<usize>,
    /// Fraction of the loaded training samples held out (stratified) for the pre-training
    /// task; the rest is split IID into halves A and B.
    pub pretrain_fraction: f64,
    /// Classes of the pre-training task [choice: the first ⌈C/2⌉ classes, on samples disjoint
    /// from the halves: a different label set on different data].
    pub pretrain_classes: Vec<i64>,
    pub pretrain_epochs: usize,
    /// λ grid of the interpolation curves (0, ½ and 1 are always added).
    pub lambdas: Vec<f64>,
    /// Evaluation and BN re-estimation; the BN samples are drawn from the two halves.
    pub eval: EvalConfig,
    /// The verdict needs Spearman ρ(gap, SSR-AB) over all measured points ≥ this.
    pub min_spearman: f64,
}

/// Which samples of the training set each part of the study uses (indices into it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoupsSplit {
    pub half_a: Vec<usize>,
    pub half_b: Vec<usize>,
    pub pretrain: Vec<usize>,
}

/// Stratified hold-out of `pretrain_fraction` of the samples (kept only for
/// `pretrain_classes`), then an IID split of the rest into halves A and B. Deterministic by
/// `seed`; the three index lists are disjoint.
pub fn split_for_soups(
    labels: &[i64],
    num_classes: usize,
    pretrain_fraction: f64,
    pretrain_classes: &[i64],
    seed: u64,
) -> Result<SoupsSplit> {
    if !(pretrain_fraction > 0.0 && pretrain_fraction < 1.0) {
        return Err(Error::Config(format!(
            "pre-training fraction (--pretrain-fraction) must lie strictly between 0 and 1, got {pretrain_fraction}"
        )));
    }
    let (pool, held) = valley_data::stratified_split(
        labels,
        num_classes,
        pretrain_fraction,
        rng::derive_seed(seed, &[tag::SUBSET, 2]),
    )?;
    let pool_labels: Vec<i64> = pool.iter().map(|&i| labels[i]).collect();
    let halves = valley_data::partition(
        &pool_labels,
        num_classes,
        2,
        &Partition::Iid,
        rng::derive_seed(seed, &[tag::PARTITION]),
    )?;
    let map = |h: &[usize]| h.iter().map(|&j| pool[j]).collect::<Vec<usize>>();
    let pretrain: Vec<usize> = held.into_iter().filter(|&i| pretrain_classes.contains(&labels[i])).collect();
    Ok(SoupsSplit { half_a: map(&halves[0]), half_b: map(&halves[1]), pretrain })
}

/// The two starting points of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    Random,
    Pretrained,
}

impl Start {
    pub fn name(&self) -> &'static str {
        match self {
            Start::Random => "random",
            Start::Pretrained => "pretrained",
        }
    }
}

/// One measured checkpoint: both models at `epoch` from `start`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoupsPoint {
    pub start: Start,
    pub epoch: usize,
    /// Test split: accuracies of A, B and ½A + ½B, gap and loss barrier.
    pub test: CurveSummary,
    pub ssr_ia: f64,
    pub ssr_ib: f64,
    pub ssr_ab: f64,
    /// Per-group SSRs (`ALL` first).
    pub groups: Vec<GroupSsr>,
    pub curve: Vec<CurvePoint>,
}

/// The verdict on the paper's claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub claim: String,
    /// Over all (start, epoch) points.
    pub points: usize,
    pub spearman_gap_ssr_ab: f64,
    pub pearson_gap_ssr_ab: f64,
    pub min_spearman: f64,
    pub mean_ssr_ab_random: f64,
    pub mean_ssr_ab_pretrained: f64,
    pub mean_gap_random: f64,
    pub mean_gap_pretrained: f64,
    pub gap_tracks_ssr_ab: bool,
    pub pretrained_keeps_higher_ssr_ab: bool,
    pub pretrained_has_better_gap: bool,
    pub pass: bool,
}

/// Progress events for the caller to display.
pub enum SoupsEvent<'a> {
    Phase(String),
    Epoch { who: &'a str, epoch: usize, train: &'a EpochStats, test: Eval },
    Point(&'a SoupsPoint),
}

/// The study's data: the prepared training and test sets (and the host images when
/// augmentation is on), and the normalisation recorded in every checkpoint.
pub struct SoupsData<'a> {
    pub train: &'a TensorSet,
    pub train_images: Option<&'a valley_data::ImageSet>,
    pub test: &'a TensorSet,
    pub normalisation: &'a Normalisation,
}

/// Everything the study produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupsOutcome {
    pub config: SoupsConfig,
    pub sizes: SplitSizes,
    pub pretrain_test_accuracy: f64,
    pub points: Vec<SoupsPoint>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SplitSizes {
    pub half_a: usize,
    pub half_b: usize,
    pub pretrain: usize,
}

/// Runs the study into `out`: `init-random.safetensors`, `pretrained/init.safetensors`,
/// `<start>/<a|b>/epoch-N.safetensors`, then measures every checkpoint pair.
pub fn run_soups(
    cfg: &SoupsConfig,
    data: &SoupsData,
    out: &Path,
    device: Device,
    on_event: &mut dyn FnMut(SoupsEvent),
) -> Result<SoupsOutcome> {
    if cfg.checkpoints.is_empty() || cfg.pretrain_epochs == 0 {
        return Err(Error::Config(
            "the soups study needs at least one checkpoint epoch and one pre-training epoch".into(),
        ));
    }
    if let Some(e) = cfg.checkpoints.iter().find(|&&e| e == 0 || e > cfg.epochs) {
        return Err(Error::Config(format!("checkpoint epoch {e} lies outside the budget of {} epochs", cfg.epochs)));
    }
    let epochs = cfg.epochs;
    let labels = Vec::<i64>::try_from(&data.train.y.to_device(Device::Cpu)).map_err(valley::Error::from)?;
    let split = split_for_soups(
        &labels,
        data.train.num_classes as usize,
        cfg.pretrain_fraction,
        &cfg.pretrain_classes,
        cfg.seed,
    )?;
    if split.pretrain.is_empty() || split.half_a.is_empty() || split.half_b.is_empty() {
        return Err(Error::Config(format!(
            "the training set of {} samples leaves halves of {} and {} and {} pre-training samples; raise --train-limit",
            labels.len(),
            split.half_a.len(),
            split.half_b.len(),
            split.pretrain.len()
        )));
    }
    let norm_json = serde_json::to_string(data.normalisation).unwrap_or_default();
    let meta = |what: &str, epoch: usize| {
        vec![
            ("seed", cfg.seed.to_string()),
            ("epoch", epoch.to_string()),
            ("normalisation", norm_json.clone()),
            ("soups", what.to_string()),
        ]
    };

    tch::manual_seed(rng::derive_seed(cfg.seed, &[tag::INIT]) as i64);
    let theta0 = Model::new(&cfg.model, device)?;
    checkpoint::save_model(&theta0, &out.join("init-random.safetensors"), &meta("random init", 0))?;

    on_event(SoupsEvent::Phase(format!(
        "pre-training on classes {:?} ({} samples, {} epochs)",
        cfg.pretrain_classes,
        split.pretrain.len(),
        cfg.pretrain_epochs
    )));
    let pre = Model::new(&cfg.model, device)?;
    pre.copy_from(&theta0)?;
    train::train_epochs(&pre, &plan(cfg, data, &split.pretrain, cfg.pretrain_epochs, 100), |e, s| {
        let test = cfg.eval.evaluate(&pre, data.test);
        on_event(SoupsEvent::Epoch { who: "pretrain", epoch: e, train: s, test });
        Ok(())
    })?;
    let pretrain_test_accuracy = cfg.eval.evaluate(&pre, data.test).accuracy;
    checkpoint::save_model(
        &pre,
        &train::RunDir::new(out.join("pretrained")).init(),
        &meta("pretrained init", cfg.pretrain_epochs),
    )?;

    let starts = [(Start::Random, &theta0), (Start::Pretrained, &pre)];
    for (si, (start, init)) in starts.iter().enumerate() {
        for (hi, (half, idx)) in [("a", &split.half_a), ("b", &split.half_b)].into_iter().enumerate() {
            let who = format!("{}/{half}", start.name());
            on_event(SoupsEvent::Phase(format!("training {who} on {} samples", idx.len())));
            let model = Model::new(&cfg.model, device)?;
            model.copy_from(init)?;
            let dir = out.join(start.name()).join(half);
            train::train_epochs(&model, &plan(cfg, data, idx, epochs, 200 + 2 * si as u64 + hi as u64), |e, s| {
                let test = cfg.eval.evaluate(&model, data.test);
                on_event(SoupsEvent::Epoch { who: &who, epoch: e, train: s, test });
                if cfg.checkpoints.contains(&e) {
                    checkpoint::save_model(&model, &dir.join(format!("epoch-{e}.safetensors")), &meta(&who, e))?;
                }
                Ok(())
            })?;
        }
    }

    on_event(SoupsEvent::Phase("measuring interpolation curves and SSRs".into()));
    let bn = cfg.eval.bn_sample_from(data.train, &[split.half_a.clone(), split.half_b.clone()].concat());
    let test_only = [(Split::Test, data.test)];
    let curve_data = CurveData { bn: &bn.set, splits: &test_only };
    let lambdas = Lambdas::from_values(&cfg.lambdas)?.with_anchors();
    let (a, b, work) =
        (Model::new(&cfg.model, device)?, Model::new(&cfg.model, device)?, Model::new(&cfg.model, device)?);
    let mut points = Vec::new();
    for (start, init) in starts {
        let theta_i = Params::of(init);
        for &e in cfg.checkpoints.iter().filter(|&&e| e <= epochs) {
            let load = |m: &Model, half: &str| -> Result<()> {
                let path = out.join(start.name()).join(half).join(format!("epoch-{e}.safetensors"));
                Ok(Checkpoint::read(&path)?.load_into(m)?)
            };
            load(&a, "a")?;
            load(&b, "b")?;
            let curve = interpolate::curve((&a, &b, &work), &lambdas, &cfg.eval, &curve_data, |_, _| {})?;
            let test = interpolate::summarise(&curve, Split::Test)?;
            let (pa, pb) = (Params::of(&a), Params::of(&b));
            let point = SoupsPoint {
                start,
                epoch: e,
                test,
                ssr_ia: ssr(&theta_i, &pa, None),
                ssr_ib: ssr(&theta_i, &pb, None),
                ssr_ab: ssr(&pa, &pb, None),
                groups: ssr_report(&a, &pa, &pb, Some(&theta_i))?,
                curve,
            };
            on_event(SoupsEvent::Point(&point));
            points.push(point);
        }
    }
    let verdict = verdict(&points, cfg.min_spearman);
    Ok(SoupsOutcome {
        config: cfg.clone(),
        sizes: SplitSizes { half_a: split.half_a.len(), half_b: split.half_b.len(), pretrain: split.pretrain.len() },
        pretrain_test_accuracy,
        points,
        verdict,
    })
}

fn plan<'a>(
    cfg: &'a SoupsConfig,
    data: &SoupsData<'a>,
    indices: &'a [usize],
    epochs: usize,
    stream: u64,
) -> EpochPlan<'a> {
    EpochPlan {
        set: data.train,
        images: data.train_images,
        indices: Some(indices),
        optim: &cfg.optim,
        schedule: &cfg.schedule,
        epochs,
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        stream,
    }
}

/// The verdict: (1) Spearman ρ(gap, SSR-AB) over all points ≥ `min_spearman`; (2) the mean
/// SSR-AB over checkpoints is higher from the pre-trained start; (3) so is the mean gap.
pub fn verdict(points: &[SoupsPoint], min_spearman: f64) -> Verdict {
    let gaps: Vec<f64> = points.iter().map(|p| p.test.gap).collect();
    let ssrs: Vec<f64> = points.iter().map(|p| p.ssr_ab).collect();
    let mean_of = |s: Start, f: &dyn Fn(&SoupsPoint) -> f64| {
        mean(&points.iter().filter(|p| p.start == s).map(f).collect::<Vec<_>>())
    };
    let rho = spearman(&gaps, &ssrs);
    let (sr, sp) = (mean_of(Start::Random, &|p| p.ssr_ab), mean_of(Start::Pretrained, &|p| p.ssr_ab));
    let (gr, gp) = (mean_of(Start::Random, &|p| p.test.gap), mean_of(Start::Pretrained, &|p| p.test.gap));
    let tracks = rho >= min_spearman;
    let (higher, better) = (sp > sr, gp > gr);
    Verdict {
        claim: "the performance gap tracks SSR-AB across checkpoints; models fine-tuned from a pre-trained start keep a higher SSR-AB and fuse better".into(),
        points: points.len(),
        spearman_gap_ssr_ab: rho,
        pearson_gap_ssr_ab: pearson(&gaps, &ssrs),
        min_spearman,
        mean_ssr_ab_random: sr,
        mean_ssr_ab_pretrained: sp,
        mean_gap_random: gr,
        mean_gap_pretrained: gp,
        gap_tracks_ssr_ab: tracks,
        pretrained_keeps_higher_ssr_ab: higher,
        pretrained_has_better_gap: better,
        pass: tracks && higher && better,
    }
}

/// Paths of a soups run's checkpoints (for the CLI and the docs).
pub fn checkpoint_path(out: &Path, start: Start, half: &str, epoch: usize) -> PathBuf {
    out.join(start.name()).join(half).join(format!("epoch-{epoch}.safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_clipped_to_the_budget() {
        assert_eq!(checkpoint_epochs(4), vec![1, 2, 3, 4]);
        assert_eq!(checkpoint_epochs(10), vec![1, 2, 3, 5, 10]);
        assert_eq!(checkpoint_epochs(60), vec![1, 2, 3, 5, 10, 20, 30, 50, 60]);
    }

    #[test]
    fn split_is_disjoint_and_keeps_only_pretraining_classes() {
        let labels: Vec<i64> = (0..200).map(|i| i % 4).collect();
        let s = split_for_soups(&labels, 4, 0.5, &[0, 1], 3).unwrap();
        assert_eq!(s.half_a.len() + s.half_b.len(), 100);
        assert!((s.half_a.len() as i64 - s.half_b.len() as i64).abs() <= 1);
        assert!(s.pretrain.iter().all(|&i| labels[i] < 2) && s.pretrain.len() == 50);
        let mut all = [s.half_a.clone(), s.half_b.clone(), s.pretrain.clone()].concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 200 - 50, "the three parts must be disjoint");
        assert_eq!(split_for_soups(&labels, 4, 0.5, &[0, 1], 3).unwrap(), s);
    }
}
