//! Summary statistics of repeated measurements and rank correlations, one copy for every
//! crate. Conventions: `n` values `x₁…xₙ`, mean `x̄ = Σxᵢ/n`, sample standard deviation
//! `s = √(Σ(xᵢ − x̄)²/(n − 1))`, standard error `s/√n`.

use serde::{Deserialize, Serialize};

/// `x̄ = Σxᵢ/n`; NaN for no values.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        f64::NAN
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Sample variance `s² = Σ(xᵢ − x̄)²/(n − 1)`; NaN with fewer than two values.
pub fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64
}

/// Sample standard deviation `s = √(Σ(xᵢ − x̄)²/(n − 1))`; 0 for one value (no spread was
/// observed), NaN for none.
pub fn std(x: &[f64]) -> f64 {
    match x.len() {
        0 => f64::NAN,
        1 => 0.0,
        _ => variance(x).sqrt(),
    }
}

/// Standard error of the mean `s/√n`, computed as `√(s²/n)`; NaN with fewer than two values.
pub fn std_err(x: &[f64]) -> f64 {
    (variance(x) / x.len() as f64).sqrt()
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (NaN for `df` = 0).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        // Cornish–Fisher correction to the normal quantile, accurate to 1e-3 beyond 30 df.
        _ => {
            let (z, d) = (1.959964f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Mean and two-sided 95 % t interval of repeated measurements: `x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub mean: f64,
    /// `x̄ − t₀.₉₇₅,ₙ₋₁ · s/√n` (`None` with fewer than two values).
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Number of finite values.
    pub n: usize,
}

impl Interval {
    /// The interval over the finite entries of `values` (`None` entries are skipped);
    /// `None` when no value is finite.
    pub fn of(values: &[Option<f64>]) -> Option<Interval> {
        let v: Vec<f64> = values.iter().flatten().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return None;
        }
        let mean = mean(&v);
        if n < 2 {
            return Some(Interval { mean, lo: None, hi: None, n });
        }
        let half = t975(n - 1) * std_err(&v);
        Some(Interval { mean, lo: Some(mean - half), hi: Some(mean + half), n })
    }
}

/// Pearson correlation `Σ(xᵢ−x̄)(yᵢ−ȳ) / √(Σ(xᵢ−x̄)² · Σ(yᵢ−ȳ)²)`; NaN with fewer than two
/// points, unequal lengths or a constant series.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        f64::NAN
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Spearman's ρ: the Pearson correlation of the ranks, tied values sharing their average rank.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Ranks 1…n in ascending order; a run of tied values gets the mean of the ranks it spans.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Kendall's τ-b `(n_c − n_d) / √((n₀ − n₁)(n₀ − n₂))` over all pairs `i < j`: `n_c` concordant
/// and `n_d` discordant pairs, `n₀ = n(n−1)/2`, `n₁`/`n₂` the pairs tied in x/y. NaN with fewer
/// than two points, unequal lengths or a constant series.
pub fn kendall(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if n != y.len() || n < 2 {
        return f64::NAN;
    }
    let (mut concordant, mut discordant, mut tied_x, mut tied_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
            if dx == 0.0 {
                tied_x += 1;
            }
            if dy == 0.0 {
                tied_y += 1;
            }
            if dx != 0.0 && dy != 0.0 {
                if (dx > 0.0) == (dy > 0.0) {
                    concordant += 1;
                } else {
                    discordant += 1;
                }
            }
        }
    }
    let n0 = (n * (n - 1) / 2) as i64;
    let denom = (((n0 - tied_x) * (n0 - tied_y)) as f64).sqrt();
    if denom == 0.0 {
        f64::NAN
    } else {
        (concordant - discordant) as f64 / denom
    }
}

/// Exact one-sided p-value of a monotone trend of `y` in `x`: the probability, when every
/// ordering of `y` is equally likely, of at most as many pairs against the trend as observed.
/// A pair `i < j` (ordered by `x`) is against an increasing trend when `y` does not rise
/// (ties count against it); the null distribution of that count is the number of inversions
/// of a random permutation (the Mahonian numbers). NaN for unequal lengths, fewer than two
/// points, or ties in `x`.
pub fn trend_p(x: &[f64], y: &[f64], increasing: bool) -> f64 {
    let n = x.len();
    if n != y.len() || n < 2 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    if order.windows(2).any(|w| x[w[0]] == x[w[1]]) {
        return f64::NAN;
    }
    let ys: Vec<f64> = order.iter().map(|&i| if increasing { y[i] } else { -y[i] }).collect();
    let against = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).filter(|&(i, j)| ys[j] <= ys[i]).count();
    // counts[k]: permutations of the first m elements with k inversions.
    let mut counts = vec![1.0f64];
    for m in 2..=n {
        let mut next = vec![0.0; counts.len() + m - 1];
        for (k, &c) in counts.iter().enumerate() {
            for slot in &mut next[k..k + m] {
                *slot += c;
            }
        }
        counts = next;
    }
    let total: f64 = counts.iter().sum();
    counts[..=against.min(counts.len() - 1)].iter().sum::<f64>() / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_p_is_exact_on_small_samples() {
        let x = [0.0, 1.0, 2.0];
        // 3! = 6 orderings; a perfectly rising y is 1 of them, so p = 1/6.
        assert!(close(trend_p(&x, &[1.0, 2.0, 3.0], true), 1.0 / 6.0));
        // One pair against the trend: orderings with ≤ 1 inversion are 1 + 2 = 3.
        assert!(close(trend_p(&x, &[2.0, 1.0, 3.0], true), 3.0 / 6.0));
        // A falling series tested for a fall, and a tie counting against the trend.
        assert!(close(trend_p(&x, &[3.0, 2.0, 1.0], false), 1.0 / 6.0));
        assert!(close(trend_p(&x, &[1.0, 1.0, 3.0], true), 3.0 / 6.0));
        // 11 points in order: 1/11!, far below any threshold.
        let r: Vec<f64> = (0..11).map(f64::from).collect();
        assert!(close(trend_p(&r, &r, true), 1.0 / 39_916_800.0));
        assert!(close(trend_p(&r, &r, false), 1.0));
        assert!(trend_p(&[0.0, 0.0], &[1.0, 2.0], true).is_nan());
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn mean_std_and_std_err_match_hand_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, Σ(x−5)² = 32, s = √(32/7), se = s/√8.
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(mean(&x), 5.0));
        assert!(close(std(&x), (32.0f64 / 7.0).sqrt()));
        assert!(close(variance(&x), 32.0 / 7.0));
        assert!(close(std_err(&x), (32.0f64 / 7.0).sqrt() / 8f64.sqrt()));
        assert!(mean(&[]).is_nan());
        assert_eq!(std(&[3.0]), 0.0);
        assert!(std(&[]).is_nan());
        assert!(std_err(&[3.0]).is_nan());
    }

    #[test]
    fn t_interval_matches_hand_value() {
        // 1, 2, 3 (None skipped): mean 2, s = 1, half width t₀.₉₇₅,₂ · 1/√3 = 4.303/√3.
        let i = Interval::of(&[Some(1.0), Some(2.0), None, Some(3.0)]).unwrap();
        assert!(close(i.mean, 2.0));
        assert_eq!(i.n, 3);
        assert!((i.hi.unwrap() - (2.0 + 4.303 / 3f64.sqrt())).abs() < 1e-9);
        assert!((i.lo.unwrap() - (2.0 - 4.303 / 3f64.sqrt())).abs() < 1e-9);
        assert!(Interval::of(&[Some(1.0)]).unwrap().lo.is_none());
        assert!(Interval::of(&[None, Some(f64::NAN)]).is_none());
    }

    #[test]
    fn t_quantile_table_and_large_df() {
        assert_eq!(t975(1), 12.706);
        assert_eq!(t975(30), 2.042);
        // Tabulated t₀.₉₇₅,₂₀₀ = 1.972.
        assert!((t975(200) - 1.972).abs() < 2e-3);
        // Tabulated t₀.₉₇₅,₁₂₀ = 1.980.
        assert!((t975(120) - 1.980).abs() < 1e-3);
        assert!(t975(0).is_nan());
    }

    #[test]
    fn ranks_average_ties() {
        // 10 is smallest (1); the two 20s share ranks 2 and 3 → 2.5; 30 is 4.
        assert_eq!(ranks(&[20.0, 10.0, 30.0, 20.0]), vec![2.5, 1.0, 4.0, 2.5]);
    }

    #[test]
    fn spearman_matches_hand_value_with_ties() {
        assert!(close(spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]), 1.0));
        assert!(close(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
        // x ranks 1,2,3,4; y = 1,2,2,3 ranks 1,2.5,2.5,4. Deviations from 2.5:
        // x −1.5,−.5,.5,1.5; y −1.5,0,0,1.5 → Σxy = 4.5, Σx² = 5, Σy² = 4.5, ρ = 4.5/√22.5.
        assert!(close(spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 2.0, 3.0]), 4.5 / 22.5f64.sqrt()));
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn kendall_tau_b_matches_hand_value_with_ties() {
        assert!(close(kendall(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0));
        assert!(close(kendall(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0));
        // x = 1,2,3,4, y = 1,3,2,4: pairs (2,3) discordant, other 5 concordant → τ = 4/6.
        assert!(close(kendall(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]), 4.0 / 6.0));
        // y = 1,2,2,3: pair (2,3) tied in y, the other 5 concordant; n₀ = 6, n₁ = 0, n₂ = 1
        // → τ-b = 5/√(6·5) (τ-a would give 5/6).
        assert!(close(kendall(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 2.0, 3.0]), 5.0 / 30f64.sqrt()));
        assert!(kendall(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(kendall(&[1.0], &[1.0]).is_nan());
    }
}
