//! Many directions per run: the spec, its expansion into curves, and the aggregation over
//! repeated seeds.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use valley::noise::{self, Context, DirectionSpec, Noise, Norm, SignMode};
use valley::params::{Group, Params};

use valley_base::csv::{CsvWriter, LineEnd};
use valley_base::stats::Interval;

use crate::metrics::{CurveMetrics, MetricIntervals, Threshold};
use crate::sweep::{Evaluator, Split};
use crate::{Error, Result};

/// Everything that defines the curves of one run (besides checkpoint and data).
#[derive(Clone, Debug)]
pub struct LandscapeSpec {
    pub noises: Vec<Noise>,
    pub signs: Vec<SignMode>,
    pub scales: Vec<f64>,
    pub norm: Norm,
    pub groups: Vec<Group>,
    /// One direction per seed (seed, seed+1, ... for `--repeats`).
    pub seeds: Vec<u64>,
    pub lambdas: Vec<f64>,
    /// Error width threshold δ: v(λ) > v(0) + δ.
    pub error_delta: f64,
    /// Loss width threshold ρ: v(λ) > v(0)·(1 + ρ).
    pub loss_ratio: f64,
}

impl LandscapeSpec {
    /// Parses a direction list: noise names (see [`Noise`]), `all-noise` (the seven
    /// element-wise noises), `special` (ε1..ε6), `diff:A:B`, `file:PATH`.
    pub fn parse_directions(list: &str) -> Result<Vec<Noise>> {
        let mut out: Vec<Noise> = Vec::new();
        for item in list.split(',').map(str::trim) {
            let names: Vec<&str> = match item {
                "all-noise" => Noise::ELEMENTWISE.to_vec(),
                "special" => Noise::SPECIAL.to_vec(),
                "" => return Err(Error::Spec(format!("direction list `{list}` has an empty entry"))),
                other => vec![other],
            };
            for n in names {
                let noise: Noise = n.parse()?;
                if !out.contains(&noise) {
                    out.push(noise);
                }
            }
        }
        Ok(out)
    }

    /// Parses `as-sampled`, `consistent` or `both`, plus optional flip ratios r ∈ [0, 1].
    pub fn parse_signs(sign: Option<&str>, ratios: &[f64]) -> Result<Vec<SignMode>> {
        let mut out = match sign {
            None if !ratios.is_empty() => vec![],
            None | Some("both") => vec![SignMode::AsSampled, SignMode::Consistent],
            Some("as-sampled") => vec![SignMode::AsSampled],
            Some("consistent") => vec![SignMode::Consistent],
            Some(s) => {
                return Err(Error::Spec(format!("unknown sign mode `{s}` (expected as-sampled, consistent or both)")))
            }
        };
        for &r in ratios {
            if !(0.0..=1.0).contains(&r) {
                return Err(Error::Spec(format!("flip ratio {r} is outside [0, 1]")));
            }
            out.push(SignMode::FlipRatio(r));
        }
        Ok(out)
    }

