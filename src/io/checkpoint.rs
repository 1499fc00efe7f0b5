//! relulab checkpoints and PyTorch `nn.Sequential` state_dicts in safetensors. (issue 3)
//!
//! A relulab checkpoint is a safetensors file with tensors `layers.{l}.weight` (shape `[out, in]`),
//! `layers.{l}.bias` (shape `[out]`), `layers.{l}.prelu_alpha`, optionally the optimizer moments
//! `optim.{l}.{weight|bias|prelu_alpha}.{m|v}`, and string metadata: `format` =
//! "relulab-checkpoint", `version`, `model` (JSON: per layer widths, bias flag and activation
//! with every parameter, including its ReLU'(0) convention) and, for a training checkpoint,
//! `train` (JSON: the run's [`TrainSpec`], epochs done, optimizer step and configuration, the
//! input standardisation). That is everything a bit-identical resume needs: the shuffles are
//! derived from (seed, epoch).
//!
//! A PyTorch state_dict of `nn.Sequential(Linear, act, Linear, act, ..., Linear)` has keys
//! `{i}.weight` (shape `[out, in]`) and `{i}.bias` at the Linear indices (0, 2, 4, ... when every
//! activation is a module without parameters; `nn.PReLU` adds `{i}.weight` of shape `[1]` or
//! `[out]`). The file does not say which activation was used: the caller names it.
//!
//! Every write is atomic: a temporary file in the same directory, fsync, rename, so a crash at
//! any moment leaves either the old file or the new one, never a truncated one.

use crate::activation::Activation;
use crate::data::Standardizer;
use crate::error::{Error, Result};
use crate::net::{Layer, Mlp, Optimizer, OptimizerConfig};
use crate::train::TrainSpec;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// The `format` metadata value of relulab checkpoints.
pub const FORMAT: &str = "relulab-checkpoint";
/// The checkpoint layout version.
pub const VERSION: &str = "1";

