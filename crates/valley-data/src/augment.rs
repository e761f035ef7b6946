//! Training-time augmentation on normalised NCHW batches.

use rand::Rng;

/// Zero padding on every side before the random crop.
pub const CROP_PADDING: usize = 4;

/// Random crop with zero padding 4, then horizontal flip with probability 0.5, per sample.
///
/// For each sample, in order, draws the crop offset `oy`, `ox` uniformly from `0..=8` and
/// then the flip; the output is `out[c][y][x] = in[c][y+oy−4][x'+ox−4]` with
/// `x' = w−1−x` when flipped, and 0 where the source falls in the padding (0 is the mean
/// of normalised pixels). `batch` has `n·c·h·w` values and is rewritten in place;
/// deterministic given the state of `rng`.
///
/// Panics if `batch.len() != n·c·h·w` (a caller bug, not a data problem).
pub fn augment_crop_flip(batch: &mut [f32], n: usize, c: usize, h: usize, w: usize, rng: &mut impl Rng) {
    assert_eq!(batch.len(), n * c * h * w, "batch length must be n*c*h*w");
    let mut scratch = vec![0f32; c * h * w];
    for sample in batch.chunks_exact_mut((c * h * w).max(1)).take(n) {
        let oy = rng.random_range(0..=2 * CROP_PADDING) as isize - CROP_PADDING as isize;
        let ox = rng.random_range(0..=2 * CROP_PADDING) as isize - CROP_PADDING as isize;
        let flip = rng.random_bool(0.5);
        crop_flip(sample, &mut scratch, c, h, w, oy, ox, flip);
    }
}

/// Shifts one CHW sample by (`dy`, `dx`) with zero fill, optionally mirrored.
#[allow(clippy::too_many_arguments)]
fn crop_flip(sample: &mut [f32], scratch: &mut [f32], c: usize, h: usize, w: usize, dy: isize, dx: isize, flip: bool) {
    scratch.copy_from_slice(sample);
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize + dy;
            for x in 0..w {
                let xx = if flip { w - 1 - x } else { x };
                let sx = xx as isize + dx;
                let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                sample[(ch * h + y) * w + x] =
                    if inside { scratch[(ch * h + sy as usize) * w + sx as usize] } else { 0.0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn shift_and_flip_by_hand() {
        // 1x2x3 image [[1,2,3],[4,5,6]]
        let img = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut s = vec![0.0; 6];
        let mut v = img.to_vec();
        crop_flip(&mut v, &mut s, 1, 2, 3, 0, 0, true);
        assert_eq!(v, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
        let mut v = img.to_vec();
        crop_flip(&mut v, &mut s, 1, 2, 3, 1, -1, false);
        assert_eq!(v, vec![0.0, 4.0, 5.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn random_batches_are_deterministic_and_keep_pixels_or_zero() {
        let (n, c, h, w) = (64, 2, 8, 8);
        let orig: Vec<f32> = (0..n * c * h * w).map(|i| 1.0 + i as f32).collect();
        let mut a = orig.clone();
        let mut b = orig.clone();
        augment_crop_flip(&mut a, n, c, h, w, &mut ChaCha8Rng::seed_from_u64(3));
        augment_crop_flip(&mut b, n, c, h, w, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
        assert_ne!(a, orig);
        let plane = h * w;
        let mut changed = 0;
        for k in 0..n * c {
            let src = &orig[k * plane..(k + 1) * plane];
            let out = &a[k * plane..(k + 1) * plane];
            // every value is zero padding or a pixel of the same image plane
            assert!(out.iter().all(|v| *v == 0.0 || src.contains(v)));
            // with a shift of at most 4 the centre 0-padded area cannot cover the plane
            assert!(out.iter().filter(|v| **v != 0.0).count() >= (h - 4) * (w - 4));
            changed += (out != src) as usize;
        }
        assert!(changed > n * c / 2, "most samples should be moved or flipped");
    }
}
