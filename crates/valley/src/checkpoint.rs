//! safetensors checkpoints with PyTorch's tensor names and valley's metadata block.
//!
//! A checkpoint holds every tensor of a model (parameters and BN buffers, including
//! `num_batches_tracked`), so `torch.nn.Module.load_state_dict` accepts it for the same
//! architecture. The metadata keys are `format`, `model` (the [`ModelConfig`] as JSON), the
//! run metadata of the build ([`valley_base::RunMeta`]: `valley_version`, `git_revision`)
//! and whatever the writer adds (seed, epoch, ...).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};
use tch::{Device, Kind, Tensor};

use crate::models::{Model, ModelConfig};
use crate::tensors::to_bytes;
use crate::{Error, Result};

pub const FORMAT: &str = "valley-checkpoint/1";

/// Named tensors owned as raw bytes, ready for safetensors.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn dtype_of(kind: Kind) -> Result<Dtype> {
    match kind {
        Kind::Float => Ok(Dtype::F32),
        Kind::Double => Ok(Dtype::F64),
        Kind::Int64 => Ok(Dtype::I64),
        Kind::Half => Ok(Dtype::F16),
        Kind::BFloat16 => Ok(Dtype::BF16),
        other => Err(Error::Config(format!("cannot store tensors of kind {other:?}"))),
    }
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    match dtype {
        Dtype::F32 => Some(Kind::Float),
        Dtype::F64 => Some(Kind::Double),
        Dtype::I64 => Some(Kind::Int64),
        Dtype::F16 => Some(Kind::Half),
        Dtype::BF16 => Some(Kind::BFloat16),
        _ => None,
    }
}

/// Writes named tensors with metadata atomically (temp file in the same folder, then rename).
pub fn save_tensors(path: &Path, tensors: &[(String, Tensor)], metadata: HashMap<String, String>) -> Result<()> {
    let mut raws = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let shape = t.size().iter().map(|&d| d as usize).collect();
        raws.push((name.clone(), Raw { dtype: dtype_of(t.kind())?, shape, bytes: to_bytes(t) }));
    }
    let bytes = safetensors::tensor::serialize(raws.iter().map(|(n, r)| (n.as_str(), r)), Some(metadata))
        .map_err(|e| Error::checkpoint(path, format!("cannot serialise: {e}")))?;
    let bytes = canonical_header(&bytes).ok_or_else(|| Error::checkpoint(path, "cannot serialise header"))?;
    Ok(valley_base::atomic_write(path, &bytes)?)
}

/// Rewrites the JSON header with sorted keys: safetensors writes metadata in HashMap order,
/// which would make identical runs produce different bytes. Data offsets are relative to
/// the end of the header, so they stay valid.
fn canonical_header(bytes: &[u8]) -> Option<Vec<u8>> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..8 + n)?).ok()?;
    let mut json = serde_json::to_vec(&header).ok()?; // serde_json's Map is sorted
    json.resize(json.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    Some(out)
}

/// The metadata block every model checkpoint carries: the format, the model config and the
/// run metadata of this build ([`valley_base::RunMeta`]: version and git revision).
pub fn model_metadata(config: &ModelConfig) -> HashMap<String, String> {
    let mut meta: HashMap<String, String> = valley_base::RunMeta::new().to_pairs().into_iter().collect();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("model".to_string(), serde_json::to_string(config).unwrap_or_default());
    meta
}

/// Saves every tensor of `model` (parameters and buffers) plus `extra` metadata.
pub fn save_model(model: &Model, path: &Path, extra: &[(&str, String)]) -> Result<()> {
    let tensors: Vec<(String, Tensor)> =
        model.entries().iter().map(|e| (e.name.clone(), e.tensor.shallow_clone())).collect();
    let mut meta = model_metadata(model.config());
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
    save_tensors(path, &tensors, meta)
}

/// A checkpoint read into memory: its tensors by name (on the CPU) and its metadata.
pub struct Checkpoint {
    pub path: std::path::PathBuf,
    pub tensors: HashMap<String, Tensor>,
    /// Tensor names, sorted (a safetensors file keeps no order of its own).
    pub names: Vec<String>,
    pub metadata: HashMap<String, String>,
}

