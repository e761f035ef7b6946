//! λ grids for interpolation curves.

use crate::{FusionError, Result};

/// Parses a λ grid: `START:END:COUNT` (COUNT evenly spaced points, both ends included,
/// `λ_i = START + i·(END − START)/(COUNT − 1)`) or a comma list `0,0.5,1`.
/// Values are rounded to 12 decimals so that `-0.5:1.5:21` holds 0, 0.5 and 1 exactly.
pub fn parse_lambdas(spec: &str) -> Result<Vec<f64>> {
    let bad = |detail: String| FusionError::Grid { spec: spec.to_string(), detail };
    let num = |s: &str| -> Result<f64> {
        let v: f64 = s.trim().parse().map_err(|_| bad(format!("`{}` is not a number", s.trim())))?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(bad(format!("`{}` is not finite", s.trim())))
        }
    };
    let spec_t = spec.trim();
    if spec_t.is_empty() {
        return Err(bad("the grid is empty".into()));
    }
    let values = if spec_t.contains(':') {
        let parts: Vec<&str> = spec_t.split(':').collect();
        let [start, end, count] = parts.as_slice() else {
            return Err(bad(format!("a range needs three fields, got {}", parts.len())));
        };
        let (start, end) = (num(start)?, num(end)?);
        let count: usize = count.trim().parse().map_err(|_| bad(format!("count `{}` is not a whole number", count.trim())))?;
        match count {
            0 => return Err(bad("count must be at least 1".into())),
            1 => vec![start],
            _ => (0..count).map(|i| round12(start + (end - start) * i as f64 / (count - 1) as f64)).collect(),
        }
    } else {
        spec_t.split(',').map(num).collect::<Result<Vec<f64>>>()?
    };
    Ok(values)
}

fn round12(x: f64) -> f64 {
    let r = (x * 1e12).round() / 1e12;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// The grid plus λ = 0, ½ and 1 (needed for the barrier and the performance gap), sorted,
/// without duplicates.
pub fn with_anchors(lambdas: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = lambdas.iter().copied().chain([0.0, 0.5, 1.0]).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_lists_parse() {
        let g = parse_lambdas("-0.5:1.5:21").unwrap();
        assert_eq!(g.len(), 21);
        assert_eq!((g[0], g[20]), (-0.5, 1.5));
        for anchor in [0.0, 0.5, 1.0] {
            assert!(g.contains(&anchor), "{anchor} missing from {g:?}");
        }
        assert_eq!(parse_lambdas("0, 0.5,1").unwrap(), vec![0.0, 0.5, 1.0]);
        assert_eq!(parse_lambdas("0.3:0.9:1").unwrap(), vec![0.3]);
        assert_eq!(with_anchors(&[1.5, 0.5, -1.0]), vec![-1.0, 0.0, 0.5, 1.0, 1.5]);
    }

    #[test]
    fn malformed_grids_are_rejected_with_the_spec() {
        for spec in ["", "0:1", "0:1:x", "0:1:0", "a,b", "0,,1", "0:inf:3", "1:2:3:4"] {
            let e = parse_lambdas(spec).unwrap_err().to_string();
            assert!(e.contains(&format!("`{spec}`")), "{e}");
        }
    }
}
