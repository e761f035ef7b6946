//! Federated partitions of a training set over K clients (paper §5).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::subset::{apportion_weights, indices_by_class};

/// How samples are spread over clients.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partition {
    /// Uniformly shuffled, near-equal client sizes.
    Iid,
    /// Label skew: client class proportions drawn from Dir(α); small α, strong skew.
    Dirichlet { alpha: f64 },
    /// Samples sorted by label, cut into K·`per_client` shards, `per_client` per client.
    Shards { per_client: usize },
}

impl std::str::FromStr for Partition {
    type Err = Error;

    /// `iid`, `dirichlet:<alpha>` or `shards:<per_client>`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &'static str| Error::BadPartition { spec: s.to_string(), why };
        let p = match s.split_once(':') {
            None if s == "iid" => Partition::Iid,
            Some(("dirichlet", a)) => {
                Partition::Dirichlet { alpha: a.parse().map_err(|_| bad("alpha is not a number"))? }
            }
            Some(("shards", n)) => {
                Partition::Shards { per_client: n.parse().map_err(|_| bad("shard count is not an integer"))? }
            }
            _ => return Err(bad("unknown scheme")),
        };
        p.validate()?;
        Ok(p)
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Partition::Iid => f.write_str("iid"),
            Partition::Dirichlet { alpha } => write!(f, "dirichlet:{alpha}"),
            Partition::Shards { per_client } => write!(f, "shards:{per_client}"),
        }
    }
}

impl Partition {
    fn validate(&self) -> Result<()> {
        match *self {
            Partition::Dirichlet { alpha } if !(alpha.is_finite() && alpha > 0.0) => Err(Error::BadAlpha { alpha }),
            Partition::Shards { per_client: 0 } => Err(Error::NoShards),
            _ => Ok(()),
        }
    }
}

/// Assigns every sample index `0..labels.len()` to exactly one of `clients` clients.
///
/// * `Iid`: shuffle, then contiguous chunks whose sizes differ by at most one.
/// * `Dirichlet{α}`: for each client k draw p_k ~ Dir(α) over classes (Gamma(α,1) per
///   class, normalised; if every draw underflows to 0, all mass goes to one random class,
///   the α → 0 limit). For each class c, normalise over clients, q_{k,c} = p_{k,c} / Σ_j
///   p_{j,c}, and deal the shuffled samples of c to clients in counts n_c·q_{k,c} rounded
///   by largest remainder. Clients can end up empty when α is small.
/// * `Shards{s}`: indices sorted by label (stable), cut into K·s near-equal contiguous
///   shards, shards shuffled, client k gets shards k·s … k·s+s−1.
///
/// Each client's indices are returned in ascending order. Deterministic per `seed`
/// (ChaCha8). Errors: `clients == 0`, more clients (or shards) than samples, invalid α or
/// shard count, a label outside `0..num_classes`.
///
/// ```
/// use valley_data::{partition, Partition};
/// let labels: Vec<i64> = (0..100).map(|i| i % 10).collect();
/// let parts = partition(&labels, 10, 5, &"dirichlet:0.5".parse::<Partition>()?, 0)?;
/// assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 100);
/// # Ok::<(), valley_data::Error>(())
/// ```
pub fn partition(
    labels: &[i64],
    num_classes: usize,
    clients: usize,
    scheme: &Partition,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    scheme.validate()?;
    if clients == 0 {
        return Err(Error::NoClients);
    }
    let n = labels.len();
    if clients > n {
        return Err(Error::TooManyClients { clients, samples: n });
    }
    let by_class = indices_by_class(labels, num_classes)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = match *scheme {
        Partition::Iid => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut rng);
            chunks(&idx, clients)
        }
        Partition::Dirichlet { alpha } => dirichlet(&by_class, clients, alpha, &mut rng)?,
        Partition::Shards { per_client } => {
            let shards = clients.checked_mul(per_client).filter(|&s| s <= n).ok_or(Error::TooManyShards {
                clients,
                per_client,
                samples: n,
            })?;
            let sorted: Vec<usize> = by_class.concat();
            let mut pieces = chunks(&sorted, shards);
            pieces.shuffle(&mut rng);
            pieces.chunks(per_client).map(|c| c.concat()).collect()
        }
    };
    parts.iter_mut().for_each(|p| p.sort_unstable());
    Ok(parts)
}

/// `idx` cut into `k` contiguous pieces, the first `len % k` one longer.
fn chunks(idx: &[usize], k: usize) -> Vec<Vec<usize>> {
    let (q, r) = (idx.len() / k, idx.len() % k);
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let len = q + (i < r) as usize;
        out.push(idx[start..start + len].to_vec());
        start += len;
    }
    out
}