/// Write `bytes` to `path` atomically: temporary file `.NAME.tmpPID` in the same directory,
/// fsync, rename, then fsync of the directory (best effort). Temporary files of this name left
/// by processes that no longer run (killed mid-write) are removed first, on Linux. Errors name
/// `path`. The one atomic writer of the crate (checkpoints, NPY, plots, reports, campaigns).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = folder_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| Error::Value(format!("{}: not a file path", path.display())))?;
    let prefix = format!(".{}.tmp", name.to_string_lossy());
    remove_stale_temporaries(dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}", std::process::id()));
    let result = (|| {
        // Errors name the destination: the temporary file is an implementation detail.
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(path, e))?;
        f.write_all(bytes).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The folder a file path is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuse an output path that [`write_atomic`] could not write: a directory, or one whose
/// folder does not exist (checked before a command's work, so that a long run does not end
/// in an error with nothing saved). Writes nothing.
pub fn check_output_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Value(format!(
            "{}: is a directory, not a file name",
            path.display()
        )));
    }
    if path.file_name().is_none() {
        return Err(Error::Value(format!("{}: not a file path", path.display())));
    }
    let dir = folder_of(path);
    if !dir.is_dir() {
        return Err(Error::Value(format!(
            "{}: folder {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Remove `DIR/{prefix}PID` files whose process is gone (no `/proc/PID`): what a write killed
/// between create and rename leaves. Best effort and Linux only (elsewhere nothing is removed);
/// a live writer's file is never touched.
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Shape, bias and activation of one layer, as stored in the `model` metadata.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LayerMeta {
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    activation: Activation,
    prelu_alpha: usize,
}

/// The training state a checkpoint can carry besides the weights.
#[derive(Clone, Debug)]
pub struct TrainState {
    /// The run's specification (data, model, optimizer, loop).
    pub spec: TrainSpec,
    /// Epochs completed.
    pub epoch: usize,
    /// The optimizer (configuration, step count, moments).
    pub optimizer: Optimizer<f32>,
    /// The input standardisation the model expects (apply it to raw data before the model).
    pub standardizer: Option<Standardizer>,
}

#[derive(Serialize, Deserialize)]
struct TrainMeta {
    spec: TrainSpec,
    epoch: usize,
    step: u64,
    optimizer: OptimizerConfig,
    standardizer: Option<Standardizer>,
}

/// A model and, optionally, its training state.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The network.
    pub mlp: Mlp<f32>,
    /// Training state, for resuming.
    pub train: Option<TrainState>,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct Owned {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Owned {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn serialize(
    path: &Path,
    tensors: BTreeMap<String, Owned>,
    meta: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), meta)
        .map_err(|e| Error::Output(format!("{}: cannot serialise: {e}", path.display())))
}

/// Save a network as a relulab checkpoint (weights only), atomically.
pub fn save_checkpoint(path: &Path, mlp: &Mlp<f32>) -> Result<()> {
    save_full(
        path,
        &Checkpoint {
            mlp: mlp.clone(),
            train: None,
        },
    )
}

/// Save a network with its training state, atomically.
pub fn save_full(path: &Path, ck: &Checkpoint) -> Result<()> {
    let bytes = full_bytes(path, ck)?;
    write_atomic(path, &bytes)
}

/// The bytes of the checkpoint file [`save_full`] writes (for pickling, sending over a
/// network, or keeping in memory); [`parse_checkpoint`] reads them back.
pub fn checkpoint_bytes(ck: &Checkpoint) -> Result<Vec<u8>> {
    full_bytes(Path::new("<checkpoint>"), ck)
}

/// Save a checkpoint with extra string metadata entries besides the ones relulab writes (for
/// example `surrogate`: the scaling and input box of a surrogate model, issue 13), atomically.
/// Readers that do not know an entry ignore it, so such files load everywhere.
pub fn save_with_metadata(path: &Path, ck: &Checkpoint, extra: &[(&str, String)]) -> Result<()> {
    let bytes = full_bytes_with(path, ck, extra)?;
    write_atomic(path, &bytes)
}

/// One string metadata entry of a safetensors file (`None` when the file has no such entry).
pub fn metadata_entry(path: &Path, key: &str) -> Result<Option<String>> {
    let bytes = read_file(path)?;
    Ok(metadata(path, &bytes)?.get(key).cloned())
}

/// `path` names the file in error messages only.
fn full_bytes(path: &Path, ck: &Checkpoint) -> Result<Vec<u8>> {
    full_bytes_with(path, ck, &[])
}

fn full_bytes_with(path: &Path, ck: &Checkpoint, extra: &[(&str, String)]) -> Result<Vec<u8>> {
    ck.mlp
        .validate()
        .map_err(|e| Error::Value(format!("{}: {e}", path.display())))?;
    let mut tensors = BTreeMap::new();
    let mut layers = Vec::new();
    for (l, layer) in ck.mlp.layers.iter().enumerate() {
        tensors.insert(
            format!("layers.{l}.weight"),
            Owned {
                shape: vec![layer.out_dim, layer.in_dim],
                bytes: f32_bytes(&layer.weight),
            },
        );
        if let Some(b) = &layer.bias {
            tensors.insert(
                format!("layers.{l}.bias"),
                Owned {
                    shape: vec![b.len()],
                    bytes: f32_bytes(b),
                },
            );
        }
        if !layer.prelu_alpha.is_empty() {
            tensors.insert(
                format!("layers.{l}.prelu_alpha"),
                Owned {
                    shape: vec![layer.prelu_alpha.len()],
                    bytes: f32_bytes(&layer.prelu_alpha),
                },
            );
        }
        layers.push(LayerMeta {
            in_dim: layer.in_dim,
            out_dim: layer.out_dim,
            bias: layer.bias.is_some(),
            activation: layer.activation,
            prelu_alpha: layer.prelu_alpha.len(),
        });
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("version".to_string(), VERSION.to_string());
    meta.insert(
        "model".to_string(),
        serde_json::to_string(&layers).expect("serialisable"),
    );
    if let Some(t) = &ck.train {
        for (l, st) in t.optimizer.state.iter().enumerate() {
            for (kind, ps) in [
                ("weight", &st.weight),
                ("bias", &st.bias),
                ("prelu_alpha", &st.prelu_alpha),
            ] {
                for (mv, v) in [("m", &ps.m), ("v", &ps.v)] {
                    if !v.is_empty() {
                        tensors.insert(
                            format!("optim.{l}.{kind}.{mv}"),
                            Owned {
                                shape: vec![v.len()],
                                bytes: f32_bytes(v),
                            },
                        );
                    }
                }
            }
        }
        let tm = TrainMeta {
            spec: t.spec.clone(),
            epoch: t.epoch,
            step: t.optimizer.step,
            optimizer: t.optimizer.config,
            standardizer: t.standardizer.clone(),
        };
        meta.insert(
            "train".to_string(),
            serde_json::to_string(&tm).expect("serialisable"),
        );
    }
    for (k, v) in extra {
        if meta.contains_key(*k) {
            return Err(Error::Value(format!(
                "{}: metadata entry '{k}' is reserved",
                path.display()
            )));
        }
        meta.insert(k.to_string(), v.clone());
    }
    serialize(path, tensors, Some(meta))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| {
        Error::format(
            path.display(),
            "header",
            format!("not a valid safetensors file (truncated or corrupt?): {e}"),
        )
    })
}

fn metadata(path: &Path, bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, m) = SafeTensors::read_metadata(bytes).map_err(|e| {
        Error::format(
            path.display(),
            "header",
            format!("not a valid safetensors file (truncated or corrupt?): {e}"),
        )
    })?;
    Ok(m.metadata().clone().unwrap_or_default())
}

/// Read tensor `name` as f32 values, checking its shape (F32 or F64 accepted).
fn tensor_f32(path: &Path, st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|_| Error::format(path.display(), format!("tensor '{name}'"), "missing"))?;
    if t.shape() != shape {
        return Err(Error::format(
            path.display(),
            format!("tensor '{name}'"),
            format!("shape {:?}, expected {:?}", t.shape(), shape),
        ));
    }
    to_f32(path, name, t.dtype(), t.data())
}

fn to_f32(path: &Path, name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    let v: Vec<f32> = match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => {
            return Err(Error::format(
                path.display(),
                format!("tensor '{name}'"),
                format!("dtype {other:?} is not supported (F32 or F64)"),
            ))
        }
    };
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::format(
            path.display(),
            format!("tensor '{name}'"),
            format!("element {k} is {} (not finite)", v[k]),
        ));
    }
    Ok(v)
}

