//! Asymmetry metrics of one curve `v(λ)` (test error or loss along θf + λ·d) and their
//! aggregation over repeated directions.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use valley_base::stats::Interval;

/// How a side's width is measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Threshold {
    /// The curve leaves the valley where `v(λ) > v(0) + δ` (error, δ = 0.05 by default).
    Absolute(f64),
    /// ... where `v(λ) > v(0)·(1 + ρ)` (loss, ρ = 0.5 by default).
    Relative(f64),
}

impl Threshold {
    fn level(&self, base: f64) -> f64 {
        match *self {
            Threshold::Absolute(d) => base + d,
            Threshold::Relative(r) => base * (1.0 + r),
        }
    }
}

/// One metric of a curve ([`CurveMetrics`] has one field per metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Base,
    MeanPlus,
    MeanMinus,
    Diff,
    Asymmetry,
    WidthPlus,
    WidthMinus,
    CurvaturePlus,
    CurvatureMinus,
}

impl Metric {
    /// Every metric, in the order of [`CurveMetrics`]' fields.
    pub const ALL: [Metric; 9] = [
        Metric::Base,
        Metric::MeanPlus,
        Metric::MeanMinus,
        Metric::Diff,
        Metric::Asymmetry,
        Metric::WidthPlus,
        Metric::WidthMinus,
        Metric::CurvaturePlus,
        Metric::CurvatureMinus,
    ];

    /// The name in `summary.json` (the field name of [`CurveMetrics`]).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Base => "base",
            Metric::MeanPlus => "mean_plus",
            Metric::MeanMinus => "mean_minus",
            Metric::Diff => "diff",
            Metric::Asymmetry => "asymmetry",
            Metric::WidthPlus => "width_plus",
            Metric::WidthMinus => "width_minus",
            Metric::CurvaturePlus => "curvature_plus",
            Metric::CurvatureMinus => "curvature_minus",
        }
    }
}

/// Each metric's mean and 95 % interval over repeated directions (`None` where a metric is
/// undefined for every seed, e.g. a width beyond the grid). Written to JSON as an object
/// keyed by [`Metric::name`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricIntervals(BTreeMap<Metric, Option<Interval>>);

impl MetricIntervals {
    /// Aggregates the metrics of several curves.
    pub fn of(curves: &[&CurveMetrics]) -> Self {
        Self(
            Metric::ALL
                .into_iter()
                .map(|m| (m, Interval::of(&curves.iter().map(|c| c.get(m)).collect::<Vec<_>>())))
                .collect(),
        )
    }

    /// The interval of `m`, `None` if it is undefined.
    pub fn get(&self, m: Metric) -> Option<Interval> {
        self.0.get(&m).cloned().flatten()
    }

    /// The mean of `m` over seeds, `None` if it is undefined.
    pub fn mean(&self, m: Metric) -> Option<f64> {
        self.get(m).map(|i| i.mean)
    }
}

impl Serialize for MetricIntervals {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let by_name: BTreeMap<&str, &Option<Interval>> = self.0.iter().map(|(m, i)| (m.name(), i)).collect();
        by_name.serialize(s)
    }
}

/// Summary of a curve `v(λ)` with `v(0)` the value at θf. "+" is λ > 0, "−" is λ < 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurveMetrics {
    /// v(0), the value at θf.
    pub base: f64,
    /// mean of v(λ) over the grid points with λ > 0.
    pub mean_plus: f64,
    /// mean of v(λ) over the grid points with λ < 0.
    pub mean_minus: f64,
    /// mean_minus − mean_plus: positive when the + side is flatter.
    pub diff: f64,
    /// (mean_minus − mean_plus) / (mean_minus + mean_plus), in [−1, 1]; 0 for a symmetric valley.
    pub asymmetry: f64,
    /// Smallest λ > 0 on the grid where v exceeds the threshold; `None` if it never does.
    pub width_plus: Option<f64>,
    /// Smallest |λ| with λ < 0 on the grid where v exceeds the threshold; `None` if it never does.
    pub width_minus: Option<f64>,
    /// 2a of the least-squares fit a·λ² + b·λ + c to (0, v(0)) and the points with λ > 0.
    pub curvature_plus: Option<f64>,
    /// 2a of the same fit to (0, v(0)) and the points with λ < 0.
    pub curvature_minus: Option<f64>,
}

