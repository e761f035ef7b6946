//! Training trajectories on a plane: the models of a run (θ0, the epoch checkpoints of
//! `--save-epochs`, the final model) as points `θ_e − θf` in parameter space, the plane of
//! their top two principal directions, and each model's coordinates on a plane.
//!
//! PCA follows loss-landscape (`setup_PCA_directions`, sklearn's `PCA`): the rows
//! `x_e = θ_e − θf` (flattened learnable parameters of the chosen group; θf itself left
//! out, as loss-landscape leaves out the final model) are centred, `x̃_e = x_e − x̄`, and the
//! principal directions are the top eigenvectors of their covariance. They are found through
//! the n×n Gram matrix `G = X̃ X̃ᵀ` (n models, N parameters): with `G v_k = λ_k v_k`,
//! `u_k = X̃ᵀ v_k / √λ_k` is a unit eigenvector of `X̃ᵀX̃` with the same eigenvalue, so memory
//! stays n² + n·N instead of N². Axis k explains `λ_k / tr G` of the variance (sklearn's
//! `explained_variance_ratio_`); for any unit axis û the same ratio is
//! `Σ_e ⟨x̃_e, û⟩² / Σ_e ‖x̃_e‖²`, which is what [`explained_by`] reports for given
//! directions. Coordinates are least-squares ones, `(α, β) = argmin ‖x_e − α·d₁ − β·d₂‖`,
//! uncentred so that θf sits at (0, 0) (loss-landscape's `project_trajectory`).

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use valley::checkpoint::Checkpoint;
use valley::params::Params;
use valley::train::RunDir;
use valley::Model;
use valley_base::csv::{CsvWriter, LineEnd};

use crate::{Error, Result};

/// One model of a run, in training order.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// `init`, `epoch N` or `final`.
    pub label: String,
    /// 0 for θ0, N for `epoch-N.safetensors`; `None` for the final model.
    pub epoch: Option<usize>,
    pub path: PathBuf,
}

