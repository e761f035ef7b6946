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

/// Removes the temporary files an interrupted atomic write left in `dir` (see
/// [`valley_base::io::remove_stale_temps`]). Called when a run resumes in `dir`.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    Ok(valley_base::io::remove_stale_temps(dir)?)
}

/// Refuses an output file that exists (unless `force`) or that is one of `inputs` (even
/// with `force`: the inputs are still being read when the output is written), and an
/// output path that is a folder.
pub fn check_output(out: &Path, inputs: &[&Path], force: bool) -> Result<()> {
    let fail = |why: String| Err(Error::Output { path: out.to_path_buf(), detail: why });
    if out.is_dir() {
        return fail(format!("is a folder; give a file name such as {}", out.join("merged.safetensors").display()));
    }
    if !out.exists() {
        return Ok(());
    }
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(input) = inputs.iter().find(|i| canon(i) == canon(out)) {
        return fail(format!(
            "is also an input ({}); writing it would destroy that input: choose another --out",
            input.display()
        ));
    }
    if !force {
        return fail("already exists; pass --force to overwrite it or choose another --out".into());
    }
    Ok(())
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
/// Refuses (naming `path` and the tensor) a model with NaN or infinite values, so that no
/// command writes an unusable checkpoint (a merge with λ = NaN, a diverged run).
pub fn save_model(model: &Model, path: &Path, extra: &[(&str, String)]) -> Result<()> {
    for e in model.entries() {
        if e.tensor.is_floating_point() {
            let bad = tch::no_grad(|| e.tensor.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]));
            if bad > 0 {
                return Err(Error::checkpoint(
                    path,
                    format!(
                        "not written: tensor `{}` has {bad} NaN or infinite values; check the inputs and options",
                        e.name
                    ),
                ));
            }
        }
    }
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
            Some(json) => {
                let config: ModelConfig = serde_json::from_str(json).map_err(|e| {
                    Error::checkpoint(&self.path, format!("metadata `model` is not a valid model config ({e})"))
                })?;
                config.validate().map_err(|e| {
                    Error::checkpoint(&self.path, format!("metadata `model` describes an impossible model: {e}"))
                })?;
                Ok(Some(config))
            }
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
        self.check_outer_shapes(&config)?;
        let model = Model::new(&config, device)?;
        self.load_into(&model)?;
        Ok(model)
    }

    /// Compares the first and last layers `config` implies with this file's tensors before
    /// the model is built, so damaged metadata (an image size of 10⁶, a width of 500) is
    /// an error here instead of an allocation of terabytes. Those layers fix every size a
    /// config can scale: input channels and width (first conv), image size (first linear),
    /// hidden sizes (every MLP layer) and classes (last layer).
    fn check_outer_shapes(&self, config: &ModelConfig) -> Result<()> {
        use crate::Arch;
        let (c, s, k) = (config.in_channels, config.image_size, config.num_classes);
        let mut expected: Vec<(String, Vec<i64>)> = Vec::new();
        match config.arch {
            Arch::Linear => expected.push(("classifier.weight".into(), vec![k, c * s * s])),
            Arch::Mlp => {
                let mut input = c * s * s;
                for (i, &h) in config.hidden.iter().enumerate() {
                    let h = config.scaled(h);
                    expected.push((format!("features.{}.weight", 2 * i), vec![h, input]));
                    input = h;
                }
                expected.push(("classifier.weight".into(), vec![k, input]));
            }
            Arch::Cnn | Arch::Vgg { .. } => {
                let stack = config.arch.feature_stack().unwrap_or(&[1]);
                let last = config.scaled(stack.iter().rev().copied().find(|&v| v > 0).unwrap_or(1));
                let side = vgg_out_size(stack, s);
                expected.push(("features.0.weight".into(), vec![config.scaled(stack[0]), c, 3, 3]));
                expected.push((
                    "classifier.0.weight".into(),
                    vec![self.shape_of("classifier.0.weight").map_or(0, |d| d[0]), last * side * side],
                ));
            }
            Arch::Resnet20 | Arch::Resnet18 => {
                let stem = config.scaled(if config.arch == Arch::Resnet20 { 16 } else { 64 });
                expected.push(("conv1.weight".into(), vec![stem, c, 3, 3]));
                let fc_in = self.shape_of("fc.weight").map_or(0, |d| d.get(1).copied().unwrap_or(0));
                expected.push(("fc.weight".into(), vec![k, fc_in]));
            }
        }
        for (name, shape) in expected {
            match self.shape_of(&name) {
                None => {
                    return Err(Error::checkpoint(
                        &self.path,
                        format!("has no tensor `{name}`, which model {} needs", config.arch),
                    ))
                }
                Some(found) if found != shape => {
                    return Err(Error::checkpoint(
                        &self.path,
                        format!(
                            "tensor `{name}` has shape {found:?}, model {} expects {shape:?} (for {c}x{s}x{s} images, \
                             {k} classes, width {}); the metadata does not describe these tensors",
                            config.arch, config.width
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
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

    /// Checks the recorded input normalisation (finite mean, finite std > 0), naming this file.
    pub fn check_normalisation(&self) -> Result<()> {
        // Writers without a normalisation (a merge of foreign files) store an empty string.
        let Some(json) = self.metadata.get("normalisation").filter(|j| !j.is_empty()) else { return Ok(()) };
        let norm: valley_data::Normalisation = serde_json::from_str(json).map_err(|e| {
            Error::checkpoint(
                &self.path,
                format!("metadata `normalisation` is not readable ({e}); the file is damaged"),
            )
        })?;
        norm.validate().map_err(|e| {
            Error::checkpoint(&self.path, format!("{e}; the file is damaged or was written by a diverged run"))
        })
    }

    fn load(&self, model: &Model, allow_extra: bool) -> Result<()> {
        self.check_normalisation()?;
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
            let float = e.tensor.is_floating_point();
            if float && !src.is_floating_point() {
                return Err(Error::checkpoint(
                    &self.path,
                    format!(
                        "tensor `{}` is stored as {:?}, model {} holds floating-point weights; convert the file's \
                         tensors to float32 (in PyTorch: {{k: v.float() for k, v in state.items()}})",
                        e.name,
                        src.kind(),
                        model.config().arch
                    ),
                ));
            }
            if float {
                let bad = src.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]);
                if bad > 0 {
                    return Err(Error::checkpoint(
                        &self.path,
                        format!(
                            "tensor `{}` has {bad} NaN or infinite values of {}; the model is unusable \
                             (a diverged run or a damaged file)",
                            e.name,
                            src.numel()
                        ),
                    ));
                }
            }
            tch::no_grad(|| e.tensor.shallow_clone().copy_(&src.to_kind(e.tensor.kind())));
        }
        // Optimiser state (`optimizer.*`, in a training checkpoint) is not part of the model.
        let foreign = |n: &&String| model.entry(n).is_none() && !n.starts_with("optimizer.");
        if let Some(extra) = self.names.iter().find(foreign).filter(|_| !allow_extra) {
            return Err(Error::checkpoint(
                &self.path,
                format!("has tensor `{extra}` that model {} does not have", model.config().arch),
            ));
        }
        Ok(())
    }
}

/// What the user says about a checkpoint without valley metadata, for what its tensors
/// leave open (`--in-channels`, `--image-size`, `--num-classes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShapeHints {
    pub in_channels: Option<i64>,
    pub image_size: Option<i64>,
    pub num_classes: Option<i64>,
}

/// What the columns of a model's first linear layer fix.
enum FirstLayer {
    /// Linear/MLP: C·S² inputs.
    Flat(i64),
    /// VGG/CNN: s² positions, s the size after the pools of the feature stack (0 = pool).
    Pooled(i64, &'static [i64]),
}

/// Spatial size after the VGG/CNN feature stack of `cfg` (0 = pool) on an `s`×`s` input:
/// every pool halves (floor) while the map is at least 2 wide.
fn vgg_out_size(cfg: &[i64], mut s: i64) -> i64 {
    for &v in cfg {
        if v == 0 && s >= 2 {
            s /= 2;
        }
    }
    s
}

impl Checkpoint {
    fn shape_of(&self, name: &str) -> Option<Vec<i64>> {
        self.tensors.get(name).map(|t| t.size())
    }

    /// The configuration of architecture `arch` that this checkpoint's tensors imply, for
    /// files without valley metadata (e.g. PyTorch's). The tensors fix the number of
    /// classes (rows of the last linear layer), the input channels (columns of the first
    /// conv), the width multiplier (first conv's outputs / the paper's width), the MLP's
    /// hidden sizes, and C·S² = columns of the first linear layer, which gives S when C is
    /// known (and for VGG/CNN the size after pooling). `hints` supply the rest and must
    /// agree with the tensors; the error names every value that could not be determined.
    pub fn infer_config(&self, arch: crate::Arch, hints: ShapeHints) -> Result<ModelConfig> {
        use crate::Arch;
        let missing = |what: &str| {
            Error::checkpoint(
                &self.path,
                format!("has no valley metadata and no tensor `{what}`, which model {arch} needs; is it a {arch} checkpoint?"),
            )
        };
        let dims = |name: &str, rank: usize| -> Result<Vec<i64>> {
            let d = self.shape_of(name).ok_or_else(|| missing(name))?;
            if d.len() != rank {
                return Err(Error::checkpoint(
                    &self.path,
                    format!("tensor `{name}` has shape {d:?}, expected {rank} dimensions for {arch}"),
                ));
            }
            Ok(d)
        };
        let mut unknown: Vec<&str> = Vec::new();
        let (mut channels, mut size) = (hints.in_channels, hints.image_size);
        let mut cfg = ModelConfig::new(arch, 1, 1, 2);
        let classes;
        let mut first_layer: Option<FirstLayer> = None;
        match arch {
            Arch::Linear => {
                let w = dims("classifier.weight", 2)?;
                classes = w[0];
                first_layer = Some(FirstLayer::Flat(w[1]));
            }
            Arch::Mlp => {
                let mut hidden = Vec::new();
                let mut i = 0;
                while let Some(d) = self.shape_of(&format!("features.{}.weight", 2 * i)) {
                    if d.len() != 2 {
                        return Err(Error::checkpoint(
                            &self.path,
                            format!("tensor `features.{}.weight` has shape {d:?}, expected 2 dimensions", 2 * i),
                        ));
                    }
                    hidden.push(d[0]);
                    if i == 0 {
                        first_layer = Some(FirstLayer::Flat(d[1]));
                    }
                    i += 1;
                }
                let w = dims("classifier.weight", 2)?;
                classes = w[0];
                if hidden.is_empty() {
                    first_layer = Some(FirstLayer::Flat(w[1]));
                }
                cfg.hidden = hidden;
            }
            Arch::Cnn | Arch::Vgg { .. } => {
                let stack = arch.feature_stack().unwrap_or(&[1]);
                let (base, first_linear) = (stack[0], "classifier.0.weight");
                let conv = dims("features.0.weight", 4)?;
                cfg.width = conv[0] as f64 / base as f64;
                channels = check_hint(&self.path, "--in-channels", channels, conv[1])?;
                let last = self
                    .names
                    .iter()
                    .filter_map(|n| {
                        let idx = n.strip_prefix("classifier.")?.strip_suffix(".weight")?.parse::<usize>().ok()?;
                        Some(idx)
                    })
                    .max()
                    .ok_or_else(|| missing("classifier.N.weight"))?;
                classes = dims(&format!("classifier.{last}.weight"), 2)?[0];
                let lin = dims(first_linear, 2)?;
                // Columns of the first linear layer = last conv channels · s², s after pooling.
                let last_channels =
                    ((*stack.iter().rev().find(|&&v| v > 0).unwrap_or(&1) as f64) * cfg.width).round().max(1.0) as i64;
                if lin[1] % last_channels != 0 {
                    return Err(Error::checkpoint(&self.path, format!("tensor `{first_linear}` has {} columns, not a multiple of the {last_channels} channels of the last conv", lin[1])));
                }
                first_layer = Some(FirstLayer::Pooled(lin[1] / last_channels, stack));
            }
            Arch::Resnet20 | Arch::Resnet18 => {
                let base = if arch == Arch::Resnet20 { 16 } else { 64 };
                let conv = dims("conv1.weight", 4)?;
                cfg.width = conv[0] as f64 / base as f64;
                channels = check_hint(&self.path, "--in-channels", channels, conv[1])?;
                classes = dims("fc.weight", 2)?[0];
                // Adaptive pooling: any image size works, so only --image-size can say.
                if size.is_none() {
                    unknown.push("--image-size (a ResNet accepts any size)");
                }
            }
        }
        match first_layer {
            Some(FirstLayer::Pooled(cols, stack)) => {
                let fits: Vec<i64> = (1..=1024).filter(|&s| vgg_out_size(stack, s).pow(2) == cols).collect();
                size = match (size, fits.as_slice()) {
                    (Some(s), _) if fits.contains(&s) => Some(s),
                    (Some(s), _) => return Err(hint_conflict(&self.path, "--image-size", s, &fits)),
                    (None, [only]) => Some(*only),
                    (None, []) => {
                        return Err(Error::checkpoint(
                            &self.path,
                            format!("no image size fits the first linear layer ({cols} positions after pooling)"),
                        ))
                    }
                    (None, _) => {
                        unknown.push("--image-size");
                        None
                    }
                };
            }
            Some(FirstLayer::Flat(cols)) => {
                match (channels, size) {
                    (Some(c), Some(s)) if c * s * s != cols => {
                        return Err(Error::checkpoint(&self.path, format!("the first layer takes {cols} inputs, but --in-channels {c} and --image-size {s} give {}", c * s * s)));
                    }
                    (Some(c), None) => {
                        let s = (1..=4096).find(|&s| c * s * s == cols);
                        size = Some(s.ok_or_else(|| Error::checkpoint(&self.path, format!("the first layer takes {cols} inputs, not {c}·S² for any image size S; check --in-channels")))?);
                    }
                    (None, Some(s)) => {
                        if cols % (s * s) != 0 {
                            return Err(Error::checkpoint(&self.path, format!("the first layer takes {cols} inputs, not C·{s}² for any channel count C; check --image-size")));
                        }
                        channels = Some(cols / (s * s));
                    }
                    (None, None) => {
                        unknown.push("--in-channels or --image-size (the first layer only fixes C·S²)");
                    }
                    _ => {}
                }
            }
            None => {}
        }
        let classes = check_hint(&self.path, "--num-classes", hints.num_classes, classes)?;
        if !unknown.is_empty() || channels.is_none() {
            if channels.is_none() && !unknown.iter().any(|u| u.starts_with("--in-channels")) {
                unknown.push("--in-channels");
            }
            return Err(Error::checkpoint(
                &self.path,
                format!(
                    "has no valley metadata and its tensors do not determine {}; pass {}",
                    unknown.join(", "),
                    unknown.iter().map(|u| u.split(" (").next().unwrap_or(u)).collect::<Vec<_>>().join(" and ")
                ),
            ));
        }
        cfg.in_channels = channels.unwrap_or(1);
        cfg.image_size = size.unwrap_or(1);
        cfg.num_classes = classes.unwrap_or(2);
        Ok(cfg)
    }
}

fn check_hint(path: &Path, flag: &str, hint: Option<i64>, found: i64) -> Result<Option<i64>> {
    match hint {
        Some(h) if h != found => Err(Error::checkpoint(
            path,
            format!("its tensors say {found} for {flag}, but {flag} {h} was given; drop the flag or check the file"),
        )),
        _ => Ok(Some(found)),
    }
}

fn hint_conflict(path: &Path, flag: &str, given: i64, fits: &[i64]) -> Error {
    let range = match (fits.first(), fits.last()) {
        (Some(a), Some(b)) if a == b => format!("{a}"),
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "none".into(),
    };
    Error::checkpoint(path, format!("{flag} {given} does not fit its first linear layer (sizes that fit: {range})"))
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
