//! Sign-same ratios between models, overall and per parameter group (paper §4, finding 6).

use serde::{Deserialize, Serialize};
use valley::params::{group_stats, ssr, Group, Params};
use valley::Model;

use crate::Result;

/// Mean and standard deviation of one model's parameters in a group.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    pub mean: f64,
    pub std: f64,
}

/// The sign-same ratios of one parameter group. `SSR(u, v)` is the fraction of elements
/// with `sign(u) = sign(v)` (zero is its own sign), learnable parameters only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSsr {
    pub group: String,
    pub numel: i64,
    /// SSR-AB = SSR(θA, θB).
    pub ssr_ab: f64,
    /// SSR-IA = SSR(θI, θA), when an initialisation is given.
    pub ssr_ia: Option<f64>,
    /// SSR-IB = SSR(θI, θB).
    pub ssr_ib: Option<f64>,
    /// SSR(θA, θB − θA).
    pub ssr_a_diff: f64,
    /// SSR(θB, θB − θA).
    pub ssr_b_diff: f64,
    pub a: Moments,
    pub b: Moments,
    pub init: Option<Moments>,
}

/// The named groups of [`Group`] that select at least one parameter of `model`.
pub fn groups_of(model: &Model) -> Vec<(Group, Vec<bool>)> {
    Group::named().into_iter().filter_map(|g| g.mask(model).ok().map(|m| (g, m))).collect()
}

/// SSRs and parameter moments for every non-empty named group of `layout`'s architecture
/// (`ALL` first). `a`, `b` and `init` must hold `layout`'s parameters in order.
pub fn ssr_report(layout: &Model, a: &Params, b: &Params, init: Option<&Params>) -> Result<Vec<GroupSsr>> {
    let diff = b.combine(1.0, a, -1.0);
    let moments = |p: &Params, m: &[bool]| {
        let (mean, std) = group_stats(p, m);
        Moments { mean, std }
    };
    Ok(groups_of(layout)
        .into_iter()
        .map(|(g, m)| GroupSsr {
            group: g.to_string(),
            numel: a.tensors.iter().zip(&m).filter(|(_, &k)| k).map(|(t, _)| t.numel() as i64).sum(),
            ssr_ab: ssr(a, b, Some(&m)),
            ssr_ia: init.map(|i| ssr(i, a, Some(&m))),
            ssr_ib: init.map(|i| ssr(i, b, Some(&m))),
            ssr_a_diff: ssr(a, &diff, Some(&m)),
            ssr_b_diff: ssr(b, &diff, Some(&m)),
            a: moments(a, &m),
            b: moments(b, &m),
            init: init.map(|i| moments(i, &m)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use valley::{Arch, Device, ModelConfig};

    fn mlp(seed: i64) -> Model {
        let mut cfg = ModelConfig::new(Arch::Mlp, 1, 4, 3);
        cfg.hidden = vec![5];
        Model::seeded(&cfg, seed as u64, Device::Cpu).unwrap()
    }

    #[test]
    fn ssr_with_itself_is_one_and_with_its_negation_zero() {
        let m = mlp(0);
        let p = Params::of(&m);
        // Uniform init draws no exact zeros, so negation flips every sign.
        assert!(p.tensors.iter().all(|t| t.eq(0.0).sum(valley::Kind::Int64).int64_value(&[]) == 0));
        let neg = p.map(|t| -t);
        let r = ssr_report(&m, &p, &p, Some(&p)).unwrap();
        assert_eq!(r[0].group, "ALL");
        let names: Vec<&str> = r.iter().map(|g| g.group.as_str()).collect();
        assert!(!names.contains(&"BN"), "an MLP has no BN group: {names:?}");
        for g in &r {
            assert_eq!((g.ssr_ab, g.ssr_ia, g.ssr_ib), (1.0, Some(1.0), Some(1.0)), "{}", g.group);
            assert_eq!(g.a, g.b);
        }
        for g in ssr_report(&m, &p, &neg, None).unwrap() {
            assert_eq!(g.ssr_ab, 0.0, "{}", g.group);
            // θB − θA = −2θA: opposite to A, same as B.
            assert_eq!((g.ssr_a_diff, g.ssr_b_diff), (0.0, 1.0), "{}", g.group);
            assert!((g.a.mean + g.b.mean).abs() < 1e-9);
        }
    }

    #[test]
    fn half_flipped_signs_give_one_half() {
        let m = mlp(1);
        let p = Params::of(&m);
        // Flip the sign of every second element of each tensor (all tensors have even size
        // except possibly the last; count exactly).
        let flipped = p.map(|t| {
            let n = t.numel() as i64;
            let s = valley::Tensor::arange(n, (valley::Kind::Float, Device::Cpu)).remainder(2.0) * -2.0 + 1.0;
            t * s.view(t.size().as_slice())
        });
        let total: i64 = p.numel();
        let same: i64 = p.tensors.iter().map(|t| (t.numel() as i64 + 1) / 2).sum();
        let r = ssr_report(&m, &p, &flipped, None).unwrap();
        assert!((r[0].ssr_ab - same as f64 / total as f64).abs() < 1e-12);
    }
}
