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
    /// Peak learning rate of A and B fine-tuned from the pre-trained start (`None`: the same
    /// as from the random start); the schedule is the same.
    #[serde(default)]
    pub finetune_lr: Option<f64>,
    /// A loss barrier (max over λ ∈ [0, 1] of the test loss above the chord) above this
    /// counts as a barrier, at or below it as none; fixed before measuring.
    #[serde(default = "default_barrier_threshold")]
    pub barrier_threshold: f64,
    /// SSR-AB that fine-tuned pairs must keep at every checkpoint (the paper: 0.95).
    #[serde(default = "default_min_pretrained_ssr")]
    pub min_pretrained_ssr: f64,
}

/// [choice] 0.05 nats of test loss above the chord: a bump of about 15 % of a converged
/// Fashion-MNIST loss (≈ 0.3), well above the evaluation noise of a 2000-sample test set.
pub const BARRIER_THRESHOLD: f64 = 0.05;
/// The paper's "fine-tuned models keep SSR > 0.95".
pub const MIN_PRETRAINED_SSR: f64 = 0.95;

fn default_barrier_threshold() -> f64 {
    BARRIER_THRESHOLD
}

fn default_min_pretrained_ssr() -> f64 {
    MIN_PRETRAINED_SSR
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

/// The verdict on the paper's three claims.
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
    pub barrier_threshold: f64,
    pub min_pretrained_ssr: f64,
    /// Loss barrier of the random-start pair at its last checkpoint.
    pub final_barrier_random: f64,
    /// Largest loss barrier and smallest SSR-AB of the pre-trained pair over its checkpoints.
    pub max_barrier_pretrained: f64,
    pub min_ssr_ab_pretrained: f64,
    /// (1) ρ(gap, SSR-AB) ≥ min_spearman.
    pub gap_tracks_ssr_ab: bool,
    /// (2) From the random start a barrier appears: final barrier > barrier_threshold.
    pub random_has_barrier: bool,
    /// (3) From the pre-trained start SSR-AB > min_pretrained_ssr and barrier ≤
    /// barrier_threshold at every checkpoint.
    pub pretrained_keeps_ssr_without_barrier: bool,
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
    /// Mean training loss of each pre-training epoch (whether it converged).
    #[serde(default)]
    pub pretrain_losses: Vec<f64>,
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

    let theta0 = Model::seeded(&cfg.model, rng::derive_seed(cfg.seed, &[tag::INIT]), device)?;
    checkpoint::save_model(&theta0, &out.join("init-random.safetensors"), &meta("random init", 0))?;

    on_event(SoupsEvent::Phase(format!(
        "pre-training on classes {:?} ({} samples, {} epochs)",
        cfg.pretrain_classes,
        split.pretrain.len(),
        cfg.pretrain_epochs
    )));
    let pre = Model::new(&cfg.model, device)?;
    pre.copy_from(&theta0)?;
    let mut pretrain_losses = Vec::new();
    train::train_epochs(&pre, &plan(cfg, &cfg.optim, data, &split.pretrain, cfg.pretrain_epochs, 100), |e, s| {
        pretrain_losses.push(s.loss);
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

    let finetune = OptimConfig { lr: cfg.finetune_lr.unwrap_or(cfg.optim.lr), ..cfg.optim.clone() };
    let starts = [(Start::Random, &theta0), (Start::Pretrained, &pre)];
    for (si, (start, init)) in starts.iter().enumerate() {
        let optim = if *start == Start::Pretrained { &finetune } else { &cfg.optim };
        for (hi, (half, idx)) in [("a", &split.half_a), ("b", &split.half_b)].into_iter().enumerate() {
            let who = format!("{}/{half}", start.name());
            on_event(SoupsEvent::Phase(format!("training {who} on {} samples", idx.len())));
            let model = Model::new(&cfg.model, device)?;
            model.copy_from(init)?;
            let dir = out.join(start.name()).join(half);
            let stream = 200 + 2 * si as u64 + hi as u64;
            train::train_epochs(&model, &plan(cfg, optim, data, idx, epochs, stream), |e, s| {
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
    // BN statistics come from samples augmented as the halves were trained.
    let bn_eval = valley::eval::EvalConfig { bn_augment: data.train_images.is_some(), ..cfg.eval };
    let bn = bn_eval.bn_sample_from(data.train, &[split.half_a.clone(), split.half_b.clone()].concat());
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
    let verdict = verdict(&points, &Thresholds::of(cfg));
    Ok(SoupsOutcome {
        config: cfg.clone(),
        sizes: SplitSizes { half_a: split.half_a.len(), half_b: split.half_b.len(), pretrain: split.pretrain.len() },
        pretrain_test_accuracy,
        pretrain_losses,
        points,
        verdict,
    })
}

fn plan<'a>(
    cfg: &'a SoupsConfig,
    optim: &'a OptimConfig,
    data: &SoupsData<'a>,
    indices: &'a [usize],
    epochs: usize,
    stream: u64,
) -> EpochPlan<'a> {
    EpochPlan {
        set: data.train,
        images: data.train_images,
        indices: Some(indices),
        optim,
        schedule: &cfg.schedule,
        epochs,
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        stream,
    }
}

/// The thresholds of the verdict, fixed before measuring.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub min_spearman: f64,
    pub barrier: f64,
    pub min_pretrained_ssr: f64,
}

impl Thresholds {
    pub fn of(cfg: &SoupsConfig) -> Self {
        Self {
            min_spearman: cfg.min_spearman,
            barrier: cfg.barrier_threshold,
            min_pretrained_ssr: cfg.min_pretrained_ssr,
        }
    }
}

/// The verdict on the paper's three claims: (1) Spearman ρ(gap, SSR-AB) over all points ≥
/// `min_spearman`; (2) from the random start a barrier appears: the loss barrier at the
/// last random-start checkpoint exceeds `barrier`; (3) from the pre-trained start every
/// checkpoint keeps SSR-AB > `min_pretrained_ssr` with a barrier ≤ `barrier`. A start
/// without points fails its claim.
pub fn verdict(points: &[SoupsPoint], t: &Thresholds) -> Verdict {
    let gaps: Vec<f64> = points.iter().map(|p| p.test.gap).collect();
    let ssrs: Vec<f64> = points.iter().map(|p| p.ssr_ab).collect();
    let of = |s: Start| points.iter().filter(move |p| p.start == s);
    let mean_of = |s: Start, f: &dyn Fn(&SoupsPoint) -> f64| mean(&of(s).map(f).collect::<Vec<_>>());
    let rho = spearman(&gaps, &ssrs);
    let (sr, sp) = (mean_of(Start::Random, &|p| p.ssr_ab), mean_of(Start::Pretrained, &|p| p.ssr_ab));
    let (gr, gp) = (mean_of(Start::Random, &|p| p.test.gap), mean_of(Start::Pretrained, &|p| p.test.gap));
    let final_barrier_random = of(Start::Random).max_by_key(|p| p.epoch).map_or(f64::NAN, |p| p.test.barrier);
    let max_barrier_pretrained = of(Start::Pretrained).map(|p| p.test.barrier).fold(f64::NAN, f64::max);
    let min_ssr_ab_pretrained = of(Start::Pretrained).map(|p| p.ssr_ab).fold(f64::NAN, f64::min);
    let tracks = rho >= t.min_spearman;
    let random_has_barrier = final_barrier_random > t.barrier;
    let pretrained_ok = of(Start::Pretrained).count() > 0
        && of(Start::Pretrained).all(|p| p.ssr_ab > t.min_pretrained_ssr && p.test.barrier <= t.barrier);
    Verdict {
        claim: format!(
            "the performance gap tracks SSR-AB across checkpoints (Spearman ρ ≥ {}); from a random start a loss barrier above {} appears by the last checkpoint; models fine-tuned from a pre-trained start keep SSR-AB > {} with no barrier (≤ {}) at every checkpoint",
            t.min_spearman, t.barrier, t.min_pretrained_ssr, t.barrier
        ),
        points: points.len(),
        spearman_gap_ssr_ab: rho,
        pearson_gap_ssr_ab: pearson(&gaps, &ssrs),
        min_spearman: t.min_spearman,
        mean_ssr_ab_random: sr,
        mean_ssr_ab_pretrained: sp,
        mean_gap_random: gr,
        mean_gap_pretrained: gp,
        barrier_threshold: t.barrier,
        min_pretrained_ssr: t.min_pretrained_ssr,
        final_barrier_random,
        max_barrier_pretrained,
        min_ssr_ab_pretrained,
        gap_tracks_ssr_ab: tracks,
        random_has_barrier,
        pretrained_keeps_ssr_without_barrier: pretrained_ok,
        pass: tracks && random_has_barrier && pretrained_ok,
    }
}

/// Paths of a soups run's checkpoints (for the CLI and the docs).
pub fn checkpoint_path(out: &Path, start: Start, half: &str, epoch: usize) -> PathBuf {
    out.join(start.name()).join(half).join(format!("epoch-{epoch}.safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(start: Start, epoch: usize, gap: f64, barrier: f64, ssr_ab: f64) -> SoupsPoint {
        SoupsPoint {
            start,
            epoch,
            test: CurveSummary {
                split: Split::Test,
                barrier,
                gap,
                accuracy_a: 0.9,
                accuracy_b: 0.9,
                accuracy_mid: 0.9 + gap,
                loss_a: 0.3,
                loss_b: 0.3,
                loss_mid: 0.3 + barrier,
            },
            ssr_ia: ssr_ab,
            ssr_ib: ssr_ab,
            ssr_ab,
            groups: vec![],
            curve: vec![],
        }
    }

    const T: Thresholds = Thresholds { min_spearman: 0.5, barrier: 0.05, min_pretrained_ssr: 0.95 };

    /// The paper's picture: from a random start SSR-AB falls, the gap falls with it and a
    /// barrier grows; fine-tuned pairs keep SSR-AB ≈ 0.98 and fuse.
    fn paper_like() -> Vec<SoupsPoint> {
        vec![
            point(Start::Random, 1, -0.01, 0.01, 0.90),
            point(Start::Random, 5, -0.05, 0.08, 0.75),
            point(Start::Random, 10, -0.20, 0.40, 0.62),
            point(Start::Pretrained, 1, 0.010, 0.0, 0.990),
            point(Start::Pretrained, 5, 0.006, 0.0, 0.985),
            point(Start::Pretrained, 10, 0.004, 0.01, 0.980),
        ]
    }

    #[test]
    fn soups_verdict_passes_on_the_papers_picture() {
        let v = verdict(&paper_like(), &T);
        assert!(v.gap_tracks_ssr_ab && v.random_has_barrier && v.pretrained_keeps_ssr_without_barrier, "{v:?}");
        assert!(v.pass);
        assert_eq!(v.final_barrier_random, 0.40);
    }

    #[test]
    fn soups_verdict_fails_each_claim_on_its_own() {
        // No barrier from the random start at the last checkpoint.
        let mut p = paper_like();
        p[2] = point(Start::Random, 10, -0.20, 0.04, 0.62);
        let v = verdict(&p, &T);
        assert!(!v.random_has_barrier && !v.pass, "{v:?}");
        // A fine-tuned pair loses sign agreement (SSR-AB 0.94 ≤ 0.95).
        let mut p = paper_like();
        p[5] = point(Start::Pretrained, 10, 0.004, 0.01, 0.94);
        let v = verdict(&p, &T);
        assert!(!v.pretrained_keeps_ssr_without_barrier && !v.pass, "{v:?}");
        // A fine-tuned pair with a barrier.
        let mut p = paper_like();
        p[4] = point(Start::Pretrained, 5, 0.006, 0.06, 0.985);
        assert!(!verdict(&p, &T).pass);
        // The gap runs against SSR-AB.
        let p: Vec<SoupsPoint> = paper_like()
            .into_iter()
            .map(|mut q| {
                q.test.gap = -q.test.gap;
                q
            })
            .collect();
        let v = verdict(&p, &T);
        assert!(!v.gap_tracks_ssr_ab && !v.pass, "{v:?}");
        // No pre-trained points at all: claim (3) cannot hold.
        let v = verdict(&paper_like()[..3], &T);
        assert!(!v.pretrained_keeps_ssr_without_barrier);
    }

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
