//! Vectors in parameter space: one tensor per parameter of a group, in the model's order.
//! Inner products and norms accumulate in f64 so that long Lanczos and power iterations do
//! not lose orthogonality to f32 rounding of the sums.

use rand::Rng;
use valley::{Device, Kind, Tensor};

/// A vector in the space of one parameter group.
pub struct Vector(pub Vec<Tensor>);

impl Vector {
    /// `⟨a, b⟩ = Σᵢ aᵢ·bᵢ` over every element of every tensor.
    pub fn dot(&self, other: &Vector) -> f64 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a.to_kind(Kind::Double) * b.to_kind(Kind::Double)).sum(Kind::Double).double_value(&[]))
            .sum()
    }

    pub fn norm(&self) -> f64 {
        self.dot(self).sqrt()
    }

    /// `self + alpha · other`.
    pub fn add_scaled(&self, alpha: f64, other: &Vector) -> Vector {
        Vector(self.0.iter().zip(&other.0).map(|(a, b)| a + b * alpha).collect())
    }

    pub fn scale(&self, alpha: f64) -> Vector {
        Vector(self.0.iter().map(|a| a * alpha).collect())
    }

    /// `self / ‖self‖` (unchanged when the norm is 0).
    pub fn normalised(&self) -> Vector {
        let n = self.norm();
        if n > 0.0 {
            self.scale(1.0 / n)
        } else {
            self.copy()
        }
    }

    /// Removes the components along each of `basis` (assumed orthonormal), twice over
    /// (classical Gram-Schmidt repeated, which keeps f32 vectors orthogonal to ~1e-7).
    pub fn orthogonalised(&self, basis: &[Vector]) -> Vector {
        let mut v = self.copy();
        for _ in 0..2 {
            for b in basis {
                v = v.add_scaled(-v.dot(b), b);
            }
        }
        v
    }

    pub fn copy(&self) -> Vector {
        Vector(self.0.iter().map(|t| t.copy()).collect())
    }

    /// Number of elements.
    pub fn numel(&self) -> i64 {
        self.0.iter().map(|t| t.numel() as i64).sum()
    }

    /// A vector of i.i.d. ±1 entries with the shapes of `like`, from `rng`.
    pub fn rademacher(like: &[Tensor], rng: &mut impl Rng) -> Vector {
        Self::filled(like, || if rng.random::<bool>() { 1.0 } else { -1.0 })
    }

    /// A vector of i.i.d. standard normal entries with the shapes of `like`, from `rng`.
    pub fn gaussian(like: &[Tensor], rng: &mut impl Rng) -> Vector {
        Self::filled(like, || rng.sample::<f32, _>(rand_distr::StandardNormal))
    }

    fn filled(like: &[Tensor], mut draw: impl FnMut() -> f32) -> Vector {
        Vector(
            like.iter()
                .map(|t| {
                    let values: Vec<f32> = (0..t.numel()).map(|_| draw()).collect();
                    Tensor::from_slice(&values).reshape(t.size()).to_device(t.device())
                })
                .collect(),
        )
    }

    /// A unit basis vector `eᵢ` (element `i` in the flattened order).
    pub fn basis(like: &[Tensor], mut i: i64) -> Vector {
        Vector(
            like.iter()
                .map(|t| {
                    let flat = Tensor::zeros([t.numel() as i64], (Kind::Float, t.device()));
                    let n = t.numel() as i64;
                    if (0..n).contains(&i) {
                        let _ = flat.get(i).fill_(1.0);
                    }
                    i -= n;
                    flat.reshape(t.size())
                })
                .collect(),
        )
    }

    pub fn device(&self) -> Device {
        self.0.first().map_or(Device::Cpu, |t| t.device())
    }
}