impl CurveMetrics {
    /// Metrics of the points `(lambdas[i], values[i])` with `base` = v(0). A point at λ = 0 in
    /// the grid is ignored in favour of `base` (they are the same evaluation).
    pub fn compute(lambdas: &[f64], values: &[f64], base: f64, threshold: Threshold) -> Self {
        let side = |positive: bool| -> Vec<(f64, f64)> {
            let mut pts: Vec<(f64, f64)> = lambdas
                .iter()
                .zip(values)
                .filter(|(l, _)| if positive { **l > 0.0 } else { **l < 0.0 })
                .map(|(&l, &v)| (l, v))
                .collect();
            pts.sort_by(|a, b| a.0.abs().total_cmp(&b.0.abs()));
            pts
        };
        let (plus, minus) = (side(true), side(false));
        let mean = |p: &[(f64, f64)]| {
            if p.is_empty() {
                f64::NAN
            } else {
                p.iter().map(|x| x.1).sum::<f64>() / p.len() as f64
            }
        };
        let (mean_plus, mean_minus) = (mean(&plus), mean(&minus));
        let sum = mean_minus + mean_plus;
        let asymmetry = if sum.abs() > 0.0 { (mean_minus - mean_plus) / sum } else { 0.0 };
        let level = threshold.level(base);
        let width = |p: &[(f64, f64)]| p.iter().find(|(_, v)| *v > level).map(|(l, _)| l.abs());
        let curvature = |p: &[(f64, f64)]| {
            let mut pts = vec![(0.0, base)];
            pts.extend_from_slice(p);
            quadratic_fit(&pts).map(|(a, _, _)| 2.0 * a)
        };
        CurveMetrics {
            base,
            mean_plus,
            mean_minus,
            diff: mean_minus - mean_plus,
            asymmetry,
            width_plus: width(&plus),
            width_minus: width(&minus),
            curvature_plus: curvature(&plus),
            curvature_minus: curvature(&minus),
        }
    }

    /// The value of metric `m` (`None` for a width or curvature that is undefined).
    pub fn get(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::Base => Some(self.base),
            Metric::MeanPlus => Some(self.mean_plus),
            Metric::MeanMinus => Some(self.mean_minus),
            Metric::Diff => Some(self.diff),
            Metric::Asymmetry => Some(self.asymmetry),
            Metric::WidthPlus => self.width_plus,
            Metric::WidthMinus => self.width_minus,
            Metric::CurvaturePlus => self.curvature_plus,
            Metric::CurvatureMinus => self.curvature_minus,
        }
    }
}