    pub fn validate(&self) -> Result<()> {
        let empty = |what: &str| Err(Error::Spec(format!("no {what} given")));
        if self.noises.is_empty() {
            return empty("direction");
        }
        if self.signs.is_empty() {
            return empty("sign mode");
        }
        if self.scales.is_empty() {
            return empty("scale");
        }
        if self.groups.is_empty() {
            return empty("parameter group");
        }
        if self.seeds.is_empty() {
            return empty("seed");
        }
        if self.lambdas.is_empty() {
            return empty("λ value");
        }
        if let Some(s) = self.scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::Spec(format!("scale {s} must be positive")));
        }
        if self.seeds.len() > 1000 {
            return Err(Error::Spec(format!(
                "{} directions per setting (--repeats) exceed the limit of 1000",
                self.seeds.len()
            )));
        }
        if !(self.error_delta.is_finite() && self.error_delta >= 0.0) {
            return Err(Error::Spec(format!(
                "error width threshold δ (--error-delta) must be a finite number ≥ 0, got {}",
                self.error_delta
            )));
        }
        if !(self.loss_ratio.is_finite() && self.loss_ratio >= 0.0) {
            return Err(Error::Spec(format!(
                "loss width ratio ρ (--loss-ratio) must be a finite number ≥ 0, got {}",
                self.loss_ratio
            )));
        }
        Ok(())
    }

    /// The directions of the run, in output order (group, noise, sign, scale, seed). Seeds
    /// are collapsed to the first for directions that involve no randomness (special
    /// directions, diff, file with as-sampled or consistent signs).
    pub fn directions(&self) -> Vec<DirectionSpec> {
        let mut out = Vec::new();
        for group in &self.groups {
            for noise in &self.noises {
                for &sign in &self.signs {
                    for &scale in &self.scales {
                        let random = is_random(noise, sign);
                        let seeds = if random { &self.seeds[..] } else { &self.seeds[..1] };
                        for &seed in seeds {
                            out.push(DirectionSpec {
                                noise: noise.clone(),
                                sign,
                                norm: self.norm,
                                scale,
                                group: group.clone(),
                                seed,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// The spec as recorded in `summary.json`.
    pub fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "directions": self.noises.iter().map(noise_id).collect::<Vec<_>>(),
            "signs": self.signs.iter().map(|s| s.label()).collect::<Vec<_>>(),
            "scales": self.scales,
            "norm": self.norm.label(),
            "groups": self.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            "seeds": self.seeds,
            "lambdas": self.lambdas,
            "width_threshold": { "error": Threshold::Absolute(self.error_delta), "loss": Threshold::Relative(self.loss_ratio) },
            "curvature": "2a of the least-squares fit a·λ² + b·λ + c on each side, λ=0 included",
            "asymmetry": "(mean_minus − mean_plus) / (mean_minus + mean_plus)",
        })
    }
}

/// Whether a direction changes with the seed.
pub fn is_random(noise: &Noise, sign: SignMode) -> bool {
    matches!(sign, SignMode::FlipRatio(_)) || Noise::ELEMENTWISE.contains(&noise.to_string().as_str())
}

/// A noise's identifier in outputs (`diff:A:B` and `file:PATH` keep their paths).
pub fn noise_id(n: &Noise) -> String {
    match n {
        Noise::Diff(a, b) => format!("diff:{}:{}", a.display(), b.display()),
        Noise::File(p) => format!("file:{}", p.display()),
        other => other.to_string(),
    }
}

/// The file a direction is saved to, e.g. `direction-gaussian-consistent-s1.safetensors`;
/// the group (if not ALL) and the seed (if the run has several) are appended.
pub fn direction_file(spec: &DirectionSpec, many_seeds: bool) -> String {
    let mut name = format!("direction-{}", spec.label());
    if !matches!(spec.group, Group::All) {
        let g: String = spec
            .group
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        name.push_str(&format!("-{g}"));
    }
    if many_seeds {
        name.push_str(&format!("-seed{}", spec.seed));
    }
    name + ".safetensors"
}

/// What tells the curves of a run apart, the seed aside: a curve's direction, sign mode,
/// scale, parameter group and split. Written to CSV/JSON as `noise_id`, the sign mode's
/// label and the group's name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurveKey {
    #[serde(serialize_with = "as_noise_id")]
    pub direction: Noise,
    #[serde(serialize_with = "as_sign_label")]
    pub sign: SignMode,
    pub scale: f64,
    #[serde(serialize_with = "as_display")]
    pub group: Group,
    pub split: Split,
}

impl CurveKey {
    /// The key of `spec`'s curve on `split`.
    pub fn of(spec: &DirectionSpec, split: Split) -> Self {
        Self { direction: spec.noise.clone(), sign: spec.sign, scale: spec.scale, group: spec.group.clone(), split }
    }

    /// The direction's identifier ([`noise_id`]).
    pub fn direction_id(&self) -> String {
        noise_id(&self.direction)
    }
}

fn as_noise_id<S: Serializer>(n: &Noise, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&noise_id(n))
}

fn as_sign_label<S: Serializer>(m: &SignMode, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&m.label())
}

fn as_display<S: Serializer>(g: &Group, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(g)
}

/// One curve: a direction evaluated over the λ grid on one split.
#[derive(Clone, Debug, Serialize)]
pub struct Curve {
    #[serde(flatten)]
    pub key: CurveKey,
    pub seed: u64,
    /// ‖d‖ over all parameters.
    pub direction_norm: f64,
    /// The saved direction, if any.
    pub file: Option<PathBuf>,
    pub lambdas: Vec<f64>,
    pub loss: Vec<f64>,
    pub error: Vec<f64>,
    pub error_metrics: CurveMetrics,
    pub loss_metrics: CurveMetrics,
}

/// Progress of a run, for the caller to display.
pub enum Event<'a> {
    Direction { index: usize, total: usize, spec: &'a DirectionSpec },
    Point { lambda: f64 },
}

/// Builds every direction of `spec` around the evaluator's θf and sweeps it. `save_dir`
/// writes each direction as safetensors with the model's parameter names.
pub fn run(
    spec: &LandscapeSpec,
    eval: &mut Evaluator,
    ctx: &Context,
    save_dir: Option<&Path>,
    extra_meta: &[(String, String)],
    on_event: &mut dyn FnMut(Event),
) -> Result<Vec<Curve>> {
    spec.validate()?;
    let dirs = spec.directions();
    let many_seeds = spec.seeds.len() > 1;
    let mut curves = Vec::new();
    // Parameter groups are checked before any evaluation, so a bad regex fails fast.
    for g in &spec.groups {
        g.mask(eval.model())?;
    }
    for (i, ds) in dirs.iter().enumerate() {
        on_event(Event::Direction { index: i, total: dirs.len(), spec: ds });
        let d = noise::direction(ds, eval.theta(), eval.model(), ctx)?;
        let file = match save_dir {
            Some(dir) => {
                let path = dir.join(direction_file(ds, many_seeds));
                save_direction(&path, &d, ds, extra_meta)?;
                Some(path)
            }
            None => None,
        };
        let base = eval.at(&[]);
        let points: Vec<_> = spec
            .lambdas
            .iter()
            .map(|&l| {
                on_event(Event::Point { lambda: l });
                eval.at(&[(&d, l)])
            })
            .collect();
        let norm = d.norm(None);
        for (k, (split, base_eval)) in base.per_split.iter().enumerate() {
            let loss: Vec<f64> = points.iter().map(|p| p.per_split[k].1.loss).collect();
            let error: Vec<f64> = points.iter().map(|p| p.per_split[k].1.error()).collect();
            curves.push(Curve {
                key: CurveKey::of(ds, *split),
                seed: ds.seed,
                direction_norm: norm,
                file: file.clone(),
                error_metrics: CurveMetrics::compute(
                    &spec.lambdas,
                    &error,
                    base_eval.error(),
                    Threshold::Absolute(spec.error_delta),
                ),
                loss_metrics: CurveMetrics::compute(
                    &spec.lambdas,
                    &loss,
                    base_eval.loss,
                    Threshold::Relative(spec.loss_ratio),
                ),
                lambdas: spec.lambdas.clone(),
                loss,
                error,
            });
        }
    }
    eval.restore();
    Ok(curves)
}

/// Writes a direction with the model's parameter names and the spec in the metadata.
pub fn save_direction(path: &Path, d: &Params, ds: &DirectionSpec, extra: &[(String, String)]) -> Result<()> {
    let tensors: Vec<(String, tch::Tensor)> =
        d.names.iter().cloned().zip(d.tensors.iter().map(|t| t.to_device(tch::Device::Cpu))).collect();
    let mut meta: std::collections::HashMap<String, String> =
        valley_base::RunMeta::new().to_pairs().into_iter().collect();
    meta.extend(extra.iter().cloned());
    meta.insert("format".into(), "valley-direction/1".into());
    meta.insert("direction".into(), noise_id(&ds.noise));
    meta.insert("sign".into(), ds.sign.label());
    meta.insert("norm".into(), ds.norm.label().into());
    meta.insert("scale".into(), ds.scale.to_string());
    meta.insert("group".into(), ds.group.to_string());
    meta.insert("seed".into(), ds.seed.to_string());
    valley::checkpoint::save_tensors(path, &tensors, meta)?;
    Ok(())
}

/// Curves of one [`CurveKey`] over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Aggregate {
    #[serde(flatten)]
    pub key: CurveKey,
    pub seeds: Vec<u64>,
    pub lambdas: Vec<f64>,
    /// Per-λ mean and 95 % interval of the error and the loss.
    pub error: Vec<Interval>,
    pub loss: Vec<Interval>,
    /// Each metric's mean and 95 % interval over the seeds.
    pub error_metrics: MetricIntervals,
    pub loss_metrics: MetricIntervals,
}

