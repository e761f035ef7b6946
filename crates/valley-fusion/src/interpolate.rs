//! The interpolation curve `θ(λ) = (1−λ)θA + λθB`, its barrier and the performance gap
//! (paper §4).

use serde::{Deserialize, Serialize};
use valley::eval::{Eval, EvalConfig, Split};
use valley::models::Role;
use valley::tensors::TensorSet;
use valley::Model;

use crate::{Error, Result};

/// One evaluated point of a curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub lambda: f64,
    pub split: Split,
    pub loss: f64,
    pub accuracy: f64,
}

/// Writes `(1−λ)·A + λ·B` into every tensor of `work` (same architecture as `a` and `b`).
/// Learnable parameters and BN running mean/var are interpolated; `num_batches_tracked`
/// is taken from the nearer endpoint. At λ = 0 and λ = 1 the endpoint is copied bit for
/// bit, so the curve reproduces the endpoints exactly.
pub fn set_interpolated(work: &Model, a: &Model, b: &Model, lambda: f64) -> Result<()> {
    work.check_same_layout(a)?;
    work.check_same_layout(b)?;
    tch::no_grad(|| {
        for ((w, x), y) in work.entries().iter().zip(a.entries()).zip(b.entries()) {
            let mut dst = w.tensor.shallow_clone();
            if lambda == 0.0 || (w.role == Role::BnBatchCount && lambda < 0.5) {
                dst.copy_(&x.tensor);
            } else if lambda == 1.0 || w.role == Role::BnBatchCount {
                dst.copy_(&y.tensor);
            } else {
                dst.copy_(&(&x.tensor * (1.0 - lambda) + &y.tensor * lambda));
            }
        }
    });
    Ok(())
}

/// The data a curve is evaluated on: the BN re-estimation samples (drawn with
/// [`EvalConfig::bn_sample`]) and the splits.
pub struct CurveData<'a> {
    pub bn: &'a TensorSet,
    pub splits: &'a [(Split, &'a TensorSet)],
}

/// Evaluates `model` as it stands on each split, after applying the BN policy
/// (`recompute` re-estimates the statistics from `data.bn`; `keep` leaves them).
pub fn evaluate_with_policy(model: &Model, spec: &EvalConfig, data: &CurveData) -> Vec<Eval> {
    spec.apply_bn(model, data.bn);
    data.splits.iter().map(|(_, set)| spec.evaluate(model, set)).collect()
}

/// The curve over `lambdas`, one point per (λ, split). `work` is scratch space of the same
/// architecture; `a` and `b` are left untouched.
pub fn curve(
    (a, b, work): (&Model, &Model, &Model),
    lambdas: &[f64],
    spec: &EvalConfig,
    data: &CurveData,
    mut on_point: impl FnMut(usize, f64),
) -> Result<Vec<CurvePoint>> {
    let mut points = Vec::with_capacity(lambdas.len() * data.splits.len());
    for (i, &lambda) in lambdas.iter().enumerate() {
        set_interpolated(work, a, b, lambda)?;
        for ((split, _), e) in data.splits.iter().zip(evaluate_with_policy(work, spec, data)) {
            points.push(CurvePoint { lambda, split: *split, loss: e.loss, accuracy: e.accuracy });
        }
        on_point(i, lambda);
    }
    Ok(points)
}

/// Loss barrier of a curve: `max over λ ∈ [0,1] of L(λ) − ((1−λ)·L(0) + λ·L(1))`, over
/// the grid's points. Needs λ = 0 and λ = 1 on the grid.
pub fn barrier(lambdas: &[f64], losses: &[f64]) -> Result<f64> {
    let at = |l: f64| lambdas.iter().position(|&x| x == l).map(|i| losses[i]);
    let (Some(l0), Some(l1)) = (at(0.0), at(1.0)) else {
        return Err(Error::BarrierGrid);
    };
    Ok(lambdas
        .iter()
        .zip(losses)
        .filter(|(l, _)| (0.0..=1.0).contains(*l))
        .map(|(&l, &loss)| loss - ((1.0 - l) * l0 + l * l1))
        .fold(f64::NEG_INFINITY, f64::max))
}

/// Performance gap `Acc(½θA + ½θB) − ½(Acc(θA) + Acc(θB))`.
pub fn performance_gap(acc_a: f64, acc_mid: f64, acc_b: f64) -> f64 {
    acc_mid - 0.5 * (acc_a + acc_b)
}

/// Barrier, gap and endpoints of one split of a curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveSummary {
    pub split: Split,
    pub barrier: f64,
    pub gap: f64,
    pub accuracy_a: f64,
    pub accuracy_b: f64,
    pub accuracy_mid: f64,
    pub loss_a: f64,
    pub loss_b: f64,
    pub loss_mid: f64,
}

