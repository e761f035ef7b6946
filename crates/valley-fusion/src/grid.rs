//! λ grids for interpolation curves.

pub use valley::grid::parse_lambdas;

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
    fn anchors_are_added_sorted_and_unique() {
        assert_eq!(with_anchors(&[1.5, 0.5, -1.0]), vec![-1.0, 0.0, 0.5, 1.0, 1.5]);
    }
}