/// Least-squares fit `y ≈ a·x² + b·x + c`; `None` with fewer than three distinct x.
pub fn quadratic_fit(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.dedup();
    if xs.len() < 3 || points.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return None;
    }
    // Normal equations [Σx⁴ Σx³ Σx²; Σx³ Σx² Σx; Σx² Σx n]·[a b c] = [Σx²y Σxy Σy].
    let mut s = [0.0f64; 5];
    let mut t = [0.0f64; 3];
    for &(x, y) in points {
        let mut p = 1.0;
        for k in 0..5 {
            s[k] += p;
            if k < 3 {
                t[k] += p * y;
            }
            p *= x;
        }
    }
    let m = [[s[4], s[3], s[2]], [s[3], s[2], s[1]], [s[2], s[1], s[0]]];
    let rhs = [t[2], t[1], t[0]];
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    if d.abs() < 1e-300 {
        return None;
    }
    let solve = |col: usize| {
        let mut mm = m;
        for r in 0..3 {
            mm[r][col] = rhs[r];
        }
        det(&mm) / d
    };
    Some((solve(0), solve(1), solve(2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_intervals_are_typed_and_written_by_name() {
        let lambdas = [-1.0, -0.5, 0.5, 1.0];
        let a = CurveMetrics::compute(&lambdas, &[0.9, 0.5, 0.2, 0.3], 0.1, Threshold::Absolute(0.05));
        let b = CurveMetrics::compute(&lambdas, &[0.7, 0.3, 0.2, 0.1], 0.1, Threshold::Absolute(0.5));
        let m = MetricIntervals::of(&[&a, &b]);
        assert_eq!(m.mean(Metric::MeanPlus), Some((a.mean_plus + b.mean_plus) / 2.0));
        assert_eq!(m.get(Metric::Asymmetry).map(|i| i.n), Some(2));
        // b never leaves the valley on + (0.2 < 0.6): only a's width enters.
        assert_eq!(m.get(Metric::WidthPlus).map(|i| (i.mean, i.n)), Some((0.5, 1)));
        let json = serde_json::to_value(&m).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort();
        assert_eq!(keys, names);
        assert_eq!(json["mean_plus"]["mean"], serde_json::json!((a.mean_plus + b.mean_plus) / 2.0));
        for metric in Metric::ALL {
            assert_eq!(serde_json::to_value(a).unwrap()[metric.name()], serde_json::json!(a.get(metric)));
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// A hand-built asymmetric curve on λ = −1, −0.5, 0, 0.5, 1.
    fn curve() -> (Vec<f64>, Vec<f64>) {
        (vec![-1.0, -0.5, 0.0, 0.5, 1.0], vec![0.9, 0.3, 0.1, 0.12, 0.2])
    }

    #[test]
    fn side_means_difference_and_asymmetry_match_hand_values() {
        let (l, v) = curve();
        let m = CurveMetrics::compute(&l, &v, 0.1, Threshold::Absolute(0.05));
        assert!(close(m.mean_plus, 0.16));
        assert!(close(m.mean_minus, 0.6));
        assert!(close(m.diff, 0.44));
        assert!(close(m.asymmetry, 0.44 / 0.76));
    }

    #[test]
    fn width_is_the_first_grid_point_past_the_threshold() {
        let (l, v) = curve();
        // level 0.15: + side 0.12 (no), 0.2 (yes) -> 1.0; − side 0.3 at 0.5 -> 0.5.
        let m = CurveMetrics::compute(&l, &v, 0.1, Threshold::Absolute(0.05));
        assert_eq!(m.width_plus, Some(1.0));
        assert_eq!(m.width_minus, Some(0.5));
        let wide = CurveMetrics::compute(&l, &v, 0.1, Threshold::Absolute(0.5));
        assert_eq!(wide.width_plus, None);
        assert_eq!(wide.width_minus, Some(1.0));
        // relative: level 0.1·1.5 = 0.15, same as above.
        let rel = CurveMetrics::compute(&l, &v, 0.1, Threshold::Relative(0.5));
        assert_eq!((rel.width_plus, rel.width_minus), (Some(1.0), Some(0.5)));
    }

    #[test]
    fn quadratic_fit_recovers_exact_parabolas_and_side_curvatures() {
        let pts: Vec<(f64, f64)> = [-1.0, 0.0, 0.5, 2.0].iter().map(|&x| (x, 3.0 * x * x - 2.0 * x + 0.5)).collect();
        let (a, b, c) = quadratic_fit(&pts).unwrap();
        assert!((a - 3.0).abs() < 1e-9 && (b + 2.0).abs() < 1e-9 && (c - 0.5).abs() < 1e-9);
        assert!(quadratic_fit(&pts[..2]).is_none());
        // v = 2λ² on the + side, 8λ² on the − side: curvatures 4 and 16.
        let l = [-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0];
        let v: Vec<f64> = l.iter().map(|&x: &f64| if x > 0.0 { 2.0 * x * x } else { 8.0 * x * x }).collect();
        let m = CurveMetrics::compute(&l, &v, 0.0, Threshold::Absolute(0.05));
        assert!((m.curvature_plus.unwrap() - 4.0).abs() < 1e-9);
        assert!((m.curvature_minus.unwrap() - 16.0).abs() < 1e-9);
    }

    #[test]
    fn least_squares_fit_of_noisy_points_matches_hand_solution() {
        // y = x² at x = 0, 1, 2 plus (x=3, y=10): normal equations (98a+36b+14c=107, 36a+14b+6c=39, 14a+6b+4c=15) give a = 1.25, b = −0.45, c = 0.05.
        let (a, b, c) = quadratic_fit(&[(0.0, 0.0), (1.0, 1.0), (2.0, 4.0), (3.0, 10.0)]).unwrap();
        assert!((a - 1.25).abs() < 1e-9, "{a}");
        assert!((b + 0.45).abs() < 1e-9, "{b}");
        assert!((c - 0.05).abs() < 1e-9, "{c}");
    }

    #[test]
    fn symmetric_curve_has_zero_asymmetry() {
        let l = [-1.0, -0.5, 0.5, 1.0];
        let v = [0.4, 0.2, 0.2, 0.4];
        let m = CurveMetrics::compute(&l, &v, 0.1, Threshold::Absolute(0.05));
        assert_eq!(m.asymmetry, 0.0);
        assert_eq!(m.width_plus, m.width_minus);
    }
}
