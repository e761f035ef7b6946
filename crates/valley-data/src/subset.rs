//! Stratified subsets and splits, and the largest-remainder apportionment they share with
//! the federated partitioners.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::ImageSet;

/// Splits `total` into integer parts proportional to `counts` (largest-remainder method,
/// ties to the lower index). Exact integer arithmetic; parts sum to `total` and, when
/// `total <= Σcounts`, no part exceeds its count.
pub(crate) fn apportion_counts(total: usize, counts: &[usize]) -> Vec<usize> {
    let n: u128 = counts.iter().map(|&c| c as u128).sum();
    if n == 0 {
        return vec![0; counts.len()];
    }
    let mut parts: Vec<usize> = counts.iter().map(|&c| (total as u128 * c as u128 / n) as usize).collect();
    let rem: Vec<u128> = counts.iter().map(|&c| total as u128 * c as u128 % n).collect();
    distribute(&mut parts, total, |a, b| rem[b].cmp(&rem[a]));
    parts
}

/// Splits `total` into integer parts proportional to non-negative `weights`
/// (largest-remainder method, ties to the lower index). All-zero weights split evenly.
pub(crate) fn apportion_weights(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if sum <= 0.0 || !sum.is_finite() {
        return apportion_counts(total, &vec![1; weights.len()]);
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    // rounding can only push the floors over `total` by float error; take the excess back
    // from the smallest remainders first
    while parts.iter().sum::<usize>() > total {
        let i = (0..parts.len())
            .filter(|&i| parts[i] > 0)
            .min_by(|&a, &b| (exact[a] - exact[a].floor()).total_cmp(&(exact[b] - exact[b].floor())))
            .unwrap_or(0);
        parts[i] -= 1;
    }
    let frac: Vec<f64> = exact.iter().map(|e| e - e.floor()).collect();
    distribute(&mut parts, total, |a, b| frac[b].total_cmp(&frac[a]));
    parts
}

fn distribute(parts: &mut [usize], total: usize, order: impl Fn(usize, usize) -> std::cmp::Ordering) {
    let left = total - parts.iter().sum::<usize>();
    let mut idx: Vec<usize> = (0..parts.len()).collect();
    idx.sort_by(|&a, &b| order(a, b).then(a.cmp(&b)));
    for &i in idx.iter().cycle().take(left) {
        parts[i] += 1;
    }
}

/// Indices of each class `0..num_classes`, in order; an out-of-range label is an error.
pub(crate) fn indices_by_class(labels: &[i64], num_classes: usize) -> Result<Vec<Vec<usize>>> {
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if l < 0 || l as usize >= num_classes {
            return Err(Error::LabelOutOfRange { index: i, label: l, num_classes });
        }
        by_class[l as usize].push(i);
    }
    Ok(by_class)
}