/// Groups curves that differ only in the seed (keeping first-appearance order).
pub fn aggregate(curves: &[Curve]) -> Vec<Aggregate> {
    let mut groups: Vec<(&CurveKey, Vec<&Curve>)> = Vec::new();
    for c in curves {
        match groups.iter_mut().find(|(k, _)| **k == c.key) {
            Some((_, cs)) => cs.push(c),
            None => groups.push((&c.key, vec![c])),
        }
    }
    groups
        .into_iter()
        .map(|(key, cs)| {
            let first = cs[0];
            let per_lambda = |get: &dyn Fn(&Curve) -> &Vec<f64>| -> Vec<Interval> {
                (0..first.lambdas.len())
                    .map(|i| {
                        let vals: Vec<Option<f64>> = cs.iter().map(|c| Some(get(c)[i])).collect();
                        Interval::of(&vals).unwrap_or(Interval { mean: f64::NAN, lo: None, hi: None, n: 0 })
                    })
                    .collect()
            };
            let metrics = |get: &dyn Fn(&Curve) -> &CurveMetrics| {
                MetricIntervals::of(&cs.iter().map(|c| get(c)).collect::<Vec<_>>())
            };
            Aggregate {
                key: key.clone(),
                seeds: cs.iter().map(|c| c.seed).collect(),
                lambdas: first.lambdas.clone(),
                error: per_lambda(&|c| &c.error),
                loss: per_lambda(&|c| &c.loss),
                error_metrics: metrics(&|c| &c.error_metrics),
                loss_metrics: metrics(&|c| &c.loss_metrics),
            }
        })
        .collect()
}

