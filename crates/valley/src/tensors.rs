//! Moving data between valley's plain Rust types and engine tensors.

use tch::{Device, Kind, Tensor};
use valley_data::ImageSet;

/// A labelled image set resident on a device: `x` is `[N, C, H, W]` f32, `y` is `[N]` i64.
pub struct TensorSet {
    pub x: Tensor,
    pub y: Tensor,
    pub num_classes: i64,
}

impl TensorSet {
    pub fn from_images(set: &ImageSet, device: Device) -> Self {
        let n = set.len() as i64;
        let shape = [n, set.channels as i64, set.height as i64, set.width as i64];
        let x = Tensor::from_slice(&set.pixels).reshape(shape).to_device(device);
        let y = Tensor::from_slice(&set.labels).to_device(device);
        Self { x, y, num_classes: set.num_classes as i64 }
    }

    pub fn len(&self) -> usize {
        self.y.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows `start..start+len` without copying.
    pub fn slice(&self, start: usize, len: usize) -> (Tensor, Tensor) {
        let (s, l) = (start as i64, len as i64);
        (self.x.narrow(0, s, l), self.y.narrow(0, s, l))
    }

    /// Rows at `indices` (copied).
    pub fn gather(&self, indices: &[i64]) -> (Tensor, Tensor) {
        let idx = Tensor::from_slice(indices).to_device(self.x.device());
        (self.x.index_select(0, &idx), self.y.index_select(0, &idx))
    }

    /// A new set made of the rows at `indices`.
    pub fn subset(&self, indices: &[usize]) -> TensorSet {
        let idx: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let (x, y) = self.gather(&idx);
        TensorSet { x, y, num_classes: self.num_classes }
    }
}

/// `n` images `c×h×w` (host pixels, row-major) cropped and flipped by `rng` as in training
/// ([`valley_data::augment_crop_flip`]), as a tensor `[n, c, h, w]` on `device`.
pub fn crop_flip(mut pixels: Vec<f32>, shape: [usize; 4], device: Device, rng: &mut impl rand::Rng) -> Tensor {
    let [n, c, h, w] = shape;
    valley_data::augment_crop_flip(&mut pixels, n, c, h, w, rng);
    Tensor::from_slice(&pixels).reshape(shape.map(|d| d as i64)).to_device(device)
}

/// A tensor's contents as f32 values on the CPU (any float kind is converted).
pub fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    let flat = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
    Vec::<f32>::try_from(&flat).unwrap_or_default()
}

/// A tensor's raw bytes in its own dtype, row-major.
pub fn to_bytes(t: &Tensor) -> Vec<u8> {
    let t = t.detach().to_device(Device::Cpu).contiguous();
    let numel = t.numel();
    let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
    t.copy_data_u8(&mut bytes, numel);
    bytes
}

/// Runs `f` without recording autograd graphs (evaluation, in-place weight edits).
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    tch::no_grad(f)
}