/// Load the network from a relulab checkpoint.
pub fn load_checkpoint(path: &Path) -> Result<Mlp<f32>> {
    Ok(load_full(path)?.mlp)
}

/// True when `path` is a relulab checkpoint (has the relulab `format` metadata).
pub fn is_checkpoint(path: &Path) -> Result<bool> {
    let bytes = read_file(path)?;
    Ok(metadata(path, &bytes)?.get("format").map(String::as_str) == Some(FORMAT))
}

/// Load a relulab checkpoint with its training state (when it has one).
pub fn load_full(path: &Path) -> Result<Checkpoint> {
    let bytes = read_file(path)?;
    parse_checkpoint(&bytes, path)
}

/// Read a relulab checkpoint from its bytes (as [`checkpoint_bytes`] makes them); `path` names
/// the source in error messages.
pub fn parse_checkpoint(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    let meta = metadata(path, bytes)?;
    let st = parse(path, bytes)?;
    let file = path.display();
    match meta.get("format").map(String::as_str) {
        Some(FORMAT) => {}
        _ => {
            return Err(Error::format(
                file,
                "metadata 'format'",
                "not a relulab checkpoint (a PyTorch state_dict needs its activation: \
                 --activation NAME)",
            ))
        }
    }
    if meta.get("version").map(String::as_str) != Some(VERSION) {
        return Err(Error::format(
            file,
            "metadata 'version'",
            format!("unsupported version {:?}", meta.get("version")),
        ));
    }
    let layers: Vec<LayerMeta> = meta
        .get("model")
        .ok_or_else(|| Error::format(path.display(), "metadata 'model'", "missing"))
        .and_then(|m| {
            serde_json::from_str(m)
                .map_err(|e| Error::format(path.display(), "metadata 'model'", e.to_string()))
        })?;
    let mut known: Vec<String> = Vec::new();
    let mut mlp = Mlp { layers: Vec::new() };
    for (l, lm) in layers.iter().enumerate() {
        let wname = format!("layers.{l}.weight");
        let weight = tensor_f32(path, &st, &wname, &[lm.out_dim, lm.in_dim])?;
        known.push(wname);
        let bias = if lm.bias {
            let bname = format!("layers.{l}.bias");
            let b = tensor_f32(path, &st, &bname, &[lm.out_dim])?;
            known.push(bname);
            Some(b)
        } else {
            None
        };
        let prelu_alpha = if lm.prelu_alpha > 0 {
            let aname = format!("layers.{l}.prelu_alpha");
            let a = tensor_f32(path, &st, &aname, &[lm.prelu_alpha])?;
            known.push(aname);
            a
        } else {
            Vec::new()
        };
        mlp.layers.push(Layer {
            in_dim: lm.in_dim,
            out_dim: lm.out_dim,
            weight,
            bias,
            activation: lm.activation,
            prelu_alpha,
        });
    }
    mlp.validate()
        .map_err(|e| Error::format(path.display(), "model", e.to_string()))?;
    let train = match meta.get("train") {
        None => None,
        Some(t) => {
            let tm: TrainMeta = serde_json::from_str(t)
                .map_err(|e| Error::format(path.display(), "metadata 'train'", e.to_string()))?;
            // A standardisation that divides by 0 or flips a feature's sign is corrupt: every
            // command would compute on wrong inputs (eval gave a wrong accuracy at exit 0).
            if let Some(sd) = &tm.standardizer {
                sd.validate(mlp.layers.first().map_or(0, |l| l.in_dim))
                    .map_err(|e| {
                        Error::format(path.display(), "metadata 'train' standardizer", e)
                    })?;
            }
            let mut opt = Optimizer::new(tm.optimizer);
            opt.step = tm.step;
            opt.state.resize_with(mlp.layers.len(), Default::default);
            for (l, layer) in mlp.layers.iter().enumerate() {
                let sizes = [
                    ("weight", layer.weight.len()),
                    ("bias", layer.bias.as_ref().map_or(0, Vec::len)),
                    ("prelu_alpha", layer.prelu_alpha.len()),
                ];
                for (kind, len) in sizes {
                    for mv in ["m", "v"] {
                        let name = format!("optim.{l}.{kind}.{mv}");
                        if st.tensor(&name).is_ok() {
                            let v = tensor_f32(path, &st, &name, &[len])?;
                            known.push(name);
                            let ps = match kind {
                                "weight" => &mut opt.state[l].weight,
                                "bias" => &mut opt.state[l].bias,
                                _ => &mut opt.state[l].prelu_alpha,
                            };
                            if mv == "m" {
                                ps.m = v;
                            } else {
                                ps.v = v;
                            }
                        }
                    }
                }
            }
            Some(TrainState {
                spec: tm.spec,
                epoch: tm.epoch,
                optimizer: opt,
                standardizer: tm.standardizer,
            })
        }
    };
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    if let Some(extra) = names.iter().find(|n| !known.iter().any(|k| k == *n)) {
        return Err(Error::format(
            path.display(),
            format!("tensor '{extra}'"),
            "unknown tensor in a relulab checkpoint",
        ));
    }
    Ok(Checkpoint { mlp, train })
}

