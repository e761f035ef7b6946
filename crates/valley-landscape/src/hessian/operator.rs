//! The Hessian-vector product `Hv` by double backward.

use valley::models::{Mode, Model};
use valley::tensors::TensorSet;
use valley::{Kind, Tensor};

use super::Vector;
use crate::{Error, Result};

/// `v ↦ Hv` for the mean cross-entropy of `model` over a labelled set, with respect to the
/// parameters selected by a group mask, BN in evaluation mode.
///
/// Per batch b of nᵦ rows: `gᵦ = ∇θ Lᵦ(θ)` built with `create_graph`, then
/// `Hᵦv = ∇θ ⟨gᵦ, v⟩`; over the set `Hv = Σᵦ (nᵦ/N)·Hᵦv`, the Hessian of the mean over
/// all N rows (PyHessian's full-dataset product). One product costs about two backward passes
/// per batch; when the whole set is one batch, the gradient graph is built once and kept, so a
/// product is one backward pass (PyHessian's single-batch mode).
pub struct HessianOperator<'a> {
    model: &'a Model,
    set: &'a TensorSet,
    batch: usize,
    params: Vec<Tensor>,
    names: Vec<String>,
    /// `∇θ L` with its graph, when the set is a single batch.
    kept_gradient: Option<Vec<Tensor>>,
}

impl<'a> HessianOperator<'a> {
    /// The operator over `set` in batches of `batch` rows, for the parameters where `mask` is
    /// true (in `model.parameters()` order).
    pub fn new(model: &'a Model, set: &'a TensorSet, batch: usize, mask: &[bool]) -> Result<Self> {
        if set.is_empty() {
            return Err(Error::Spec("the Hessian needs at least one sample (the split is empty)".into()));
        }
        if batch == 0 {
            return Err(Error::Spec("the Hessian batch size must be at least 1".into()));
        }
        let (names, params): (Vec<String>, Vec<Tensor>) = model
            .parameters()
            .zip(mask)
            .filter(|(_, &keep)| keep)
            .map(|(e, _)| (e.name.clone(), e.tensor.shallow_clone()))
            .unzip();
        if params.is_empty() {
            return Err(Error::Spec("the parameter group selects no parameter".into()));
        }
        let mut op = Self { model, set, batch, params, names, kept_gradient: None };
        if set.len() <= batch {
            let (x, y) = set.slice(0, set.len());
            op.kept_gradient = Some(op.gradient_with_graph(&x, &y));
        }
        Ok(op)
    }

    /// The parameter tensors the Hessian is taken over (shapes of every [`Vector`]).
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Dimension of the parameter space.
    pub fn dim(&self) -> i64 {
        self.params.iter().map(|t| t.numel() as i64).sum()
    }

    /// `Hv`.
    pub fn apply(&self, v: &Vector) -> Vector {
        let n = self.set.len();
        let mut total: Option<Vec<Tensor>> = None;
        let mut start = 0;
        while start < n {
            let len = self.batch.min(n - start);
            let (x, y) = self.set.slice(start, len);
            let hv = self.batch_product(&x, &y, v);
            let w = len as f64 / n as f64;
            total = Some(match total {
                None => hv.iter().map(|t| t * w).collect(),
                Some(acc) => acc.iter().zip(&hv).map(|(a, h)| a + h * w).collect(),
            });
            start += len;
        }
        Vector(total.expect("the set is not empty"))
    }

    /// `∇θ Lᵦ` for one batch, differentiable again.
    fn gradient_with_graph(&self, x: &Tensor, y: &Tensor) -> Vec<Tensor> {
        let logits = self.model.forward(x, Mode::Eval);
        let loss = logits.cross_entropy_for_logits(y);
        Tensor::run_backward(&[&loss], &self.params, true, true)
    }

    /// `Hᵦv` for one batch (from the kept gradient when there is one).
    fn batch_product(&self, x: &Tensor, y: &Tensor, v: &Vector) -> Vec<Tensor> {
        let fresh;
        let (grads, keep) = match &self.kept_gradient {
            Some(g) => (g, true),
            None => {
                fresh = self.gradient_with_graph(x, y);
                (&fresh, false)
            }
        };
        let gv = grads.iter().zip(&v.0).map(|(g, v)| (g * v).sum(Kind::Float)).fold(Tensor::from(0f32), |a, b| a + b);
        Tensor::run_backward(&[&gv], &self.params, keep, false).into_iter().map(|t| t.detach()).collect()
    }

    /// The dense Hessian, column by column (`H eᵢ`); only for small models (tests, checks).
    pub fn dense(&self) -> Result<Tensor> {
        let d = self.dim();
        if d > 4096 {
            return Err(Error::Spec(format!("a dense Hessian of {d} parameters is too large (at most 4096)")));
        }
        let cols: Vec<Tensor> = (0..d).map(|i| self.apply(&Vector::basis(&self.params, i)).flatten()).collect();
        Ok(Tensor::stack(&cols, 1))
    }
}

impl Vector {
    /// All tensors flattened into one `[dim]` tensor.
    pub fn flatten(&self) -> Tensor {
        Tensor::cat(&self.0.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(), 0)
    }
}