fn dirichlet(by_class: &[Vec<usize>], clients: usize, alpha: f64, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<usize>>> {
    let classes = by_class.len();
    // `validate` has checked α, so this fails only for the same reason it would.
    let gamma = Gamma::new(alpha, 1.0).map_err(|_| Error::BadAlpha { alpha })?;
    let mut p = vec![vec![0f64; classes]; clients];
    for row in p.iter_mut() {
        row.iter_mut().for_each(|v| *v = gamma.sample(rng));
        let s: f64 = row.iter().sum();
        if s > 0.0 && s.is_finite() {
            row.iter_mut().for_each(|v| *v /= s);
        } else if classes > 0 {
            row.iter_mut().for_each(|v| *v = 0.0);
            row[rng.random_range(0..classes)] = 1.0;
        }
    }
    let mut parts = vec![Vec::new(); clients];
    for (c, idx) in by_class.iter().enumerate() {
        let mut idx = idx.clone();
        idx.shuffle(rng);
        let weights: Vec<f64> = p.iter().map(|row| row[c]).collect();
        let counts = apportion_weights(idx.len(), &weights);
        let mut start = 0;
        for (k, cnt) in counts.into_iter().enumerate() {
            parts[k].extend_from_slice(&idx[start..start + cnt]);
            start += cnt;
        }
    }
    Ok(parts)
}

/// Samples per client and class: `m[k][c]` = number of client k's samples with label c
/// (labels outside `0..num_classes` are not counted).
pub fn client_class_matrix(parts: &[Vec<usize>], labels: &[i64], num_classes: usize) -> Vec<Vec<usize>> {
    parts
        .iter()
        .map(|p| {
            let mut row = vec![0; num_classes];
            for &i in p {
                if let Some(&l) = labels.get(i) {
                    if l >= 0 && (l as usize) < num_classes {
                        row[l as usize] += 1;
                    }
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize, classes: usize) -> Vec<i64> {
        (0..n).map(|i| ((i * 7 + i / 3) % classes) as i64).collect()
    }

    fn check_cover(parts: &[Vec<usize>], labels: &[i64], classes: usize) {
        let mut seen = vec![0u8; labels.len()];
        parts.iter().flatten().for_each(|&i| seen[i] += 1);
        assert!(seen.iter().all(|&s| s == 1), "every sample exactly once");
        let m = client_class_matrix(parts, labels, classes);
        for c in 0..classes {
            let total: usize = m.iter().map(|r| r[c]).sum();
            assert_eq!(total, labels.iter().filter(|&&l| l == c as i64).count());
        }
        for (row, p) in m.iter().zip(parts) {
            assert_eq!(row.iter().sum::<usize>(), p.len());
        }
    }

    fn mean_max_fraction(parts: &[Vec<usize>], labels: &[i64], classes: usize) -> f64 {
        let m = client_class_matrix(parts, labels, classes);
        let fr: Vec<f64> = m
            .iter()
            .filter(|r| r.iter().sum::<usize>() > 0)
            .map(|r| *r.iter().max().unwrap() as f64 / r.iter().sum::<usize>() as f64)
            .collect();
        fr.iter().sum::<f64>() / fr.len() as f64
    }

    #[test]
    fn parse_and_display() {
        assert_eq!("iid".parse::<Partition>().unwrap(), Partition::Iid);
        assert_eq!("dirichlet:0.5".parse::<Partition>().unwrap(), Partition::Dirichlet { alpha: 0.5 });
        assert_eq!("shards:2".parse::<Partition>().unwrap(), Partition::Shards { per_client: 2 });
        for bad in ["dirichlet:0", "dirichlet:-1", "dirichlet:nan", "dirichlet:inf", "shards:0", "shards:x", "zipf"] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
        assert_eq!(Partition::Dirichlet { alpha: 0.5 }.to_string(), "dirichlet:0.5");
    }

    #[test]
    fn all_schemes_cover_disjointly_and_are_deterministic() {
        let l = labels(1000, 10);
        for scheme in [
            Partition::Iid,
            Partition::Dirichlet { alpha: 0.5 },
            Partition::Dirichlet { alpha: 0.01 },
            Partition::Shards { per_client: 2 },
        ] {
            let p = partition(&l, 10, 20, &scheme, 1).unwrap();
            assert_eq!(p.len(), 20);
            check_cover(&p, &l, 10);
            assert_eq!(p, partition(&l, 10, 20, &scheme, 1).unwrap(), "{scheme}");
            assert_ne!(p, partition(&l, 10, 20, &scheme, 2).unwrap(), "{scheme}");
        }
        let iid = partition(&l, 10, 7, &Partition::Iid, 0).unwrap();
        assert!(iid.iter().all(|p| p.len() == 142 || p.len() == 143));
        let shards = partition(&l, 10, 20, &Partition::Shards { per_client: 2 }, 0).unwrap();
        let m = client_class_matrix(&shards, &l, 10);
        assert!(m.iter().all(|r| r.iter().filter(|&&c| c > 0).count() <= 4), "sorted shards span few classes");
    }

    #[test]
    fn smaller_alpha_gives_more_label_skew() {
        let l = labels(5000, 10);
        let skew = |alpha| {
            let p = partition(&l, 10, 50, &Partition::Dirichlet { alpha }, 0).unwrap();
            mean_max_fraction(&p, &l, 10)
        };
        let (s01, s1, s100) = (skew(0.1), skew(1.0), skew(100.0));
        assert!(s01 > s1 && s1 > s100, "{s01} {s1} {s100}");
        assert!(s01 > 0.6 && s100 < 0.3, "{s01} {s100}");
        let iid = partition(&l, 10, 50, &Partition::Iid, 0).unwrap();
        assert!(mean_max_fraction(&iid, &l, 10) < 0.3);
    }

    #[test]
    fn invalid_requests_are_errors() {
        let l = labels(10, 2);
        let d = Partition::Dirichlet { alpha: 1.0 };
        assert!(partition(&l, 2, 0, &d, 0).is_err());
        assert!(partition(&l, 2, 11, &d, 0).is_err());
        assert!(partition(&l, 2, 3, &Partition::Dirichlet { alpha: 0.0 }, 0).is_err());
        assert!(partition(&l, 2, 3, &Partition::Dirichlet { alpha: f64::NAN }, 0).is_err());
        assert!(partition(&l, 2, 6, &Partition::Shards { per_client: 2 }, 0).is_err());
        assert!(partition(&l, 1, 2, &Partition::Iid, 0).is_err(), "label 1 outside 0..1");
        let one = partition(&l, 2, 10, &Partition::Iid, 0).unwrap();
        assert!(one.iter().all(|p| p.len() == 1));
    }
}
