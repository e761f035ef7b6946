//! Merging models: uniform (weighted) soups, greedy soups, task arithmetic and TIES, with
//! per-group sign-conflict statistics; [`run`] merges checkpoints as `valley merge` does.

use serde::{Deserialize, Serialize};
use valley::models::Role;
use valley::params::Params;
use valley::{Kind, Model, Tensor};

mod run;

pub use run::{run, GreedyOutcome, Inputs, MergeReport, MergeSpec, Method};

use crate::ssr::groups_of;
use crate::{Error, Result};

/// Normalises weights to sum 1 (`None` = equal weights).
pub fn normalise_weights(n: usize, weights: Option<&[f64]>) -> Result<Vec<f64>> {
    let w = match weights {
        None => vec![1.0; n],
        Some(w) if w.len() != n => return Err(Error::WeightCount { weights: w.len(), models: n }),
        Some(w) => w.to_vec(),
    };
    let sum: f64 = w.iter().sum();
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) || sum <= 0.0 {
        return Err(Error::BadWeights { weights: w });
    }
    Ok(w.iter().map(|x| x / sum).collect())
}

/// Weighted soup `θ = Σi wi·θi` with `Σ wi = 1`.
pub fn weighted_average(models: &[Params], weights: &[f64]) -> Result<Params> {
    let (first, rest) = models.split_first().ok_or(Error::NoModels)?;
    let mut out = first.map(|t| t * weights[0]);
    for (p, &w) in rest.iter().zip(&weights[1..]) {
        out = out.combine(1.0, p, w);
    }
    Ok(out)
}

/// Task vectors `τi = θi − base`.
pub fn task_vectors(base: &Params, models: &[Params]) -> Vec<Params> {
    models.iter().map(|m| m.combine(1.0, base, -1.0)).collect()
}

/// Task arithmetic: `θ = base + λ·Σi (θi − base)`.
pub fn task_arithmetic(base: &Params, models: &[Params], lambda: f64) -> Params {
    let mut out = base.clone();
    for t in task_vectors(base, models) {
        out = out.combine(1.0, &t, lambda);
    }
    out
}

/// TIES-merging options (Yadav et al. 2023).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TiesConfig {
    /// Fraction of each task vector's entries kept by magnitude, in (0, 1] (paper: 0.2).
    pub keep: f64,
    /// Scale of the merged task vector: `θ = base + λ·τm`.
    pub lambda: f64,
}

/// Each element of a stack of vectors `[K, D]` after TIES's three steps.
pub struct TiesStack {
    /// Trimmed task vectors `τ̂i`: entries of τi with `|τi| ≥` its `⌈keep·D⌉`-th largest
    /// magnitude (ties at the threshold are all kept; zeros never are), others 0.
    pub trimmed: Tensor,
    /// Elected sign `γ = sign(Σi τ̂i)` per element (0 where the mass cancels).
    pub elected: Tensor,
    /// Disjoint mean `τm = Σi τ̂i·[sign τ̂i = γ] / #{i : sign τ̂i = γ, τ̂i ≠ 0}` (0 if none).
    pub merged: Tensor,
}

/// TIES on flat task vectors stacked as `[K, D]`.
pub fn ties_flat(tau: &Tensor, keep: f64) -> Result<TiesStack> {
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(Error::BadKeep { keep });
    }
    let d = tau.size()[1];
    let m = ((keep * d as f64).ceil() as i64).clamp(1, d);
    let abs = tau.abs();
    // m-th largest = (D − m + 1)-th smallest.
    let (thr, _) = abs.kthvalue(d - m + 1, 1, true);
    let mask = abs.ge_tensor(&thr).logical_and(&abs.gt(0.0));
    let trimmed = tau * mask.to_kind(tau.kind());
    let elected = trimmed.sum_dim_intlist(0, false, tau.kind()).sign();
    let agree = trimmed.sign().eq_tensor(&elected.unsqueeze(0)).logical_and(&trimmed.ne(0.0)).to_kind(tau.kind());
    let count = agree.sum_dim_intlist(0, false, tau.kind()).clamp_min(1.0);
    let merged = (&trimmed * &agree).sum_dim_intlist(0, false, tau.kind()) / count;
    Ok(TiesStack { trimmed, elected, merged })
}