impl Checkpoint {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| Error::checkpoint(path, format!("not a valid safetensors file ({e})")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::checkpoint(path, format!("not a valid safetensors file ({e})")))?;
        let mut tensors = HashMap::new();
        let mut names = Vec::new();
        for (name, view) in st.tensors() {
            let kind = kind_of(view.dtype()).ok_or_else(|| {
                Error::checkpoint(path, format!("tensor `{name}` has unsupported dtype {:?}", view.dtype()))
            })?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, kind)?;
            names.push(name.clone());
            tensors.insert(name, t);
        }
        names.sort();
        Ok(Self { path: path.to_path_buf(), tensors, names, metadata })
    }

    /// The model configuration stored in the metadata, if any.
    pub fn model_config(&self) -> Result<Option<ModelConfig>> {
        match self.metadata.get("model") {
            None => Ok(None),
            Some(json) => serde_json::from_str(json).map(Some).map_err(|e| {
                Error::checkpoint(&self.path, format!("metadata `model` is not a valid model config ({e})"))
            }),
        }
    }

    /// Builds the model this checkpoint describes (or `fallback` for files written by other
    /// tools) and loads its tensors.
    pub fn to_model(&self, fallback: Option<&ModelConfig>, device: Device) -> Result<Model> {
        let config = match (self.model_config()?, fallback) {
            (Some(c), _) => c,
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(Error::checkpoint(
                    &self.path,
                    "has no valley metadata; pass the architecture (e.g. --model vgg11-bn) to read it",
                ))
            }
        };
        let model = Model::new(&config, device)?;
        self.load_into(&model)?;
        Ok(model)
    }

    /// Copies this checkpoint's tensors into `model`, checking names, shapes and kinds.
    /// `num_batches_tracked` may be absent (older PyTorch files); every other tensor must exist.
    pub fn load_into(&self, model: &Model) -> Result<()> {
        self.load(model, false)
    }

    /// Like [`Checkpoint::load_into`], but tolerates the optimiser state a training
    /// checkpoint carries next to the model.
    pub fn load_into_with_extra(&self, model: &Model) -> Result<()> {
        self.load(model, true)
    }

    /// The input normalisation the model was trained with, if recorded.
    pub fn normalisation(&self) -> Option<valley_data::Normalisation> {
        self.metadata.get("normalisation").and_then(|j| serde_json::from_str(j).ok())
    }

    fn load(&self, model: &Model, allow_extra: bool) -> Result<()> {
        let expected = model.entries().len();
        for e in model.entries() {
            let Some(src) = self.tensors.get(&e.name) else {
                if e.name.ends_with("num_batches_tracked") {
                    continue;
                }
                return Err(Error::checkpoint(
                    &self.path,
                    format!("has no tensor `{}` (model {} expects {expected} tensors)", e.name, model.config().arch),
                ));
            };
            if src.size() != e.tensor.size() {
                return Err(Error::checkpoint(
                    &self.path,
                    format!(
                        "tensor `{}` has shape {:?}, model {} expects {:?}",
                        e.name,
                        src.size(),
                        model.config().arch,
                        e.tensor.size()
                    ),
                ));
            }
            tch::no_grad(|| e.tensor.shallow_clone().copy_(&src.to_kind(e.tensor.kind())));
        }
        if let Some(extra) = self.names.iter().find(|n| model.entry(n).is_none() && !allow_extra) {
            return Err(Error::checkpoint(
                &self.path,
                format!("has tensor `{extra}` that model {} does not have", model.config().arch),
            ));
        }
        Ok(())
    }
}

/// Loads a model checkpoint in one call.
pub fn load_model(path: &Path, fallback: Option<&ModelConfig>, device: Device) -> Result<Model> {
    Checkpoint::read(path)?.to_model(fallback, device)
}

/// sha256 of a file, hex encoded (recorded as the checkpoint's identity).
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}