/// Load a PyTorch `nn.Sequential` state_dict (`{i}.weight`, `{i}.bias`) saved with
/// safetensors; `hidden` is the activation between the Linear layers (the file does not say).
/// The output layer is linear (identity).
pub fn load_state_dict(path: &Path, hidden: Activation) -> Result<Mlp<f32>> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    let file = path.display().to_string();
    // index -> (weight, bias) views.
    let mut modules: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    for name in names {
        let bad = || {
            Error::format(
                file.clone(),
                format!("key '{name}'"),
                "unknown key: expected '{index}.weight' or '{index}.bias' of an nn.Sequential",
            )
        };
        let (idx, kind) = name.split_once('.').ok_or_else(bad)?;
        let idx: usize = idx.parse().map_err(|_| bad())?;
        let e = modules.entry(idx).or_default();
        match kind {
            "weight" => e.0 = Some(name.to_string()),
            "bias" => e.1 = Some(name.to_string()),
            _ => return Err(bad()),
        }
    }
    let is_prelu = matches!(hidden, Activation::Prelu { .. });
    let mut layers: Vec<Layer<f32>> = Vec::new();
    for (idx, (w, b)) in &modules {
        let wname = w.as_ref().ok_or_else(|| {
            Error::format(
                file.clone(),
                format!("module {idx}"),
                "has a bias but no weight",
            )
        })?;
        let wt = st.tensor(wname).expect("listed");
        match wt.shape() {
            [out, inp] => {
                let weight = to_f32(path, wname, wt.dtype(), wt.data())?;
                let bias = match b {
                    Some(bname) => {
                        let bt = st.tensor(bname).expect("listed");
                        if bt.shape() != [*out] {
                            return Err(Error::format(
                                file.clone(),
                                format!("tensor '{bname}'"),
                                format!("shape {:?}, expected [{out}]", bt.shape()),
                            ));
                        }
                        Some(to_f32(path, bname, bt.dtype(), bt.data())?)
                    }
                    None => None,
                };
                if let Some(prev) = layers.last() {
                    if prev.out_dim != *inp {
                        return Err(Error::format(
                            file.clone(),
                            format!("tensor '{wname}'"),
                            format!(
                                "shape {:?}: input width {inp} does not match the previous \
                                 layer's {} outputs",
                                wt.shape(),
                                prev.out_dim
                            ),
                        ));
                    }
                }
                layers.push(Layer {
                    in_dim: *inp,
                    out_dim: *out,
                    weight,
                    bias,
                    activation: hidden,
                    prelu_alpha: Vec::new(),
                });
            }
            [n] if is_prelu && b.is_none() => {
                let prev = layers.last_mut().ok_or_else(|| {
                    Error::format(
                        file.clone(),
                        format!("tensor '{wname}'"),
                        "PReLU slopes before any Linear layer",
                    )
                })?;
                if *n != 1 && *n != prev.out_dim {
                    return Err(Error::format(
                        file.clone(),
                        format!("tensor '{wname}'"),
                        format!(
                            "PReLU with {n} slopes after a layer of {} units",
                            prev.out_dim
                        ),
                    ));
                }
                prev.prelu_alpha = to_f32(path, wname, wt.dtype(), wt.data())?;
            }
            s => {
                return Err(Error::format(
                    file.clone(),
                    format!("tensor '{wname}'"),
                    format!("unexpected shape {s:?} (a Linear weight is [out, in])"),
                ))
            }
        }
    }
    if layers.is_empty() {
        return Err(Error::format(file, "tensors", "no Linear layers found"));
    }
    let n = layers.len();
    for (l, layer) in layers.iter_mut().enumerate() {
        if l + 1 == n {
            if !layer.prelu_alpha.is_empty() {
                return Err(Error::format(
                    file.clone(),
                    "last module",
                    "PReLU after the output layer is not supported",
                ));
            }
            layer.activation = Activation::Identity;
        } else if is_prelu && layer.prelu_alpha.is_empty() {
            let Activation::Prelu { alpha } = hidden else {
                unreachable!()
            };
            layer.prelu_alpha = vec![alpha as f32];
        }
    }
    let mlp = Mlp { layers };
    mlp.validate()
        .map_err(|e| Error::format(path.display(), "model", e.to_string()))?;
    Ok(mlp)
}