/// Stacks Params as `[K, D]` in parameter order.
fn stack(ps: &[Params]) -> Tensor {
    Tensor::stack(&ps.iter().map(|p| p.flat(None)).collect::<Vec<_>>(), 0)
}

/// TIES-merging: trim, elect, disjoint mean, then `θ = base + λ·τm`. Returns the merged
/// parameters and the [`TiesStack`] (for sign statistics).
pub fn ties(base: &Params, models: &[Params], cfg: &TiesConfig) -> Result<(Params, TiesStack)> {
    if models.is_empty() {
        return Err(Error::NoModels);
    }
    let tau = stack(&task_vectors(base, models));
    let st = ties_flat(&tau, cfg.keep)?;
    let merged = base.unflatten(&st.merged, None);
    Ok((base.combine(1.0, &merged, cfg.lambda), st))
}

/// Sign-conflict statistics of one parameter group, over its elements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignConflicts {
    pub group: String,
    pub numel: i64,
    /// Fraction of elements where the inputs (task vectors, or the models themselves when
    /// there is no base) hold both a strictly positive and a strictly negative value.
    pub before: f64,
    /// The same fraction among the trimmed task vectors (TIES only).
    pub after_trim: Option<f64>,
    /// Fraction of elements where the vectors that enter the merged value still disagree:
    /// 0 for TIES by construction (only entries agreeing with the elected sign enter),
    /// equal to `before` for averaging methods, where every input enters.
    pub after_election: f64,
    /// Mean over inputs of the fraction of their nonzero entries whose sign differs from
    /// the merged vector's sign (how much each input is overruled).
    pub overruled: f64,
    /// TIES only: fraction of nonzero trimmed entries dropped by the election.
    pub dropped_by_election: Option<f64>,
}

/// Fraction (over the selected elements) where a stack `[K, D]` holds both signs.
fn conflict(stack: &Tensor, elems: &Tensor) -> f64 {
    let pos = stack.gt(0.0).any_dim(0, false);
    let neg = stack.lt(0.0).any_dim(0, false);
    let both = pos.logical_and(&neg).logical_and(elems);
    ratio(&both, elems)
}

fn ratio(hits: &Tensor, of: &Tensor) -> f64 {
    let n = of.sum(Kind::Int64).int64_value(&[]);
    if n == 0 {
        f64::NAN
    } else {
        hits.logical_and(of).sum(Kind::Int64).int64_value(&[]) as f64 / n as f64
    }
}

/// Per-group sign-conflict statistics. `inputs` are the vectors being merged (task vectors
/// `θi − base`, or the models), `merged` the merged vector in the same space, `ties` the
/// TIES stack when the method is TIES.
pub fn sign_conflicts(
    layout: &Model,
    inputs: &[Params],
    merged: &Params,
    ties: Option<&TiesStack>,
) -> Vec<SignConflicts> {
    let x = stack(inputs);
    let m = merged.flat(None);
    let nonzero = x.ne(0.0);
    let differs = x.sign().ne_tensor(&m.sign().unsqueeze(0)).logical_and(&nonzero);
    groups_of(layout)
        .into_iter()
        .map(|(g, mask)| {
            let parts: Vec<Tensor> = inputs[0]
                .tensors
                .iter()
                .zip(&mask)
                .map(|(t, &k)| Tensor::full([t.numel() as i64], k as i64, (Kind::Bool, t.device())))
                .collect();
            let elems = Tensor::cat(&parts, 0);
            let before = conflict(&x, &elems);
            let elems_k = elems.unsqueeze(0).expand_as(&x);
            let overruled = ratio(&differs, &nonzero.logical_and(&elems_k));
            let (after_trim, after_election, dropped) = match ties {
                Some(st) => {
                    let kept = st.trimmed.ne(0.0).logical_and(&elems_k);
                    let off = st.trimmed.sign().ne_tensor(&st.elected.unsqueeze(0)).logical_and(&kept);
                    (Some(conflict(&st.trimmed, &elems)), 0.0, Some(ratio(&off, &kept)))
                }
                None => (None, before, None),
            };
            SignConflicts {
                group: g.to_string(),
                numel: elems.sum(Kind::Int64).int64_value(&[]),
                before,
                after_trim,
                after_election,
                overruled,
                dropped_by_election: dropped,
            }
        })
        .collect()
}