/// A class-stratified subset of at most `limit` samples.
///
/// Class c receives `limit · n_c / N` samples rounded by largest remainder, drawn at random
/// within the class; the result is shuffled. Deterministic per `seed` (ChaCha8). With
/// `limit >= N` the whole set is returned unchanged, in its original order.
pub fn stratified_subset(set: &ImageSet, limit: usize, seed: u64) -> ImageSet {
    if limit >= set.len() {
        return set.clone();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut by_class = vec![Vec::new(); set.num_classes];
    for (i, &l) in set.labels.iter().enumerate() {
        if l >= 0 && (l as usize) < set.num_classes {
            by_class[l as usize].push(i);
        }
    }
    let counts: Vec<usize> = by_class.iter().map(Vec::len).collect();
    let limit = limit.min(counts.iter().sum());
    let quotas = apportion_counts(limit, &counts);
    let mut chosen = Vec::with_capacity(limit);
    for (mut idx, q) in by_class.into_iter().zip(quotas) {
        idx.shuffle(&mut rng);
        chosen.extend_from_slice(&idx[..q]);
    }
    chosen.shuffle(&mut rng);
    set.select(&chosen)
}

/// A class-stratified train/test split of sample indices.
///
/// The test split has `round(N · test_fraction)` samples apportioned over classes by
/// largest remainder and drawn at random within each class (ChaCha8 seeded with `seed`);
/// both index lists are returned in ascending order.
pub fn stratified_split(
    labels: &[i64],
    num_classes: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..=1.0).contains(&test_fraction) {
        return Err(Error::BadTestFraction { fraction: test_fraction });
    }
    let by_class = indices_by_class(labels, num_classes)?;
    let counts: Vec<usize> = by_class.iter().map(Vec::len).collect();
    let n_test = (labels.len() as f64 * test_fraction).round() as usize;
    let quotas = apportion_counts(n_test, &counts);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (mut idx, q) in by_class.into_iter().zip(quotas) {
        idx.shuffle(&mut rng);
        test.extend_from_slice(&idx[..q]);
        train.extend_from_slice(&idx[q..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_with(counts: &[usize]) -> ImageSet {
        let labels: Vec<i64> = counts.iter().enumerate().flat_map(|(c, &n)| vec![c as i64; n]).collect();
        ImageSet {
            channels: 1,
            height: 1,
            width: 1,
            pixels: (0..labels.len()).map(|i| i as f32).collect(),
            labels,
            num_classes: counts.len(),
        }
    }

    #[test]
    fn largest_remainder_by_hand() {
        // 10 · (5, 3, 2)/10 exactly; 7 · (5,3,2)/10 = 3.5, 2.1, 1.4 -> 3,2,1 + 1 to class 0
        assert_eq!(apportion_counts(10, &[5, 3, 2]), vec![5, 3, 2]);
        assert_eq!(apportion_counts(7, &[5, 3, 2]), vec![4, 2, 1]);
        assert_eq!(apportion_counts(2, &[1, 1, 1]), vec![1, 1, 0]);
        assert_eq!(apportion_weights(7, &[0.5, 0.3, 0.2]), vec![4, 2, 1]);
        assert_eq!(apportion_weights(3, &[0.0, 0.0]), vec![2, 1]);
        assert_eq!(apportion_weights(1000, &[1.0 / 3.0; 3]).iter().sum::<usize>(), 1000);
    }

    #[test]
    fn subset_is_stratified_deterministic_and_shuffled() {
        let set = set_with(&[50, 30, 20]);
        let s = stratified_subset(&set, 10, 7);
        assert_eq!(s.len(), 10);
        assert_eq!(s.class_counts(), vec![5, 3, 2]);
        // every selected pixel still belongs with its label
        for i in 0..s.len() {
            assert_eq!(set.labels[s.pixels[i] as usize], s.labels[i]);
        }
        let again = stratified_subset(&set, 10, 7);
        assert_eq!(again.pixels, s.pixels);
        assert_ne!(stratified_subset(&set, 10, 8).pixels, s.pixels);
        let sorted = s.labels.windows(2).all(|w| w[0] <= w[1]);
        assert!(!sorted, "order should be shuffled, got {:?}", s.labels);
        let mut uniq = s.pixels.clone();
        uniq.dedup();
        assert_eq!(uniq.len(), 10);
        let whole = stratified_subset(&set, 100, 1);
        assert_eq!(whole.pixels, set.pixels);
    }

    #[test]
    fn split_is_disjoint_complete_and_stratified() {
        let labels: Vec<i64> = (0..103).map(|i| (i % 4) as i64).collect();
        let (train, test) = stratified_split(&labels, 4, 0.2, 0).unwrap();
        assert_eq!(test.len(), 21);
        let mut all = [train.clone(), test.clone()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        let mut per = [0; 4];
        test.iter().for_each(|&i| per[labels[i] as usize] += 1);
        assert!(per.iter().all(|&p| p == 5 || p == 6), "{per:?}");
        assert_eq!(stratified_split(&labels, 4, 0.2, 0).unwrap().1, test);
        assert!(stratified_split(&labels, 3, 0.2, 0).is_err());
        assert!(stratified_split(&labels, 4, 1.5, 0).is_err());
    }
}