/// The models of the run folder `run`: `init.safetensors` (when present), every
/// `epoch-N.safetensors` by N, and `final.safetensors` (when present). At least two epoch
/// checkpoints are required, else [`Error::Trajectory`] says how to make them.
pub fn snapshots(run: &Path) -> Result<Vec<Snapshot>> {
    let traj_err = |detail: String| Error::Trajectory { dir: run.to_path_buf(), detail };
    if !run.is_dir() {
        return Err(traj_err("is not a run folder; pass the --out folder of `valley train --save-epochs …`".into()));
    }
    let entries = std::fs::read_dir(run).map_err(|e| traj_err(format!("cannot be listed ({e})")))?;
    let mut epochs: Vec<(usize, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| traj_err(format!("cannot be listed ({e})")))?;
        let name = entry.file_name();
        let epoch = name
            .to_str()
            .and_then(|n| n.strip_prefix("epoch-"))
            .and_then(|n| n.strip_suffix(".safetensors"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(e) = epoch {
            epochs.push((e, entry.path()));
        }
    }
    epochs.sort();
    if epochs.len() < 2 {
        return Err(traj_err(format!(
            "has {} epoch checkpoint{} (epoch-N.safetensors); a trajectory needs at least two: train with \
             --save-epochs, e.g. `valley train … --epochs 10 --save-epochs 1,2,3,4,5,6,7,8,9,10 --out {}`",
            epochs.len(),
            if epochs.len() == 1 { "" } else { "s" },
            run.display()
        )));
    }
    let dir = RunDir::new(run);
    let mut out = Vec::with_capacity(epochs.len() + 2);
    if dir.init().exists() {
        out.push(Snapshot { label: "init".into(), epoch: Some(0), path: dir.init() });
    }
    out.extend(epochs.into_iter().map(|(e, path)| Snapshot { label: format!("epoch {e}"), epoch: Some(e), path }));
    if dir.final_().exists() {
        out.push(Snapshot { label: "final".into(), epoch: None, path: dir.final_() });
    }
    Ok(out)
}

/// A run's models as rows `x_e = θ_e − θf` over the learnable parameters in a group.
pub struct Trajectory {
    pub snapshots: Vec<Snapshot>,
    /// n × N, f32 on the CPU: row e is `θ_e − θf` flattened over the group's tensors.
    pub rows: Tensor,
}

impl Trajectory {
    /// Reads each snapshot into `model`'s parameter layout and subtracts θf = `theta`,
    /// keeping the tensors selected by `mask`. The final model is dropped when it equals the
    /// last epoch checkpoint (the usual case: `--save-epochs` includes the last epoch).
    pub fn load(snapshots: Vec<Snapshot>, theta: &Params, model: &Model, mask: &[bool]) -> Result<Self> {
        let flat_theta = theta.flat(Some(mask)).to_device(Device::Cpu);
        let mut kept: Vec<Snapshot> = Vec::with_capacity(snapshots.len());
        let mut rows: Vec<Tensor> = Vec::with_capacity(snapshots.len());
        for s in snapshots {
            let ck = Checkpoint::read(&s.path)?;
            let source = s.path.display().to_string();
            let p = Params::from_named(model, |n| ck.tensors.get(n).map(|t| t.shallow_clone()), &source)?;
            let flat = p.flat(Some(mask)).to_device(Device::Cpu);
            if s.epoch.is_none() && rows.last().is_some_and(|r: &Tensor| r.equal(&(&flat - &flat_theta))) {
                continue;
            }
            rows.push(&flat - &flat_theta);
            kept.push(s);
        }
        Ok(Self { snapshots: kept, rows: Tensor::stack(&rows, 0) })
    }

    /// The rows PCA is fitted on: every model but θf itself (a zero row).
    pub fn pca_rows(&self) -> Tensor {
        let nonzero: Vec<i64> =
            (0..self.rows.size()[0]).filter(|&i| self.rows.get(i).abs().max().double_value(&[]) > 0.0).collect();
        self.rows.index_select(0, &Tensor::from_slice(&nonzero))
    }
}

/// Principal directions of a set of rows.
pub struct Pca {
    /// Unit directions (N, f64 on the CPU), largest variance first; fewer than asked when the
    /// centred rows span fewer dimensions (eigenvalues below 10⁻¹⁰·λ₁ count as zero).
    pub components: Vec<Tensor>,
    /// `λ_k / Σ_j λ_j` for each component.
    pub explained: Vec<f64>,
    /// `Σ_e ‖x̃_e‖²`, the sum of squared distances to the mean row.
    pub total: f64,
}

/// Columns per chunk when a product runs over the N parameters: chunks of n × 2²⁴/n f64
/// (128 MiB) keep the f64 copies small whatever N is.
fn chunk_len(n: i64) -> i64 {
    ((1i64 << 24) / n.max(1)).max(1)
}

/// Calls `f(offset, chunk)` on the centred rows `x̃` (n × len, f64), chunk by chunk of columns.
fn for_centred_chunks(rows: &Tensor, mut f: impl FnMut(i64, Tensor)) {
    let (n, big_n) = (rows.size()[0], rows.size()[1]);
    let step = chunk_len(n);
    let mut start = 0;
    while start < big_n {
        let len = step.min(big_n - start);
        let x = rows.narrow(1, start, len).to_kind(Kind::Double);
        let centred = &x - x.mean_dim(0i64, true, Kind::Double);
        f(start, centred);
        start += len;
    }
}

/// The top `k` principal directions of `rows` (n × N) via the centred Gram matrix (see the
/// module doc). Each direction's sign is chosen so that the first row has a coordinate ≤ 0
/// on it (training starts on the negative side and ends near the origin). Errors when there
/// are fewer than two rows or all rows are equal.
pub fn pca(rows: &Tensor, k: usize) -> Result<Pca> {
    let n = rows.size()[0];
    if n < 2 {
        return Err(Error::Spec(format!("PCA needs at least two models other than θf, got {n}")));
    }
    let mut gram = Tensor::zeros([n, n], (Kind::Double, Device::Cpu));
    for_centred_chunks(rows, |_, c| gram += c.mm(&c.tr()));
    let (values, vectors) = gram.linalg_eigh("L");
    let values: Vec<f64> = Vec::<f64>::try_from(&values).unwrap_or_default();
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let top = values.iter().copied().fold(0.0f64, f64::max);
    if top.is_nan() || top <= 0.0 {
        return Err(Error::Spec("every model of the trajectory is the same point; PCA has no direction".into()));
    }
    // eigh sorts eigenvalues ascending: the top ones are the last columns.
    let picked: Vec<(usize, f64)> =
        (0..values.len()).rev().map(|i| (i, values[i])).take(k).filter(|&(_, v)| v > 1e-10 * top).collect();
    let big_n = rows.size()[1];
    let mut components = Vec::with_capacity(picked.len());
    let mut explained = Vec::with_capacity(picked.len());
    for &(i, lambda) in &picked {
        let v = vectors.select(1, i as i64).unsqueeze(1);
        let mut u = Tensor::zeros([big_n], (Kind::Double, Device::Cpu));
        for_centred_chunks(rows, |start, c| {
            let part = c.tr().mm(&v).squeeze_dim(1) / lambda.sqrt();
            u.narrow(0, start, part.size()[0]).copy_(&part);
        });
        let first = rows.get(0).to_kind(Kind::Double).dot(&u).double_value(&[]);
        if first > 0.0 {
            u = -u;
        }
        components.push(u);
        explained.push(lambda / total);
    }
    Ok(Pca { components, explained, total })
}

/// The fraction of the centred rows' variance along `axis` (any non-zero N vector):
/// `Σ_e ⟨x̃_e, û⟩² / Σ_e ‖x̃_e‖²`, with `û = axis / ‖axis‖`. For a principal direction it is
/// its `λ_k / Σ λ`. `NaN` when the rows are all equal or the axis is zero.
pub fn explained_by(rows: &Tensor, axis: &Tensor) -> f64 {
    let axis = axis.to_kind(Kind::Double).to_device(Device::Cpu);
    let norm = axis.norm().double_value(&[]);
    let (mut along, mut total) = (Tensor::zeros([rows.size()[0]], (Kind::Double, Device::Cpu)), 0.0);
    for_centred_chunks(rows, |start, c| {
        along += c.mv(&axis.narrow(0, start, c.size()[1]));
        total += c.square().sum(Kind::Double).double_value(&[]);
    });
    along.square().sum(Kind::Double).double_value(&[]) / (norm * norm) / total
}

/// A model's place relative to a plane through θf spanned by `d₁`, `d₂`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coordinates {
    /// Least-squares coefficients: `x ≈ α·d₁ + β·d₂`.
    pub alpha: f64,
    pub beta: f64,
    /// `‖x‖ = ‖θ − θf‖` over the group.
    pub distance: f64,
    /// `‖α·d₁ + β·d₂‖² / ‖x‖²`: how much of `θ − θf` lies in the plane (1 for θf itself).
    pub in_plane: f64,
}

