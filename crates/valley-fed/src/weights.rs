//! Model states exchanged between server and clients, and their averaging.

use std::sync::Arc;

use tch::{Kind, Tensor};
use valley::models::Role;
use valley::params::Params;
use valley::Model;

/// Names and roles of a model's tensors, shared by every [`Weights`] of one run.
#[derive(Debug, PartialEq)]
pub struct Layout {
    pub names: Vec<String>,
    pub roles: Vec<Role>,
}

impl Layout {
    pub fn of(model: &Model) -> Arc<Self> {
        let (names, roles) = model.entries().iter().map(|e| (e.name.clone(), e.role)).unzip();
        Arc::new(Self { names, roles })
    }
}

/// Every tensor of a model (learnable parameters and BN buffers) in entry order, detached.
pub struct Weights {
    pub layout: Arc<Layout>,
    pub tensors: Vec<Tensor>,
}

impl Clone for Weights {
    /// A deep copy.
    fn clone(&self) -> Self {
        Self { layout: self.layout.clone(), tensors: self.tensors.iter().map(|t| t.copy()).collect() }
    }
}

impl Weights {
    /// A detached copy of all of `model`'s tensors.
    pub fn of(model: &Model, layout: &Arc<Layout>) -> Self {
        Self { layout: layout.clone(), tensors: model.entries().iter().map(|e| e.tensor.detach().copy()).collect() }
    }

    /// Handles to the same storage (for read-only sharing with a worker thread).
    pub fn share(&self) -> Self {
        Self { layout: self.layout.clone(), tensors: self.tensors.iter().map(|t| t.shallow_clone()).collect() }
    }

    /// Copies these values into `model` in place (the worker's one model is reused).
    pub fn load_into(&self, model: &Model) {
        tch::no_grad(|| {
            for (e, t) in model.entries().iter().zip(&self.tensors) {
                e.tensor.shallow_clone().copy_(t);
            }
        });
    }

    /// Indices of the learnable tensors.
    pub fn learnable_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.layout.roles.iter().enumerate().filter(|(_, r)| r.is_learnable()).map(|(i, _)| i)
    }

    /// The learnable tensors as [`Params`] (shared storage).
    pub fn params(&self) -> Params {
        let (names, tensors) =
            self.learnable_indices().map(|i| (self.layout.names[i].clone(), self.tensors[i].shallow_clone())).unzip();
        Params { names, tensors }
    }

    /// Named tensors with a prefix, for checkpoints.
    pub fn named(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.layout.names.iter().zip(&self.tensors).map(|(n, t)| (format!("{prefix}{n}"), t.shallow_clone())).collect()
    }

    /// Reads tensors written by [`Weights::named`]; `None` when one is missing or misshapen.
    pub fn from_named(
        layout: &Arc<Layout>,
        like: &Weights,
        prefix: &str,
        get: &dyn Fn(&str) -> Option<Tensor>,
    ) -> Option<Self> {
        let mut tensors = Vec::with_capacity(layout.names.len());
        for (n, l) in layout.names.iter().zip(&like.tensors) {
            let t = get(&format!("{prefix}{n}"))?;
            if t.size() != l.size() {
                return None;
            }
            tensors.push(t.to_kind(l.kind()).to_device(l.device()));
        }
        Some(Self { layout: layout.clone(), tensors })
    }
}

/// `Σ_k w_k·θ_k / Σ_k w_k` for every floating tensor (parameters and BN running statistics),
/// summed in the given order in f64; BN batch counters take the maximum. `weights` = `None`
/// is the unweighted mean. Panics if `models` is empty (a round without returns keeps the
/// global model instead of calling this).
pub fn average(models: &[&Weights], weights: Option<&[f64]>) -> Weights {
    assert!(!models.is_empty(), "average of no models");
    let w: Vec<f64> = match weights {
        Some(w) => w.to_vec(),
        None => vec![1.0; models.len()],
    };
    let total: f64 = w.iter().sum();
    let first = models[0];
    let tensors = tch::no_grad(|| {
        (0..first.tensors.len())
            .map(|i| {
                let kind = first.tensors[i].kind();
                if first.layout.roles[i] == Role::BnBatchCount || !kind.is_floating_point() {
                    let stacked: Vec<Tensor> = models.iter().map(|m| m.tensors[i].shallow_clone()).collect();
                    return Tensor::stack(&stacked, 0).amax([0i64].as_slice(), false);
                }
                let mut acc = first.tensors[i].zeros_like().to_kind(Kind::Double);
                for (m, wk) in models.iter().zip(&w) {
                    acc += m.tensors[i].to_kind(Kind::Double) * (*wk / total);
                }
                acc.to_kind(kind)
            })
            .collect()
    });
    Weights { layout: first.layout.clone(), tensors }
}

trait FloatKind {
    fn is_floating_point(&self) -> bool;
}

impl FloatKind for Kind {
    fn is_floating_point(&self) -> bool {
        matches!(self, Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(vals: &[f32], count: i64) -> Weights {
        let layout = Arc::new(Layout {
            names: vec!["fc.weight".into(), "bn.num_batches_tracked".into()],
            roles: vec![Role::LinearWeight, Role::BnBatchCount],
        });
        Weights { layout, tensors: vec![Tensor::from_slice(vals), Tensor::from(count)] }
    }

    fn vals(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t).unwrap()
    }

    #[test]
    fn unweighted_and_weighted_means_match_hand_values() {
        let (a, b) = (w(&[1.0, 2.0, -4.0], 3), w(&[3.0, 6.0, 0.0], 5));
        let m = average(&[&a, &b], None);
        assert_eq!(vals(&m.tensors[0]), vec![2.0, 4.0, -2.0]);
        assert_eq!(m.tensors[1].int64_value(&[]), 5, "batch counters take the maximum");
        // Sizes 1 and 3: (1·1 + 3·3)/4 = 2.5, (2 + 18)/4 = 5, (−4 + 0)/4 = −1.
        let m = average(&[&a, &b], Some(&[1.0, 3.0]));
        assert_eq!(vals(&m.tensors[0]), vec![2.5, 5.0, -1.0]);
        assert_eq!(vals(&average(&[&a], None).tensors[0]), vals(&a.tensors[0]));
    }
}