/// The columns of `curves.csv`. `base_loss`/`base_error` are θf's values (λ = 0), which the
/// curve metrics need whether or not the grid holds 0.
const CURVES_HEADER: [&str; 12] = [
    "direction",
    "sign",
    "scale",
    "group",
    "seed",
    "lambda",
    "split",
    "loss",
    "error",
    "base_loss",
    "base_error",
    "direction_norm",
];

/// Writes `curves.csv`: one row per direction × sign × scale × group × seed × λ × split.
pub fn write_curves_csv(path: &Path, curves: &[Curve]) -> Result<()> {
    let mut w = CsvWriter::new(path, CURVES_HEADER, LineEnd::Lf)?;
    for c in curves {
        for (i, l) in c.lambdas.iter().enumerate() {
            w.row([
                c.key.direction_id(),
                c.key.sign.label(),
                c.key.scale.to_string(),
                c.key.group.to_string(),
                c.seed.to_string(),
                l.to_string(),
                c.key.split.to_string(),
                format!("{:.8}", c.loss[i]),
                format!("{:.8}", c.error[i]),
                format!("{:.8}", c.loss_metrics.base),
                format!("{:.8}", c.error_metrics.base),
                c.direction_norm.to_string(),
            ])?;
        }
    }
    Ok(w.finish()?)
}

/// One row of `curves.csv` as read back; the base and norm columns are absent in files
/// written before they existed.
#[derive(serde::Deserialize)]
struct CurveRow {
    direction: String,
    sign: String,
    scale: f64,
    group: String,
    seed: u64,
    lambda: f64,
    split: String,
    loss: f64,
    error: f64,
    base_loss: Option<f64>,
    base_error: Option<f64>,
    direction_norm: Option<f64>,
}