/// The result of a greedy soup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GreedyTrace {
    /// Input indices by decreasing individual held-out accuracy.
    pub order: Vec<usize>,
    pub individual: Vec<f64>,
    /// Indices in the soup.
    pub included: Vec<usize>,
    /// Held-out accuracy of the soup after each candidate was tried.
    pub soup_accuracy: Vec<f64>,
}

/// Greedy soup (Wortsman et al. 2022, Algorithm 1): sort the models by held-out accuracy,
/// start from the best, and add each next model to the uniform soup if the soup's held-out
/// accuracy does not drop (`≥`, as in the paper's algorithm). `heldout(included, θ)`
/// evaluates a uniform soup of `included` whose parameters are `θ`.
pub fn greedy_soup(
    models: &[Params],
    mut heldout: impl FnMut(&[usize], &Params) -> Result<f64>,
) -> Result<(Params, GreedyTrace)> {
    if models.is_empty() {
        return Err(Error::NoModels);
    }
    let mut individual = Vec::with_capacity(models.len());
    for (i, m) in models.iter().enumerate() {
        individual.push(heldout(&[i], m)?);
    }
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by(|&i, &j| individual[j].total_cmp(&individual[i]).then(i.cmp(&j)));
    let mut included = vec![order[0]];
    let mut best = individual[order[0]];
    let mut soup = models[order[0]].clone();
    let mut soup_accuracy = vec![best];
    for &c in &order[1..] {
        let mut trial = included.clone();
        trial.push(c);
        let ps: Vec<Params> = trial.iter().map(|&i| models[i].clone()).collect();
        let cand = weighted_average(&ps, &normalise_weights(ps.len(), None)?)?;
        let acc = heldout(&trial, &cand)?;
        if acc >= best {
            (included, best, soup) = (trial, acc, cand);
        }
        soup_accuracy.push(best);
    }
    Ok((soup, GreedyTrace { order, individual, included, soup_accuracy }))
}