/// Save `mlp` as a PyTorch `nn.Sequential` state_dict in safetensors (F32): Linear l at index
/// 2l, PReLU slopes (if any) at 2l+1, atomically. Loads with
/// `nn.Sequential(nn.Linear(...), act, ..., nn.Linear(...)).load_state_dict(
/// safetensors.torch.load_file(path))`.
pub fn save_state_dict(path: &Path, mlp: &Mlp<f32>) -> Result<()> {
    mlp.validate()
        .map_err(|e| Error::Value(format!("{}: {e}", path.display())))?;
    let mut tensors = BTreeMap::new();
    for (l, layer) in mlp.layers.iter().enumerate() {
        tensors.insert(
            format!("{}.weight", 2 * l),
            Owned {
                shape: vec![layer.out_dim, layer.in_dim],
                bytes: f32_bytes(&layer.weight),
            },
        );
        if let Some(b) = &layer.bias {
            tensors.insert(
                format!("{}.bias", 2 * l),
                Owned {
                    shape: vec![b.len()],
                    bytes: f32_bytes(b),
                },
            );
        }
        if !layer.prelu_alpha.is_empty() {
            tensors.insert(
                format!("{}.weight", 2 * l + 1),
                Owned {
                    shape: vec![layer.prelu_alpha.len()],
                    bytes: f32_bytes(&layer.prelu_alpha),
                },
            );
        }
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    let bytes = serialize(path, tensors, Some(meta))?;
    write_atomic(path, &bytes)
}

/// Load either kind: a relulab checkpoint (when the file says so), else a PyTorch state_dict
/// whose hidden activation is `hidden` (required then).
pub fn load_any(path: &Path, hidden: Option<Activation>) -> Result<Mlp<f32>> {
    if is_checkpoint(path)? {
        return load_checkpoint(path);
    }
    match hidden {
        Some(act) => load_state_dict(path, act),
        None => Err(Error::Value(format!(
            "{}: not a relulab checkpoint; to read it as a PyTorch state_dict give its \
             activation (--activation NAME)",
            path.display()
        ))),
    }
}