/// Summarises one split of a curve (λ = 0, ½ and 1 must be on the grid).
pub fn summarise(points: &[CurvePoint], split: Split) -> Result<CurveSummary> {
    let pts: Vec<&CurvePoint> = points.iter().filter(|p| p.split == split).collect();
    let at = |l: f64| {
        pts.iter()
            .find(|p| p.lambda == l)
            .copied()
            .ok_or_else(|| Error::MissingPoint { split: split.to_string(), lambda: l })
    };
    let (p0, pm, p1) = (at(0.0)?, at(0.5)?, at(1.0)?);
    let lambdas: Vec<f64> = pts.iter().map(|p| p.lambda).collect();
    let losses: Vec<f64> = pts.iter().map(|p| p.loss).collect();
    Ok(CurveSummary {
        split,
        barrier: barrier(&lambdas, &losses)?,
        gap: performance_gap(p0.accuracy, pm.accuracy, p1.accuracy),
        accuracy_a: p0.accuracy,
        accuracy_b: p1.accuracy,
        accuracy_mid: pm.accuracy,
        loss_a: p0.loss,
        loss_b: p1.loss,
        loss_mid: pm.loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use valley::eval::{recompute_bn, BnPolicy};
    use valley::{Arch, Device, Kind, ModelConfig, Tensor};

    #[test]
    fn barrier_and_gap_by_hand() {
        // L(0) = 1, L(1) = 3: the chord is 1 + 2λ. L(0.5) = 2.5 → 0.5 above; L(0.25) = 1.2 → −0.3.
        // λ = −0.5 and 1.5 lie outside [0,1] and are ignored even though they are higher.
        let lambdas = [-0.5, 0.0, 0.25, 0.5, 1.0, 1.5];
        let losses = [9.0, 1.0, 1.2, 2.5, 3.0, 9.0];
        assert!((barrier(&lambdas, &losses).unwrap() - 0.5).abs() < 1e-12);
        // A convex curve below its chord has a barrier of 0 (attained at the ends).
        assert_eq!(barrier(&[0.0, 0.5, 1.0], &[1.0, 0.5, 1.0]).unwrap(), 0.0);
        assert!(barrier(&[0.5, 1.0], &[1.0, 1.0]).is_err());
        // Acc 0.8 and 0.9 at the ends, 0.7 in the middle: 0.7 − 0.85 = −0.15.
        assert!((performance_gap(0.8, 0.7, 0.9) + 0.15).abs() < 1e-12);
    }

    fn toy_set(n: i64, seed: i64) -> TensorSet {
        valley::device::with_seed(seed as u64, || {
            let y = Tensor::randint(3, [n], (Kind::Int64, Device::Cpu));
            let x = Tensor::randn([n, 1, 8, 8], (Kind::Float, Device::Cpu)) + y.to_kind(Kind::Float).view([n, 1, 1, 1]);
            TensorSet { x, y, num_classes: 3 }
        })
    }

    fn cnn(seed: i64) -> Model {
        let mut cfg = ModelConfig::new(Arch::Cnn, 1, 8, 3);
        cfg.width = 0.25;
        Model::seeded(&cfg, seed as u64, Device::Cpu).unwrap()
    }

    #[test]
    fn endpoints_reproduce_the_models_exactly_under_both_bn_policies() {
        let (train, test) = (toy_set(96, 1), toy_set(64, 2));
        let (a, b, work) = (cnn(1), cnn(2), cnn(3));
        // Give A and B distinct, non-initial BN statistics.
        recompute_bn(&a, &train, 32, 2);
        recompute_bn(&b, &toy_set(64, 9), 32, 2);
        for bn in [BnPolicy::Keep, BnPolicy::Recompute] {
            let spec = EvalConfig { bn, bn_batch: 32, bn_batches: 3, eval_batch: 50, ..EvalConfig::default() };
            let splits = [(Split::Test, &test), (Split::Train, &train)];
            let data = CurveData { bn: &train, splits: &splits };
            let pts = curve((&a, &b, &work), &[0.0, 0.5, 1.0], &spec, &data, |_, _| {}).unwrap();
            for (lambda, model) in [(0.0, &a), (1.0, &b)] {
                let own = cnn(4);
                own.copy_from(model).unwrap();
                let expect = evaluate_with_policy(&own, &spec, &data);
                for ((name, _), e) in splits.iter().zip(expect) {
                    let p = pts.iter().find(|p| p.lambda == lambda && p.split == *name).unwrap();
                    assert_eq!((p.loss, p.accuracy), (e.loss, e.accuracy), "{bn:?} λ={lambda} {name}");
                }
            }
            let s = summarise(&pts, Split::Test).unwrap();
            assert_eq!(s.gap, performance_gap(s.accuracy_a, s.accuracy_mid, s.accuracy_b));
        }
    }

    #[test]
    fn keep_interpolates_running_statistics() {
        let (a, b, work) = (cnn(1), cnn(2), cnn(3));
        recompute_bn(&b, &toy_set(64, 5), 32, 2);
        set_interpolated(&work, &a, &b, 0.25).unwrap();
        let name = work.entries().iter().find(|e| e.role == Role::BnRunningMean).unwrap().name.clone();
        let get = |m: &Model| m.entry(&name).unwrap().tensor.shallow_clone();
        let expect = get(&a) * 0.75 + get(&b) * 0.25;
        assert!(get(&work).allclose(&expect, 1e-6, 1e-7, false));
    }
}