/// Reads the curves of `curves.csv` back, recomputing their metrics with the width thresholds
/// of the run that wrote it (`error_delta`, `loss_ratio`). θf's values come from the base
/// columns, or, in older files, from the row at λ = 0.
pub fn read_curves_csv(path: &Path, error_delta: f64, loss_ratio: f64) -> Result<Vec<Curve>> {
    let read_err = |source| Error::CsvRead { path: path.to_path_buf(), source };
    let mut r = csv::Reader::from_path(path).map_err(read_err)?;
    let mut curves: Vec<(CurveKey, u64, f64, Vec<CurveRow>)> = Vec::new();
    for row in r.deserialize::<CurveRow>() {
        let row = row.map_err(read_err)?;
        let key = CurveKey {
            direction: row.direction.parse()?,
            sign: SignMode::from_label(&row.sign)?,
            scale: row.scale,
            group: row.group.parse()?,
            split: row.split.parse()?,
        };
        match curves.iter_mut().find(|(k, s, _, _)| *k == key && *s == row.seed) {
            Some((_, _, _, rows)) => rows.push(row),
            None => curves.push((key, row.seed, row.direction_norm.unwrap_or(f64::NAN), vec![row])),
        }
    }
    curves
        .into_iter()
        .map(|(key, seed, direction_norm, rows)| {
            let base = |of: fn(&CurveRow) -> Option<f64>, value: fn(&CurveRow) -> f64| {
                rows.first().and_then(of).or_else(|| rows.iter().find(|r| r.lambda == 0.0).map(value)).ok_or_else(
                    || {
                        Error::Spec(format!(
                            "{}: no θf value for {} (no base column and no λ = 0 row)",
                            path.display(),
                            key.direction_id()
                        ))
                    },
                )
            };
            let (base_loss, base_error) = (base(|r| r.base_loss, |r| r.loss)?, base(|r| r.base_error, |r| r.error)?);
            let lambdas: Vec<f64> = rows.iter().map(|r| r.lambda).collect();
            let loss: Vec<f64> = rows.iter().map(|r| r.loss).collect();
            let error: Vec<f64> = rows.iter().map(|r| r.error).collect();
            Ok(Curve {
                error_metrics: CurveMetrics::compute(&lambdas, &error, base_error, Threshold::Absolute(error_delta)),
                loss_metrics: CurveMetrics::compute(&lambdas, &loss, base_loss, Threshold::Relative(loss_ratio)),
                key,
                seed,
                direction_norm,
                file: None,
                lambdas,
                loss,
                error,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(sign: SignMode, seed: u64, error: Vec<f64>) -> Curve {
        let lambdas = vec![-1.0, -0.5, 0.5, 1.0];
        let loss: Vec<f64> = error.iter().map(|e| 2.0 * e).collect();
        Curve {
            key: CurveKey { direction: Noise::Gaussian, sign, scale: 0.2, group: Group::Bn, split: Split::Test },
            seed,
            direction_norm: 3.5,
            file: None,
            error_metrics: CurveMetrics::compute(&lambdas, &error, 0.1, Threshold::Absolute(0.05)),
            loss_metrics: CurveMetrics::compute(&lambdas, &loss, 0.2, Threshold::Relative(0.5)),
            lambdas,
            loss,
            error,
        }
    }

    #[test]
    fn curves_csv_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.csv");
        let written = vec![
            curve(SignMode::Consistent, 0, vec![0.5, 0.3, 0.12, 0.15]),
            curve(SignMode::FlipRatio(0.3), 1, vec![0.4, 0.2, 0.2, 0.4]),
        ];
        write_curves_csv(&path, &written).unwrap();
        let read = read_curves_csv(&path, 0.05, 0.5).unwrap();
        assert_eq!(read.len(), 2);
        for (w, r) in written.iter().zip(&read) {
            assert_eq!(w.key, r.key);
            assert_eq!((w.seed, w.direction_norm), (r.seed, r.direction_norm));
            assert_eq!(w.lambdas, r.lambdas);
            assert_eq!(w.error_metrics, r.error_metrics);
            assert_eq!(w.loss_metrics, r.loss_metrics);
        }
    }

    #[test]
    fn curves_csv_without_base_columns_needs_a_zero_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.csv");
        let head = "direction,sign,scale,group,seed,lambda,split,loss,error\n";
        std::fs::write(
            &path,
            format!("{head}gaussian,consistent,1,ALL,0,-1,test,2.0,0.5\ngaussian,consistent,1,ALL,0,0,test,0.3,0.1\n"),
        )
        .unwrap();
        let read = read_curves_csv(&path, 0.05, 0.5).unwrap();
        assert_eq!(read[0].error_metrics.base, 0.1);
        std::fs::write(&path, format!("{head}gaussian,consistent,1,ALL,0,-1,test,2.0,0.5\n")).unwrap();
        let err = read_curves_csv(&path, 0.05, 0.5).unwrap_err().to_string();
        assert!(err.contains("no θf value"), "{err}");
    }
}