/// The least-squares coordinates of each row on the plane of `d1`, `d2` (N vectors): the
/// solution of the 2×2 normal equations `[dᵢ·dⱼ] (α, β)ᵀ = (d₁·x, d₂·x)ᵀ`. For orthonormal
/// directions (a PCA basis) these are the dot products. Errors when the directions are
/// (nearly) parallel.
pub fn project(rows: &Tensor, d1: &Tensor, d2: &Tensor) -> Result<Vec<Coordinates>> {
    let (d1, d2) = (d1.to_kind(Kind::Double).to_device(Device::Cpu), d2.to_kind(Kind::Double).to_device(Device::Cpu));
    let dot = |a: &Tensor, b: &Tensor| a.dot(b).double_value(&[]);
    let (g11, g12, g22) = (dot(&d1, &d1), dot(&d1, &d2), dot(&d2, &d2));
    let det = g11 * g22 - g12 * g12;
    if det.is_nan() || det <= 1e-12 * g11 * g22 {
        return Err(Error::Spec(
            "the two plane directions are parallel (or zero) on the trajectory's parameters; choose two \
             different directions"
                .into(),
        ));
    }
    let mut out = Vec::new();
    for i in 0..rows.size()[0] {
        let x = rows.get(i).to_kind(Kind::Double);
        let (b1, b2, xx) = (dot(&d1, &x), dot(&d2, &x), dot(&x, &x));
        let alpha = (g22 * b1 - g12 * b2) / det;
        let beta = (g11 * b2 - g12 * b1) / det;
        let in_plane_sq = alpha * alpha * g11 + 2.0 * alpha * beta * g12 + beta * beta * g22;
        let in_plane = if xx > 0.0 { in_plane_sq / xx } else { 1.0 };
        out.push(Coordinates { alpha, beta, distance: xx.sqrt(), in_plane });
    }
    Ok(out)
}

