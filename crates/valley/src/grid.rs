//! λ grids and numeric lists on the command line: the one grid type of landscapes,
//! planes, interpolation curves and soups.

use crate::{Error, Result};

/// The most points a λ grid may have: 10 001 model evaluations already take hours, and a
/// typo such as `-1:1:100000000` would otherwise allocate until memory runs out.
pub const MAX_GRID_POINTS: usize = 10_001;

/// A λ grid: finite values, sorted ascending, without duplicates. Parses from
/// `START:END:COUNT` or a comma list ([`parse_lambdas`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Lambdas(Vec<f64>);

impl Lambdas {
    /// The grid plus λ = 0, ½ and 1 (needed for the barrier and the performance gap of an
    /// interpolation curve), sorted, without duplicates.
    pub fn with_anchors(&self) -> Lambdas {
        let mut out: Vec<f64> = self.0.iter().copied().chain([0.0, 0.5, 1.0]).collect();
        out.sort_by(f64::total_cmp);
        out.dedup();
        Lambdas(out)
    }

    /// A grid of given values: refuses non-finite ones, sorts, drops repeats.
    pub fn from_values(values: &[f64]) -> Result<Self> {
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(Error::Config(format!("λ grid: {v} is not a finite number")));
        }
        let mut out = values.to_vec();
        out.sort_by(f64::total_cmp);
        out.dedup();
        Ok(Lambdas(out))
    }

    pub fn to_vec(&self) -> Vec<f64> {
        self.0.clone()
    }
}

impl std::ops::Deref for Lambdas {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        &self.0
    }
}

impl std::str::FromStr for Lambdas {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse_lambdas(s).map(Lambdas)
    }
}

/// Parses a λ grid: `start:end:count` (evenly spaced, both ends included, e.g. the paper's
/// default `-1:1:21`, step 0.1) or a comma list `-1,-0.5,0,0.5,1`. The result is sorted
/// ascending, finite and free of duplicates.
pub fn parse_lambdas(s: &str) -> Result<Vec<f64>> {
    let bad = |why: &str| {
        Error::Config(format!("λ grid `{s}`: {why} (expected START:END:COUNT like -1:1:21, or a list like -1,0,1)"))
    };
    let s = s.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut values = if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b, n] = parts[..] else { return Err(bad("a range needs exactly three fields")) };
        let a: f64 = a.trim().parse().map_err(|_| bad(&format!("start `{a}` is not a number")))?;
        let b: f64 = b.trim().parse().map_err(|_| bad(&format!("end `{b}` is not a number")))?;
        let n: usize = n.trim().parse().map_err(|_| bad(&format!("count `{n}` is not a whole number")))?;
        if n == 0 {
            return Err(bad("count must be at least 1"));
        }
        if n > MAX_GRID_POINTS {
            return Err(bad(&format!("count {n} exceeds the limit of {MAX_GRID_POINTS} points")));
        }
        if !(a.is_finite() && b.is_finite()) {
            return Err(bad("start and end must be finite numbers"));
        }
        if n == 1 {
            return Ok(vec![a]);
        }
        // Written so that NaN ends ("nan" parses as f64) are refused too.
        if a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) {
            return Err(bad("start must be below end"));
        }
        // i/(n-1) exactly hits 0 for symmetric ranges with an odd count, so λ=0 is θf itself.
        (0..n).map(|i| round12(a + (b - a) * i as f64 / (n - 1) as f64)).collect::<Vec<f64>>()
    } else {
        parse_f64_list(s, "λ").map_err(|_| bad("every entry must be a finite number"))?
    };
    if values.len() > MAX_GRID_POINTS {
        return Err(bad(&format!("{} values exceed the limit of {MAX_GRID_POINTS} points", values.len())));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(bad("values must be finite"));
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let before = values.len();
    values.dedup();
    if values.len() != before {
        return Err(bad("values repeat"));
    }
    Ok(values)
}

/// Parses a comma-separated list of numbers, naming `what` in errors.
pub fn parse_f64_list(s: &str, what: &str) -> Result<Vec<f64>> {
    s.split(',')
        .map(|v| {
            let v = v.trim();
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::Config(format!("{what} list `{s}`: `{v}` is not a finite number")))
        })
        .collect()
}

/// Rounds away float noise (0.30000000000000004 → 0.3) so grids print and compare cleanly.
fn round12(x: f64) -> f64 {
    let r = (x * 1e12).round() / 1e12;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grid_has_21_points_step_01_with_exact_zero() {
        let g = parse_lambdas("-1:1:21").unwrap();
        assert_eq!(g.len(), 21);
        assert_eq!(g[0], -1.0);
        assert_eq!(g[20], 1.0);
        assert_eq!(g[10], 0.0);
        assert_eq!(g[13], 0.3);
        assert_eq!(parse_lambdas("-1:1:5").unwrap(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
    }

    #[test]
    fn anchors_are_added_sorted_and_unique() {
        let g: Lambdas = "1.5,0.5,-1".parse().unwrap();
        assert_eq!(&*g.with_anchors(), &[-1.0, 0.0, 0.5, 1.0, 1.5]);
        assert_eq!(&*"0:1:3".parse::<Lambdas>().unwrap().with_anchors(), &[0.0, 0.5, 1.0]);
    }

    #[test]
    fn lists_are_sorted() {
        assert_eq!(parse_lambdas("0.5, -1,0").unwrap(), vec![-1.0, 0.0, 0.5]);
        assert_eq!(parse_lambdas("2").unwrap(), vec![2.0]);
        assert_eq!(parse_lambdas("0.3:0.9:1").unwrap(), vec![0.3]);
        let g = parse_lambdas("-0.5:1.5:21").unwrap();
        for anchor in [0.0, 0.5, 1.0] {
            assert!(g.contains(&anchor), "{anchor} missing from {g:?}");
        }
    }

    #[test]
    fn malformed_grids_are_rejected_with_the_input_in_the_message() {
        for bad in [
            "",
            "-1:1",
            "-1:1:0",
            "1:-1:5",
            "0:inf:3",
            "nan:0:1",
            "inf:0:1",
            "-1:1:10002",
            "a:1:5",
            "-1:1:x",
            "-1:1:2.5",
            "0,0",
            "1,,2",
            "nan",
            "-1:1:5:7",
        ] {
            let e = parse_lambdas(bad).unwrap_err().to_string();
            assert!(e.contains("λ grid"), "{bad}: {e}");
        }
    }
}
