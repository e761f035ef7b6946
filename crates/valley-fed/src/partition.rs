//! Splitting a training set over K clients, seeded from the run seed.

use valley::rng::{self, tag};
use valley_data::{client_class_matrix, partition, Partition};

use crate::{Error, Result};

/// Client sample indices for `scheme`, drawn with the stream (seed, PARTITION), so
/// `valley partition` and `valley fed` with the same seed see the same split.
pub fn split_clients(
    labels: &[i64],
    num_classes: usize,
    clients: usize,
    scheme: &Partition,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if clients > labels.len() {
        return Err(Error::TooManyClients { clients, samples: labels.len() });
    }
    Ok(partition(labels, num_classes, clients, scheme, rng::derive_seed(seed, &[tag::PARTITION]))?)
}

/// The client × class count matrix and a one-line description of the split's skew.
pub struct PartitionReport {
    pub matrix: Vec<Vec<usize>>,
    pub empty_clients: usize,
    /// Mean over clients of the largest class share (1/C for a perfectly balanced split).
    pub mean_max_share: f64,
}

impl PartitionReport {
    pub fn new(parts: &[Vec<usize>], labels: &[i64], num_classes: usize) -> Self {
        let matrix = client_class_matrix(parts, labels, num_classes);
        let nonempty: Vec<&Vec<usize>> = matrix.iter().filter(|r| r.iter().sum::<usize>() > 0).collect();
        let mean_max_share =
            nonempty.iter().map(|r| *r.iter().max().unwrap_or(&0) as f64 / r.iter().sum::<usize>() as f64).sum::<f64>()
                / nonempty.len().max(1) as f64;
        Self { empty_clients: matrix.len() - nonempty.len(), matrix, mean_max_share }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_every_sample_once_and_is_seeded() {
        let labels: Vec<i64> = (0..500).map(|i| (i * 7 % 10) as i64).collect();
        let d = Partition::Dirichlet { alpha: 0.5 };
        let parts = split_clients(&labels, 10, 20, &d, 1).unwrap();
        let mut seen = vec![0; labels.len()];
        parts.iter().flatten().for_each(|&i| seen[i] += 1);
        assert!(seen.iter().all(|&s| s == 1));
        assert_eq!(parts, split_clients(&labels, 10, 20, &d, 1).unwrap());
        assert_ne!(parts, split_clients(&labels, 10, 20, &d, 2).unwrap());
        let r = PartitionReport::new(&parts, &labels, 10);
        assert_eq!(r.matrix.iter().flatten().sum::<usize>(), 500);
        let iid = PartitionReport::new(&split_clients(&labels, 10, 20, &Partition::Iid, 1).unwrap(), &labels, 10);
        assert!(r.mean_max_share > iid.mean_max_share, "Dirichlet 0.5 is more skewed than IID");
        let err = split_clients(&labels, 10, 501, &Partition::Iid, 1).unwrap_err().to_string();
        assert!(err.contains("501 clients"), "{err}");
    }
}