/// `u − (u·a) a` normalised: `u` made orthogonal to the unit vector `a` and of unit norm
/// (the second axis when the trajectory is a line and PCA gives one direction). Errors
/// when `u` is parallel to `a`.
pub fn orthonormal_to(u: &Tensor, a: &Tensor) -> Result<Tensor> {
    let u = u.to_kind(Kind::Double).to_device(Device::Cpu);
    let r = &u - a * u.dot(a).double_value(&[]);
    let norm = r.norm().double_value(&[]);
    if norm.is_nan() || norm <= 1e-6 * u.norm().double_value(&[]) {
        return Err(Error::Spec("the fallback second axis is parallel to the first".into()));
    }
    Ok(r / norm)
}

/// The plane a trajectory is drawn on, with every model's coordinates.
pub struct TrajectoryPlane {
    pub trajectory: Trajectory,
    /// The plane's directions as parameter vectors (zero outside the group).
    pub d1: Params,
    pub d2: Params,
    /// `PC1`/`PC2`, or the given directions' labels.
    pub labels: [String; 2],
    /// [`explained_by`] of each axis, on the rows PCA is fitted on.
    pub explained: [f64; 2],
    /// Models PCA is fitted on (all but θf).
    pub fitted_on: usize,
    /// Whether the second axis is the fallback (the models lie on a line, PCA gives one
    /// direction): a random direction made orthogonal to the first.
    pub fallback_second: bool,
    pub coords: Vec<Coordinates>,
}

/// Which directions span a trajectory's plane.
pub enum Axes {
    /// The top two principal directions (unit vectors over the group). `fallback` gives a
    /// second direction when the models lie on a line; it is made orthonormal to the first.
    Pca { fallback: Params },
    /// Two given directions (e.g. from [`valley::noise::direction`]) with their labels.
    Given { d1: Params, d2: Params, labels: [String; 2] },
}

/// Loads the run folder `run`'s models ([`snapshots`]), fits or takes the plane's
/// directions over the parameters selected by `mask`, and projects every model on it.
pub fn trajectory_plane(
    run: &Path,
    theta: &Params,
    model: &Model,
    mask: &[bool],
    axes: Axes,
) -> Result<TrajectoryPlane> {
    let trajectory = Trajectory::load(snapshots(run)?, theta, model, mask)?;
    let fit = trajectory.pca_rows();
    let fitted_on = fit.size()[0] as usize;
    if fitted_on < 2 {
        return Err(Error::Trajectory {
            dir: run.to_path_buf(),
            detail: format!(
                "has {fitted_on} model(s) besides θf = the center checkpoint; a plane needs at least two: save more epochs"
            ),
        });
    }
    let (u1, u2, labels, fallback_second) = match axes {
        Axes::Pca { fallback } => {
            let p = pca(&fit, 2)?;
            let u1 = p.components[0].shallow_clone();
            let (u2, fallback_second) = match p.components.get(1) {
                Some(u2) => (u2.shallow_clone(), false),
                None => (orthonormal_to(&fallback.flat(Some(mask)), &u1)?, true),
            };
            (u1, u2, ["PC1".to_string(), "PC2".to_string()], fallback_second)
        }
        Axes::Given { d1, d2, labels } => {
            let flat = |d: &Params| d.flat(Some(mask)).to_kind(Kind::Double).to_device(Device::Cpu);
            (flat(&d1), flat(&d2), labels, false)
        }
    };
    let coords = project(&trajectory.rows, &u1, &u2)?;
    let explained = [explained_by(&fit, &u1), explained_by(&fit, &u2)];
    let (d1, d2) = (theta.unflatten(&u1, Some(mask)), theta.unflatten(&u2, Some(mask)));
    Ok(TrajectoryPlane { trajectory, d1, d2, labels, explained, fitted_on, fallback_second, coords })
}