/// Writes `params` into `work` and sets its BN buffers to the `weights`-average of the
/// sources' buffers (`num_batches_tracked`: the maximum).
pub fn write_merged(work: &Model, params: &Params, sources: &[&Model], weights: &[f64]) -> Result<()> {
    for s in sources {
        work.check_same_layout(s)?;
    }
    params.write_to(work);
    tch::no_grad(|| {
        for (i, e) in work.entries().iter().enumerate() {
            let mut dst = e.tensor.shallow_clone();
            match e.role {
                Role::BnRunningMean | Role::BnRunningVar => {
                    let mut acc = e.tensor.zeros_like();
                    for (s, &w) in sources.iter().zip(weights) {
                        acc += &s.entries()[i].tensor * w;
                    }
                    dst.copy_(&acc);
                }
                Role::BnBatchCount => {
                    let max = sources.iter().map(|s| s.entries()[i].tensor.int64_value(&[])).max().unwrap_or(0);
                    let _ = dst.fill_(max);
                }
                _ => {}
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: &[&[f32]]) -> Tensor {
        Tensor::stack(&rows.iter().map(|r| Tensor::from_slice(r)).collect::<Vec<_>>(), 0)
    }

    fn v(x: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&x.flatten(0, -1)).unwrap()
    }

    #[test]
    fn ties_on_hand_made_task_vectors() {
        // Three task vectors over D = 4 elements, keep 50% → top 2 magnitudes per row.
        let tau = t(&[&[1.0, -2.0, 0.5, 3.0], &[-4.0, 1.0, 0.2, -0.1], &[0.5, -0.5, 2.0, 1.0]]);
        let st = ties_flat(&tau, 0.5).unwrap();
        // Row 0 keeps −2, 3; row 1 keeps −4, 1; row 2 keeps 2, 1 (the ±0.5 tie at 0.5 is below 1).
        assert_eq!(v(&st.trimmed), vec![0.0, -2.0, 0.0, 3.0, -4.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 1.0]);
        // Column sums: −4, −1, 2, 4 → elected signs −, −, +, +.
        assert_eq!(v(&st.elected), vec![-1.0, -1.0, 1.0, 1.0]);
        // Disjoint means: col0 −4 (one agreeing), col1 −2 (only row 0 agrees), col2 2, col3 (3+1)/2.
        assert_eq!(v(&st.merged), vec![-4.0, -2.0, 2.0, 2.0]);
        // keep = 1 keeps everything; exact cancellation elects 0 and merges to 0.
        let st = ties_flat(&t(&[&[1.0, 2.0], &[-1.0, 3.0]]), 1.0).unwrap();
        assert_eq!(v(&st.merged), vec![0.0, 2.5]);
        assert!(ties_flat(&tau, 0.0).is_err());
    }

    #[test]
    fn averages_and_task_arithmetic_by_hand() {
        let p = |x: &[f32]| Params {
            names: vec!["w".into()],
            tensors: vec![Tensor::from_slice(x)],
            roles: vec![valley::models::Role::LinearWeight],
        };
        let (a, b, base) = (p(&[1.0, 2.0]), p(&[3.0, -2.0]), p(&[1.0, 1.0]));
        let w = normalise_weights(2, Some(&[1.0, 3.0])).unwrap();
        assert_eq!(w, vec![0.25, 0.75]);
        assert_eq!(v(&weighted_average(&[a.clone(), b.clone()], &w).unwrap().tensors[0]), vec![2.5, -1.0]);
        // τ = (0, 1), (2, −3); base + 0.5·Σ = (1 + 1, 1 − 1).
        assert_eq!(v(&task_arithmetic(&base, &[a.clone(), b.clone()], 0.5).tensors[0]), vec![2.0, 0.0]);
        assert!(normalise_weights(2, Some(&[1.0])).is_err());
        assert!(normalise_weights(2, Some(&[0.0, 0.0])).is_err());
        assert!(normalise_weights(2, Some(&[-1.0, 2.0])).is_err());
    }

    #[test]
    fn greedy_soup_skips_models_that_hurt() {
        let p = |x: f32| Params {
            names: vec!["w".into()],
            tensors: vec![Tensor::from_slice(&[x])],
            roles: vec![valley::models::Role::LinearWeight],
        };
        // "Accuracy" 1 − |w − 1|: models 1.5 (0.5), 0.75 (0.75) and 5.0 (−3). The soup starts at
        // 0.75, takes 1.5 (mean 1.125 → 0.875 ≥ 0.75) and rejects 5.0 (mean 2.42 → −0.42).
        let models = [p(1.5), p(0.75), p(5.0)];
        let (soup, trace) =
            greedy_soup(&models, |_, th| Ok(1.0 - (th.tensors[0].double_value(&[0]) - 1.0).abs())).unwrap();
        assert_eq!(trace.order, vec![1, 0, 2]);
        assert_eq!(trace.included, vec![1, 0]);
        assert_eq!(trace.soup_accuracy, vec![0.75, 0.875, 0.875]);
        assert!((soup.tensors[0].double_value(&[0]) - 1.125).abs() < 1e-6);
    }
}
