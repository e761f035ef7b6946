//! Per-channel standardisation x ← (x − μ_c) / σ_c.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ImageSet;

/// Per-channel mean μ_c and standard deviation σ_c, computed on the training set and
/// applied to every split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalisation {
    /// μ_c = mean of channel c over all samples and pixels, σ_c = population standard
    /// deviation √(E[x²] − μ²), both accumulated in f64. A constant channel (σ_c = 0) gets
    /// σ_c = 1 so that applying it only centres the channel.
    pub fn compute(set: &ImageSet) -> Normalisation {
        let c = set.channels;
        let plane = set.height * set.width;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for sample in set.pixels.chunks_exact(set.sample_len().max(1)) {
            for (ch, px) in sample.chunks_exact(plane.max(1)).enumerate() {
                for &v in px {
                    sum[ch] += v as f64;
                    sq[ch] += (v as f64) * (v as f64);
                }
            }
        }
        let count = (set.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let s = (q / count - m * m).max(0.0).sqrt();
                if s > 1e-12 {
                    s as f32
                } else {
                    1.0
                }
            })
            .collect();
        Normalisation { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// μ = 0, σ = 1: applying it changes nothing.
    pub fn identity(channels: usize) -> Normalisation {
        Normalisation { mean: vec![0.0; channels], std: vec![1.0; channels] }
    }

    /// Checks that every μ_c is finite and every σ_c finite and > 0: a stored σ_c = 0
    /// would turn every pixel into ±inf or NaN and every loss after it into NaN.
    pub fn validate(&self) -> Result<()> {
        if let Some((channel, &value)) = self.mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
            return Err(Error::BadNormalisation { what: "mean", channel, value, rule: "finite" });
        }
        if let Some((channel, &value)) = self.std.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::BadNormalisation { what: "std", channel, value, rule: "finite and > 0" });
        }
        Ok(())
    }

    /// Replaces every pixel x of channel c by (x − μ_c)/σ_c, after [`Normalisation::validate`].
    pub fn apply(&self, set: &mut ImageSet) -> Result<()> {
        self.validate()?;
        if self.mean.len() != set.channels || self.std.len() != set.channels {
            return Err(Error::NormalisationChannels {
                means: self.mean.len(),
                stds: self.std.len(),
                channels: set.channels,
            });
        }
        let plane = (set.height * set.width).max(1);
        let c = set.channels;
        for (k, px) in set.pixels.chunks_mut(plane).enumerate() {
            let ch = k % c;
            let (m, s) = (self.mean[ch], self.std[ch]);
            px.iter_mut().for_each(|v| *v = (*v - m) / s);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_statistics_and_application() {
        // 2 samples, 2 channels, 1x2: channel 0 values {0, 1, 1, 2}, channel 1 {5, 5, 5, 5}
        let mut set = ImageSet {
            channels: 2,
            height: 1,
            width: 2,
            pixels: vec![0.0, 1.0, 5.0, 5.0, 1.0, 2.0, 5.0, 5.0],
            labels: vec![0, 0],
            num_classes: 1,
        };
        let n = Normalisation::compute(&set);
        assert_eq!(n.mean, vec![1.0, 5.0]);
        assert!((n.std[0] - 0.5f32.sqrt()).abs() < 1e-6, "{:?}", n.std);
        assert_eq!(n.std[1], 1.0); // constant channel
        n.apply(&mut set).unwrap();
        let r = 0.5f32.sqrt();
        let want = [-1.0 / r, 0.0, 0.0, 0.0, 0.0, 1.0 / r, 0.0, 0.0];
        for (a, b) in set.pixels.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{:?}", set.pixels);
        }
        let after = Normalisation::compute(&set);
        assert!(after.mean[0].abs() < 1e-6 && (after.std[0] - 1.0).abs() < 1e-5);

        let before = set.pixels.clone();
        Normalisation::identity(2).apply(&mut set).unwrap();
        assert_eq!(set.pixels, before);
        assert!(Normalisation::identity(3).apply(&mut set).is_err());
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Normalisation>(&json).unwrap(), n);
    }
}