/// Default grids for a trajectory's plane: `points` values per axis covering every model's
/// coordinate and 0, with 15 % margins; an axis along which the path barely moves is widened
/// to a fifth of the other axis's span so the surface around the path stays visible.
pub fn covering_grid(coords: &[Coordinates], points: usize) -> (Vec<f64>, Vec<f64>) {
    let range = |v: &mut dyn Iterator<Item = f64>| {
        v.chain([0.0]).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    let a = range(&mut coords.iter().map(|c| c.alpha));
    let b = range(&mut coords.iter().map(|c| c.beta));
    let widest = (a.1 - a.0).max(b.1 - b.0).max(f64::MIN_POSITIVE);
    let grid = |(lo, hi): (f64, f64)| {
        let (mid, half) = ((lo + hi) / 2.0, ((hi - lo) / 2.0).max(0.1 * widest) * 1.15);
        let n = points.max(2);
        (0..n).map(|i| mid - half + 2.0 * half * i as f64 / (n - 1) as f64).collect::<Vec<f64>>()
    };
    (grid(a), grid(b))
}

/// Marks for the figure: every model's coordinates; labels on the first, the last and about
/// eight in between (`init`, the epoch number, `final`).
pub fn marks(snapshots: &[Snapshot], coords: &[Coordinates]) -> Vec<valley_report::PathMark> {
    let n = coords.len();
    let every = n.div_ceil(8).max(1);
    snapshots
        .iter()
        .zip(coords)
        .enumerate()
        .map(|(i, (s, c))| {
            let label = if i == 0 || i + 1 == n || i % every == 0 {
                match (s.epoch, s.label.as_str()) {
                    (Some(0), _) | (None, _) => s.label.clone(),
                    (Some(e), _) => e.to_string(),
                }
            } else {
                String::new()
            };
            valley_report::PathMark { x: c.alpha, y: c.beta, label }
        })
        .collect()
}

/// Writes a plane axis `d` to a safetensors file readable as `--directions file:PATH`.
pub fn save_axis(path: &Path, d: &Params, axis: &str, explained: f64) -> Result<()> {
    let tensors: Vec<(String, Tensor)> =
        d.names.iter().cloned().zip(d.tensors.iter().map(|t| t.to_device(Device::Cpu))).collect();
    let mut meta: std::collections::HashMap<String, String> =
        valley_base::RunMeta::new().to_pairs().into_iter().collect();
    meta.insert("format".into(), "valley-direction/1".into());
    meta.insert("direction".into(), axis.into());
    meta.insert("explained_variance".into(), explained.to_string());
    valley::checkpoint::save_tensors(path, &tensors, meta)?;
    Ok(())
}

const CSV_HEADER: [&str; 7] = ["label", "epoch", "file", "alpha", "beta", "distance", "in_plane"];

/// Writes `trajectory.csv`: one row per model with its plane coordinates.
pub fn write_csv(path: &Path, snapshots: &[Snapshot], coords: &[Coordinates]) -> Result<()> {
    let mut w = CsvWriter::new(path, CSV_HEADER, LineEnd::Lf)?;
    for (s, c) in snapshots.iter().zip(coords) {
        w.row([
            s.label.clone(),
            s.epoch.map(|e| e.to_string()).unwrap_or_default(),
            s.path.display().to_string(),
            format!("{:.8e}", c.alpha),
            format!("{:.8e}", c.beta),
            format!("{:.8e}", c.distance),
            format!("{:.8}", c.in_plane),
        ])?;
    }
    Ok(w.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn randn(n: i64, seed: i64) -> Tensor {
        valley::device::with_seed(seed as u64, || Tensor::randn([n], (Kind::Float, Device::Cpu)))
    }

    #[test]
    fn models_on_a_line_give_one_component_and_proportional_coordinates() {
        let v = randn(5000, 1);
        let ts = [-3.0, -2.2, -1.5, -0.7, -0.2, 0.0];
        let rows = Tensor::stack(&ts.map(|t| &v * t), 0);
        let traj = Trajectory { snapshots: vec![], rows };
        let fit = traj.pca_rows();
        assert_eq!(fit.size()[0], 5, "θf (t = 0) is left out of the fit");
        let p = pca(&fit, 2).unwrap();
        assert_eq!(p.components.len(), 1, "a line has one direction, got {:?}", p.explained);
        assert!(p.explained[0] >= 1.0 - 1e-6, "explained {:?}", p.explained);
        let u = &p.components[0];
        assert!((u.norm().double_value(&[]) - 1.0).abs() < 1e-9);
        let other = orthonormal_to(&randn(5000, 2), u).unwrap();
        let coords = project(&traj.rows, u, &other).unwrap();
        let scale = coords[0].alpha / ts[0];
        assert!(scale > 0.0, "the first model lies on the negative side");
        for (c, t) in coords.iter().zip(ts) {
            assert!((c.alpha - scale * t).abs() < 1e-4 * scale.abs(), "α {} not ∝ t {t}", c.alpha);
            assert!(c.beta.abs() < 1e-4 * scale.abs(), "β {} off the line", c.beta);
            assert!((c.in_plane - 1.0).abs() < 1e-6);
        }
        let norm_v = v.norm().double_value(&[]);
        assert!((scale - norm_v).abs() < 1e-4 * norm_v, "α = t·‖v‖: {scale} vs {norm_v}");
        assert!((explained_by(&fit, u) - p.explained[0]).abs() < 1e-9);
        assert!(explained_by(&fit, &other) < 1e-9);
    }

    #[test]
    fn models_in_a_plane_give_two_components_that_explain_everything() {
        let (a, b) = (randn(3000, 3), randn(3000, 4) * 0.3);
        let pts = [(1.0, 0.0), (0.5, 1.0), (-0.5, 2.0), (-1.0, -1.0), (0.2, 0.3), (0.0, 0.0)];
        let rows = Tensor::stack(&pts.map(|(s, t)| &a * s + &b * t), 0);
        let traj = Trajectory { snapshots: vec![], rows };
        let fit = traj.pca_rows();
        let p = pca(&fit, 3).unwrap();
        assert_eq!(p.components.len(), 2, "a plane has two directions: {:?}", p.explained);
        let sum: f64 = p.explained.iter().sum();
        assert!(sum >= 1.0 - 1e-6, "explained {:?}", p.explained);
        assert!(p.explained[0] >= p.explained[1] && p.explained[1] > 0.0);
        let (u1, u2) = (&p.components[0], &p.components[1]);
        assert!(u1.dot(u2).double_value(&[]).abs() < 1e-9, "components are orthogonal");
        for (k, u) in p.components.iter().enumerate() {
            assert!((explained_by(&fit, u) - p.explained[k]).abs() < 1e-9);
        }
        // Every model lies in the plane, and its coordinates rebuild it.
        let coords = project(&traj.rows, u1, u2).unwrap();
        for (i, c) in coords.iter().enumerate() {
            assert!((c.in_plane - 1.0).abs() < 1e-6, "model {i} in plane {}", c.in_plane);
            let rebuilt = u1 * c.alpha + u2 * c.beta;
            let err = (rebuilt - traj.rows.get(i as i64).to_kind(Kind::Double)).norm().double_value(&[]);
            assert!(err < 1e-4 * (1.0 + c.distance), "model {i} rebuilt with error {err}");
        }
        // The given pair (a, b) spans the same plane: the coordinates are the (s, t) used.
        let given = project(&traj.rows, &a, &b).unwrap();
        for (c, (s, t)) in given.iter().zip(pts) {
            assert!((c.alpha - s).abs() < 1e-5 && (c.beta - t).abs() < 1e-5, "{c:?} vs ({s}, {t})");
        }
    }

    #[test]
    fn degenerate_inputs_are_refused() {
        let v = randn(100, 5);
        let same = Tensor::stack(&[&v, &v], 0);
        assert!(matches!(pca(&same, 2), Err(Error::Spec(m)) if m.contains("same point")));
        assert!(matches!(pca(&v.unsqueeze(0), 2), Err(Error::Spec(m)) if m.contains("at least two")));
        assert!(matches!(project(&same, &v, &(&v * 2.0)), Err(Error::Spec(m)) if m.contains("parallel")));
        let u = &v / v.norm();
        assert!(orthonormal_to(&(&v * 3.0), &u.to_kind(Kind::Double)).is_err());
    }

    #[test]
    fn run_folders_without_two_epoch_checkpoints_are_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for f in ["init.safetensors", "final.safetensors", "epoch-3.safetensors"] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        match snapshots(dir) {
            Err(Error::Trajectory { dir: d, detail }) => {
                assert_eq!(d, dir);
                assert!(detail.contains("1 epoch checkpoint ") && detail.contains("--save-epochs"), "{detail}");
            }
            other => panic!("expected Error::Trajectory, got {other:?}"),
        }
        std::fs::write(dir.join("epoch-10.safetensors"), b"").unwrap();
        let s = snapshots(dir).unwrap();
        let labels: Vec<&str> = s.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["init", "epoch 3", "epoch 10", "final"], "epochs sort by number, not by name");
        assert_eq!(s[2].epoch, Some(10));
        assert!(matches!(snapshots(&dir.join("nope")), Err(Error::Trajectory { .. })));
    }
}
