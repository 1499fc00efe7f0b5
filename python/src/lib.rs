//! `relulab._relulab`: the compiled half of the `relulab` Python package (PyO3).
//!
//! The API follows the library: one network class (`Mlp`, wrapping [`relulab::Mlp<f32>`] and,
//! when it came from training, its [`TrainState`]) and functions for loading, verifying,
//! training and running the claims. The pure-Python half (`python/relulab/__init__.py`) adds
//! `from_torch` and the keyword handling of `train`.
//!
//! Conventions, the same everywhere:
//! * Arrays in: `forward` reads a C-contiguous float32 or float64 NumPy array where it lies (no
//!   copy); anything else goes through `numpy.ascontiguousarray` first (one copy, to float64
//!   unless it is float32). Calls that run on a worker thread (`diagnose`) copy their input
//!   once, since the worker must own it.
//! * Arrays out: NumPy arrays that own Rust's buffer (no copy); other results are dicts and
//!   lists, with the same keys as the command line's `--json` output.
//! * Errors: `relulab::Error::Io` becomes `OSError` (with its errno, so a missing file is a
//!   `FileNotFoundError`), every other library error `ValueError`, with relulab's message.
//!   Inputs are checked before they reach the library, so its assertions never fire; a panic
//!   that still happens in a worker thread comes back as `RuntimeError`, never across the FFI.
//! * Long calls (diagnose, regions, bounds, verify, train, claims, reach, optimize, certify) run on a worker thread while
//!   the calling thread waits with the GIL released and checks for signals every
//!   [`POLL`]; Ctrl-C raises `KeyboardInterrupt` within that time. Training, diagnosis, the
//!   plane partition, the claims, verify's branch and bound, reach (refinement, simulation,
//!   safety query), optimize's search and certify's samples stop at their next step, part or
//!   round (a cancel flag); the others (segment, sampling, bounds) cannot be stopped from
//!   outside, so their worker finishes in the background and its result is dropped.

use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use relulab::data::{Dataset, Targets};
use relulab::diagnose::{diagnose_dataset_until, HealthConfig, Objective};
use relulab::io::checkpoint::{self, Checkpoint, TrainState};
use relulab::net::{Trace, Workspace};
use relulab::regions::{
    partition, sample_patterns, segment, Boundary, GeoNet, PlaneOptions, SampleOptions, Slice,
};
use relulab::train::{parse_activation, EpochMetrics, Observer, StepInfo, TrainSpec, Trainer};
use relulab::verify::{self as rverify, load_network, load_vnnlib, VerifyOptions};
use relulab::{Activation, Layer, Mlp, Real};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How often a waiting call checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(20);

/// The message of the error a cancelled worker returns (never seen by Python: the
/// `KeyboardInterrupt` is raised first).
const INTERRUPTED: &str = "interrupted";

// ---------------------------------------------------------------------------------------------
// Errors and the worker thread

/// relulab's error as a Python exception (see the module documentation).
fn py_err(e: relulab::Error) -> PyErr {
    match &e {
        relulab::Error::Io { err, .. } => match err.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, e.to_string())),
            None => PyOSError::new_err(e.to_string()),
        },
        _ => PyValueError::new_err(e.to_string()),
    }
}

fn value_err(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// Run `f` on a worker thread; wait for it with the GIL released, checking for signals every
/// [`POLL`]. On a signal (Ctrl-C: `KeyboardInterrupt`) set `cancel` and return the signal's
/// exception at once, without waiting for the worker.
fn run_blocking<R, F>(py: Python<'_>, cancel: Option<Arc<AtomicBool>>, f: F) -> PyResult<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, mut rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("relulab-worker".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start a worker thread: {e}")))?;
    loop {
        let (back, got) = py.detach(move || {
            let got = rx.recv_timeout(POLL);
            (rx, got)
        });
        rx = back;
        match got {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                return Err(PyRuntimeError::new_err(format!(
                    "relulab: internal error (please report): {msg}"
                )));
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    // A cooperative worker stops at its next step; its result is dropped.
                    if let Some(c) = &cancel {
                        c.store(true, Ordering::SeqCst);
                    }
                    return Err(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "relulab: the worker thread ended without a result",
                ))
            }
        }
    }
}

/// A training observer that stops the run once the flag is set.
struct CancelObserver(Arc<AtomicBool>);

impl Observer for CancelObserver {
    fn on_step(
        &mut self,
        _: &StepInfo<'_>,
        _: &mut Mlp<f32>,
        _: &mut relulab::net::Optimizer<f32>,
    ) -> relulab::Result<()> {
        if self.0.load(Ordering::Relaxed) {
            return Err(relulab::Error::Cancelled(INTERRUPTED.into()));
        }
        Ok(())
    }
}

/// A serialisable value as Python objects (through JSON, as the CLI prints it: NaN → None).
fn to_py<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let s = serde_json::to_string(v)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot serialise a result: {e}")))?;
    py.import("json")?.call_method1("loads", (s,))
}

// ---------------------------------------------------------------------------------------------
// Arrays in

/// A NumPy array of f32 or f64, C-contiguous, borrowed read-only.
enum Floats<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl Floats<'_> {
    fn shape(&self) -> Vec<usize> {
        match self {
            Floats::F32(a) => a.shape().to_vec(),
            Floats::F64(a) => a.shape().to_vec(),
        }
    }
}

/// Read `x` as float32/float64 without copying when it is a C-contiguous array of either;
/// otherwise convert it with `numpy.ascontiguousarray` (float64 unless it is float32).
fn floats<'py>(x: &Bound<'py, PyAny>, what: &str) -> PyResult<Floats<'py>> {
    if let Ok(a) = x.cast::<PyArrayDyn<f32>>() {
        if a.is_c_contiguous() {
            return Ok(Floats::F32(a.readonly()));
        }
    }
    if let Ok(a) = x.cast::<PyArrayDyn<f64>>() {
        if a.is_c_contiguous() {
            return Ok(Floats::F64(a.readonly()));
        }
    }
    let np = x.py().import("numpy")?;
    let is_f32 = x.cast::<PyArrayDyn<f32>>().is_ok();
    let dtype = np.getattr(if is_f32 { "float32" } else { "float64" })?;
    let kw = PyDict::new(x.py());
    kw.set_item("dtype", dtype)?;
    let c = np
        .call_method("ascontiguousarray", (x,), Some(&kw))
        .map_err(|e| value_err(format!("{what}: not convertible to a float array: {e}")))?;
    if is_f32 {
        Ok(Floats::F32(c.cast::<PyArrayDyn<f32>>()?.readonly()))
    } else {
        Ok(Floats::F64(c.cast::<PyArrayDyn<f64>>()?.readonly()))
    }
}

/// `x` as an owned f64 vector (any array-like of numbers), with its shape.
fn f64_vec(x: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<f64>, Vec<usize>)> {
    let a = floats(x, what)?;
    let shape = a.shape();
    let v = match &a {
        Floats::F32(a) => a.as_slice()?.iter().map(|&v| v as f64).collect(),
        Floats::F64(a) => a.as_slice()?.to_vec(),
    };
    Ok((v, shape))
}

/// A vector of `n` finite numbers.
fn finite_vec(x: &Bound<'_, PyAny>, what: &str, n: Option<usize>) -> PyResult<Vec<f64>> {
    let (v, shape) = f64_vec(x, what)?;
    if shape.len() != 1 {
        return Err(value_err(format!(
            "{what}: expected a 1-D sequence, got shape {shape:?}"
        )));
    }
    if let Some(n) = n {
        if v.len() != n {
            return Err(value_err(format!(
                "{what}: expected {n} values, got {}",
                v.len()
            )));
        }
    }
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(value_err(format!(
            "{what}: value {k} is {} (not finite)",
            v[k]
        )));
    }
    Ok(v)
}

/// (samples, features, one_sample) of an input array for a network with `d` inputs: 1-D
/// arrays are one sample, 2-D arrays one sample per row.
fn batch_shape(shape: &[usize], d: usize, what: &str) -> PyResult<(usize, bool)> {
    let (n, one) = match *shape {
        [k] => (1, {
            if k != d {
                return Err(value_err(format!(
                    "{what}: {k} values, but the network takes {d} inputs"
                )));
            }
            true
        }),
        [n, k] => {
            if k != d {
                return Err(value_err(format!(
                    "{what}: shape ({n}, {k}), but the network takes {d} inputs"
                )));
            }
            (n, false)
        }
        _ => {
            return Err(value_err(format!(
                "{what}: expected a 1-D (one sample) or 2-D (samples × inputs) array, got shape {shape:?}"
            )))
        }
    };
    Ok((n, one))
}

fn out_array<'py, T: numpy::Element>(
    py: Python<'py>,
    v: Vec<T>,
    n: usize,
    width: usize,
    one: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if one {
        Ok(Array1::from_vec(v).into_pyarray(py).into_any())
    } else {
        let a = Array2::from_shape_vec((n, width), v)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py).into_any())
    }
}

// ---------------------------------------------------------------------------------------------
// The network class

/// A multilayer perceptron: relulab's one network type.
///
/// Layers are dense, W is (out × in) as in PyTorch's ``nn.Linear``; each layer has one
/// activation (with its parameters and its ReLU'(0) convention). Weights are float32; a
/// float64 input runs through the same weights in float64 (exact widening).
///
/// Create one with :func:`relulab.load`, :meth:`Mlp.from_layers`, :func:`relulab.from_torch`
/// or :func:`relulab.train`. Models pickle (through their checkpoint bytes), so they can be
/// sent to process pools, Dask or Ray workers.
#[pyclass(name = "Mlp", module = "relulab", frozen)]
struct PyMlp {
    mlp: Arc<Mlp<f32>>,
    mlp64: OnceLock<Arc<Mlp<f64>>>,
    train: Option<Arc<TrainState>>,
    /// Address of the input buffer the last `forward` read (the zero-copy test reads it).
    last_input: AtomicUsize,
}

impl PyMlp {
    fn new(mlp: Mlp<f32>, train: Option<TrainState>) -> Self {
        PyMlp {
            mlp: Arc::new(mlp),
            mlp64: OnceLock::new(),
            train: train.map(Arc::new),
            last_input: AtomicUsize::new(0),
        }
    }

    fn mlp64(&self) -> &Arc<Mlp<f64>> {
        self.mlp64.get_or_init(|| Arc::new(self.mlp.cast::<f64>()))
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            mlp: (*self.mlp).clone(),
            train: self.train.as_deref().cloned(),
        }
    }
}

/// Forward `x` (n × d_in, read in place) through `mlp`.
fn forward_slice<T: Real>(mlp: &Mlp<T>, x: &[T], n: usize) -> Vec<T> {
    let mut trace = Trace::default();
    let threads = if n * mlp.num_params() >= 1 << 21 {
        relulab_threads()
    } else {
        1
    };
    let mut ws = Workspace::new(threads);
    mlp.forward_from(x, n, &mut trace, &mut ws, T::zero());
    trace.post.pop().unwrap_or_default()
}

fn relulab_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parse a method name of `bounds`.
fn bound_method(name: &str) -> PyResult<rverify::Method> {
    Ok(
        match name.to_ascii_lowercase().replace(['_', ' '], "-").as_str() {
            "ibp" => rverify::Method::Ibp,
            "crown" => rverify::Method::Crown,
            "alpha-crown" => rverify::Method::AlphaCrown,
            _ => {
                return Err(value_err(format!(
                    "method: unknown '{name}'; expected 'ibp', 'crown' or 'alpha-crown'"
                )))
            }
        },
    )
}

/// Targets of `diagnose` from `y`: integer labels (cross-entropy) or real values (MSE).
enum YTargets {
    Labels(Vec<usize>),
    Values(Vec<f64>),
}

fn y_targets(y: &Bound<'_, PyAny>, n: usize, d_out: usize) -> PyResult<YTargets> {
    let np = y.py().import("numpy")?;
    let arr = np.call_method1("asarray", (y,))?;
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    if matches!(kind.as_str(), "i" | "u" | "b") {
        let arr = np.call_method1("ascontiguousarray", (arr, "int64"))?;
        let a = arr.cast::<PyArrayDyn<i64>>()?.readonly();
        if a.shape() != [n] {
            return Err(value_err(format!(
                "y: class labels need shape ({n},), got {:?}",
                a.shape()
            )));
        }
        if d_out < 2 {
            return Err(value_err(format!(
                "y: class labels need a network with at least 2 outputs (cross-entropy); this one has {d_out}; give float targets for MSE"
            )));
        }
        let labels = a.as_slice()?;
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l < 0 || l as usize >= d_out)
        {
            return Err(value_err(format!(
                "y: label of sample {i} is {l}, but the network has {d_out} outputs"
            )));
        }
        return Ok(YTargets::Labels(
            labels.iter().map(|&l| l as usize).collect(),
        ));
    }
    let (v, shape) = f64_vec(&arr, "y")?;
    let ok = shape == [n, d_out] || (d_out == 1 && shape == [n]);
    if !ok {
        return Err(value_err(format!(
            "y: real targets need shape ({n}, {d_out}), got {shape:?}"
        )));
    }
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(value_err(format!(
            "y: sample {}: target {} is not finite",
            k / d_out,
            v[k]
        )));
    }
    Ok(YTargets::Values(v))
}

fn activation_arg(s: &str, what: &str) -> PyResult<Activation> {
    parse_activation(s).map_err(|e| value_err(format!("{what}: {e}")))
}

#[pymethods]
impl PyMlp {
    /// Build a network from NumPy weights.
    ///
    /// ``weights``: one (out × in) array per layer, input side first (PyTorch layout);
    /// ``biases``: one 1-D array (or None: no bias) per layer, or None for a bias-free network;
    /// ``activation``: the hidden layers' activation (``"relu"``,
    /// ``"leaky_relu(negative_slope=0.1)"``, ``"relu(prime_at_zero=1)"``, ...), or a list with
    /// one name per layer (then ``output_activation`` is not used); ``output_activation``: the
    /// last layer's; ``prelu_alpha``: per layer None or the PReLU slopes (1 shared or one per
    /// unit). Values are stored as float32 and must be finite.
    #[staticmethod]
    #[pyo3(signature = (weights, biases=None, activation=ActivationArg::One("relu".into()), output_activation="identity", prelu_alpha=None))]
    fn from_layers(
        weights: Vec<Bound<'_, PyAny>>,
        biases: Option<Vec<Option<Bound<'_, PyAny>>>>,
        activation: ActivationArg,
        output_activation: &str,
        prelu_alpha: Option<Vec<Option<Bound<'_, PyAny>>>>,
    ) -> PyResult<Self> {
        let nl = weights.len();
        if nl == 0 {
            return Err(value_err("weights: a network needs at least one layer"));
        }
        let acts: Vec<Activation> = match activation {
            ActivationArg::One(h) => {
                let h = activation_arg(&h, "activation")?;
                let o = activation_arg(output_activation, "output_activation")?;
                (0..nl).map(|l| if l + 1 == nl { o } else { h }).collect()
            }
            ActivationArg::PerLayer(v) => {
                if v.len() != nl {
                    return Err(value_err(format!(
                        "activation: {} names for {nl} layers",
                        v.len()
                    )));
                }
                v.iter()
                    .enumerate()
                    .map(|(l, s)| activation_arg(s, &format!("activation of layer {l}")))
                    .collect::<PyResult<_>>()?
            }
        };
        let check = |l: usize, what: &str, v: &[f64]| -> PyResult<()> {
            match v.iter().position(|x| !x.is_finite()) {
                Some(k) => Err(value_err(format!(
                    "layer {l}: {what} element {k} is {} (not finite)",
                    v[k]
                ))),
                None => Ok(()),
            }
        };
        if let Some(b) = &biases {
            if b.len() != nl {
                return Err(value_err(format!(
                    "biases: {} entries for {nl} layers",
                    b.len()
                )));
            }
        }
        if let Some(a) = &prelu_alpha {
            if a.len() != nl {
                return Err(value_err(format!(
                    "prelu_alpha: {} entries for {nl} layers",
                    a.len()
                )));
            }
        }
        let mut layers = Vec::with_capacity(nl);
        for (l, w) in weights.iter().enumerate() {
            let (wv, shape) = f64_vec(w, &format!("weights[{l}]"))?;
            let [out_dim, in_dim] = shape[..] else {
                return Err(value_err(format!(
                    "weights[{l}]: expected a 2-D (out × in) array, got shape {shape:?}"
                )));
            };
            check(l, "weight", &wv)?;
            let mut layer = Layer::<f32>::zeros(in_dim, out_dim, false, acts[l]);
            layer.weight = wv.iter().map(|&v| v as f32).collect();
            if let Some(Some(b)) = biases.as_ref().map(|b| &b[l]) {
                let bv = finite_vec(b, &format!("biases[{l}]"), Some(out_dim))?;
                layer.bias = Some(bv.iter().map(|&v| v as f32).collect());
            }
            if let Some(Some(a)) = prelu_alpha.as_ref().map(|a| &a[l]) {
                if !matches!(acts[l], Activation::Prelu { .. }) {
                    return Err(value_err(format!(
                        "prelu_alpha[{l}]: layer {l} is not a PReLU layer ({})",
                        acts[l]
                    )));
                }
                let av = finite_vec(a, &format!("prelu_alpha[{l}]"), None)?;
                layer.prelu_alpha = av.iter().map(|&v| v as f32).collect();
            }
            layers.push(layer);
        }
        let mlp = Mlp { layers };
        mlp.validate().map_err(py_err)?;
        Ok(PyMlp::new(mlp, None))
    }

    /// A network from the bytes of a relulab checkpoint (as :meth:`to_bytes` makes them).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let ck = checkpoint::parse_checkpoint(data, Path::new("<bytes>")).map_err(py_err)?;
        Ok(PyMlp::new(ck.mlp, ck.train))
    }

    /// The network (and its training state, if any) as the bytes of a relulab checkpoint.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = checkpoint::checkpoint_bytes(&self.checkpoint()).map_err(py_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let rebuild = py.import("relulab")?.getattr("_mlp_from_bytes")?;
        Ok((rebuild, (self.to_bytes(py)?,)))
    }

    /// Save to ``path``, format by extension: ``.safetensors`` (relulab checkpoint, with the
    /// training state when the model has one), ``.onnx``, or ``.json`` (the serde form that
    /// ``relulab verify`` and :func:`relulab.load` read). Written atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let ck = self.checkpoint();
        py.detach(|| match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => checkpoint::save_full(&path, &ck),
            Some("onnx") => relulab::io::onnx::save_onnx(&path, &ck.mlp),
            Some("json") => {
                let s = serde_json::to_string(&ck.mlp).expect("an Mlp serialises");
                checkpoint::write_atomic(&path, s.as_bytes())
            }
            _ => Err(relulab::Error::Value(format!(
                "{}: unknown model format (expected .safetensors, .onnx or .json)",
                path.display()
            ))),
        })
        .map_err(py_err)
    }

    /// Input width.
    #[getter]
    fn input_dim(&self) -> usize {
        self.mlp.input_dim()
    }

    /// Output width.
    #[getter]
    fn output_dim(&self) -> usize {
        self.mlp.output_dim()
    }

    /// ``[d_in, h_1, ..., d_out]``.
    #[getter]
    fn widths(&self) -> Vec<usize> {
        self.mlp.widths()
    }

    /// Number of trainable parameters.
    #[getter]
    fn num_params(&self) -> usize {
        self.mlp.num_params()
    }

    /// Every layer as a dict: ``weight`` (out × in, float32), ``bias`` (or None),
    /// ``activation`` (its name with parameters, as :meth:`from_layers` reads it) and
    /// ``prelu_alpha`` (or None). Copies.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for layer in &self.mlp.layers {
            let d = PyDict::new(py);
            let w = Array2::from_shape_vec((layer.out_dim, layer.in_dim), layer.weight.clone())
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            d.set_item("weight", w.into_pyarray(py))?;
            d.set_item(
                "bias",
                layer.bias.as_ref().map(|b| b.clone().into_pyarray(py)),
            )?;
            d.set_item("activation", activation_text(layer.activation))?;
            d.set_item(
                "prelu_alpha",
                (!layer.prelu_alpha.is_empty()).then(|| layer.prelu_alpha.clone().into_pyarray(py)),
            )?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The input standardisation the model was trained with, as ``(mean, std)`` float64
    /// arrays (apply it with :meth:`standardize`), or None.
    #[getter]
    fn standardizer<'py>(&self, py: Python<'py>) -> Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let st = self.train.as_ref()?.standardizer.as_ref()?;
        Some((
            st.mean.clone().into_pyarray(py).into_any(),
            st.std.clone().into_pyarray(py).into_any(),
        ))
    }

    /// Epochs trained (for a model from :func:`relulab.train` or a training checkpoint), or
    /// None.
    #[getter]
    fn epoch(&self) -> Option<usize> {
        self.train.as_ref().map(|t| t.epoch)
    }

    /// The training run's specification as a dict (the keys of :func:`relulab.train` and of
    /// ``relulab train --config``), or None.
    #[getter]
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.train.as_ref().map(|t| to_py(py, &t.spec)).transpose()
    }

    /// Address of the buffer the last :meth:`forward` read (for tests of zero-copy input).
    #[getter]
    fn _last_input_address(&self) -> usize {
        self.last_input.load(Ordering::Relaxed)
    }

    /// ``(x − mean) / std`` with the model's standardisation (as ``relulab eval`` applies
    /// it; float32 in, float32 out), or ``x`` unchanged without one.
    fn standardize<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = floats(x, "x")?;
        let (n, one) = batch_shape(&a.shape(), self.mlp.input_dim(), "x")?;
        let st = self.train.as_ref().and_then(|t| t.standardizer.clone());
        let d = self.mlp.input_dim();
        let apply = |v: f64, j: usize| match &st {
            Some(st) => (v - st.mean[j]) / st.std[j],
            None => v,
        };
        match a {
            Floats::F32(a) => {
                let v: Vec<f32> = a
                    .as_slice()?
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| apply(v as f64, k % d) as f32)
                    .collect();
                out_array(py, v, n, d, one)
            }
            Floats::F64(a) => {
                let v: Vec<f64> = a
                    .as_slice()?
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| apply(v, k % d))
                    .collect();
                out_array(py, v, n, d, one)
            }
        }
    }

    /// The network's output for ``x``: one sample (1-D, length ``input_dim``) or a batch
    /// (2-D, samples × ``input_dim``). A C-contiguous float32 or float64 array is read in
    /// place, without a copy; the result has the input's dtype (float32 → the float32 engine,
    /// float64 → the same weights in float64) and shape (``output_dim`` or samples ×
    /// ``output_dim``). No input standardisation is applied (see :meth:`standardize`).
    fn forward<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let a = floats(x, "x")?;
        let d = self.mlp.input_dim();
        let (n, one) = batch_shape(&a.shape(), d, "x")?;
        let d_out = self.mlp.output_dim();
        match &a {
            Floats::F32(a) => {
                let s = a.as_slice()?;
                self.last_input
                    .store(s.as_ptr() as usize, Ordering::Relaxed);
                let mlp = &*self.mlp;
                let y = if n * mlp.num_params() < 1 << 16 {
                    forward_slice(mlp, s, n)
                } else {
                    py.detach(|| forward_slice(mlp, s, n))
                };
                out_array(py, y, n, d_out, one)
            }
            Floats::F64(a) => {
                let s = a.as_slice()?;
                self.last_input
                    .store(s.as_ptr() as usize, Ordering::Relaxed);
                let mlp = &**self.mlp64();
                let y = if n * mlp.num_params() < 1 << 16 {
                    forward_slice(mlp, s, n)
                } else {
                    py.detach(|| forward_slice(mlp, s, n))
                };
                out_array(py, y, n, d_out, one)
            }
        }
    }

    /// Activation health of every layer over the samples ``x`` (as ``relulab diagnose
    /// --json``, without the file names): sparsity, dead and τ-dormant units (ReDo score
    /// ≤ ``tau``), pre-activation statistics, and with targets ``y`` (integer class labels:
    /// cross-entropy; real values, samples × outputs: MSE) the gradient flow. Returns a dict
    /// with ``samples``, ``loss``, ``layers`` (one dict per layer) and
    /// ``homogeneity_error_a2`` (None unless the network is bias-free piecewise linear).
    /// No input standardisation is applied. Ctrl-C stops it between batches.
    #[pyo3(signature = (x, y=None, tau=0.1, batch=1024))]
    fn diagnose<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: Option<&Bound<'py, PyAny>>,
        tau: f64,
        batch: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !(tau >= 0.0 && tau.is_finite()) {
            return Err(value_err(format!(
                "tau must be a finite number ≥ 0, got {tau}"
            )));
        }
        let a = floats(x, "x")?;
        let d = self.mlp.input_dim();
        let shape = a.shape();
        let (n, _) = batch_shape(&shape, d, "x")?;
        if n == 0 {
            return Err(value_err("x: no samples"));
        }
        let targets = match y {
            Some(y) if !y.is_none() => Some(y_targets(y, n, self.mlp.output_dim())?),
            _ => None,
        };
        let config = HealthConfig {
            tau,
            ..Default::default()
        };
        let cancel = Arc::new(AtomicBool::new(false));
        // The worker needs owned data: copy x once (the batches are copied into the trace
        // anyway, for the backward pass).
        enum Owned {
            F32(Vec<f32>),
            F64(Vec<f64>),
        }
        let xs = match &a {
            Floats::F32(a) => Owned::F32(a.as_slice()?.to_vec()),
            Floats::F64(a) => Owned::F64(a.as_slice()?.to_vec()),
        };
        let (finite, k) = match &xs {
            Owned::F32(v) => v
                .iter()
                .position(|x| !x.is_finite())
                .map_or((true, 0), |k| (false, k)),
            Owned::F64(v) => v
                .iter()
                .position(|x| !x.is_finite())
                .map_or((true, 0), |k| (false, k)),
        };
        if !finite {
            return Err(value_err(format!(
                "x: sample {}, feature {}: value is not finite",
                k / d,
                k % d
            )));
        }
        let mlp = self.mlp.clone();
        let mlp64 = self.mlp64().clone();
        let flag = cancel.clone();
        let result = run_blocking(py, Some(cancel), move || {
            let objective = match &targets {
                None => Objective::None,
                Some(YTargets::Labels(l)) => Objective::CrossEntropy(l),
                Some(YTargets::Values(v)) => Objective::Mse(v),
            };
            let (health, x64) = match &xs {
                Owned::F32(v) => (
                    diagnose_dataset_until(&mlp, v, n, &objective, batch, config, Some(&flag))?,
                    v.iter().map(|&x| x as f64).collect::<Vec<f64>>(),
                ),
                Owned::F64(v) => (
                    diagnose_dataset_until(&mlp64, v, n, &objective, batch, config, Some(&flag))?,
                    v.clone(),
                ),
            };
            let homogeneity = relulab::diagnose::homogeneity_error(&mlp64, &x64, n, 2.0).ok();
            let loss = match objective {
                Objective::None => "none",
                Objective::Mse(_) => "mse",
                Objective::CrossEntropy(_) => "cross_entropy",
            };
            Ok::<_, relulab::Error>(serde_json::json!({
                "samples": n,
                "loss": loss,
                "layers": health,
                "homogeneity_error_a2": homogeneity,
            }))
        })?
        .map_err(py_err)?;
        to_py(py, &result)
    }

    /// The exact activation and linear regions of the network on a plane slice (as
    /// ``relulab regions --json``): the box ``(u0, u1, v0, v1)`` of the plane
    /// ``origin + u·dir_a + v·dir_b`` (defaults: the origin and the first two unit vectors,
    /// which a 2-input network needs no more than). ``boundary``: also cut by a decision
    /// boundary, an output index ``o`` (its zero set) or a pair ``(a, b)`` (where outputs a
    /// and b are equal). ``polygons=True`` adds every cell: ``vertices`` ((k, 2) array in
    /// (u, v)), ``pattern`` (one '0'/'1' string per layer) and ``maps`` (outputs × 3 array
    /// of [c0, cu, cv]). Hidden activations must be piecewise linear.
    #[pyo3(signature = (r#box=(-2.0, 2.0, -2.0, 2.0), origin=None, dir_a=None, dir_b=None, boundary=None, max_cells=20_000_000, polygons=false))]
    #[allow(clippy::too_many_arguments)]
    fn regions<'py>(
        &self,
        py: Python<'py>,
        r#box: (f64, f64, f64, f64),
        origin: Option<&Bound<'py, PyAny>>,
        dir_a: Option<&Bound<'py, PyAny>>,
        dir_b: Option<&Bound<'py, PyAny>>,
        boundary: Option<&Bound<'py, PyAny>>,
        max_cells: usize,
        polygons: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = self.mlp.input_dim();
        if d != 2 && (dir_a.is_none() || dir_b.is_none()) {
            return Err(value_err(format!(
                "the network has {d} inputs: give the slice with dir_a and dir_b (and origin)"
            )));
        }
        let unit = |k: usize| {
            (0..d)
                .map(|i| f64::from(u8::from(i == k)))
                .collect::<Vec<f64>>()
        };
        let vec_or = |v: Option<&Bound<'py, PyAny>>, what: &str, default: Vec<f64>| match v {
            Some(v) => finite_vec(v, what, Some(d)),
            None => Ok(default),
        };
        let slice = Slice {
            origin: vec_or(origin, "origin", vec![0.0; d])?,
            dir_a: vec_or(dir_a, "dir_a", unit(0))?,
            dir_b: vec_or(dir_b, "dir_b", unit(1.min(d.saturating_sub(1))))?,
            bbox: [r#box.0, r#box.1, r#box.2, r#box.3],
        };
        slice.validate(d).map_err(py_err)?;
        let boundary = match boundary {
            None => Boundary::None,
            Some(b) => {
                if let Ok(o) = b.extract::<usize>() {
                    Boundary::Zero(o)
                } else if let Ok((a, c)) = b.extract::<(usize, usize)>() {
                    Boundary::Equal(a, c)
                } else {
                    return Err(value_err(
                        "boundary: expected an output index o or a pair (a, b) of output indices",
                    ));
                }
            }
        };
        let mlp = self.mlp64().clone();
        let slice2 = slice.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let (net, p, linear, secs) = run_blocking(py, Some(cancel), move || {
            let net = GeoNet::new(&*mlp)?;
            let t = Instant::now();
            let opts = PlaneOptions {
                boundary,
                max_cells: Some(max_cells),
                cancel: Some(&flag),
                ..Default::default()
            };
            let p = partition(&net, &slice2, opts)?;
            let secs = t.elapsed().as_secs_f64();
            let linear = p.linear_regions();
            Ok::<_, relulab::Error>((net, p, linear, secs))
        })?
        .map_err(py_err)?;
        let out = PyDict::new(py);
        out.set_item("activation_regions", p.activation_regions())?;
        out.set_item("linear_regions", linear)?;
        out.set_item("cells", p.len())?;
        out.set_item("box", [r#box.0, r#box.1, r#box.2, r#box.3])?;
        out.set_item("origin", &slice.origin)?;
        out.set_item("dir_a", &slice.dir_a)?;
        out.set_item("dir_b", &slice.dir_b)?;
        out.set_item("area_sum", p.area_sum())?;
        out.set_item("box_area", slice.area())?;
        out.set_item("output_is_logit", p.output_is_logit)?;
        out.set_item("seconds", secs)?;
        if polygons {
            let side = boundary != Boundary::None;
            let list = PyList::empty(py);
            for i in 0..p.len() {
                let poly = p.polygon(i);
                let verts = Array2::from_shape_vec(
                    (poly.len(), 2),
                    poly.iter().flat_map(|v| [v[0], v[1]]).collect(),
                )
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                let maps = Array2::from_shape_vec(
                    (p.n_outputs, 3),
                    (0..p.n_outputs).flat_map(|o| p.output_map(i, o)).collect(),
                )
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                let mut pattern = net.pattern_strings(p.pattern(i));
                if side {
                    pattern.push((p.pattern(i)[p.pattern_words - 1] & 1).to_string());
                }
                let cell = PyDict::new(py);
                cell.set_item("vertices", verts.into_pyarray(py))?;
                cell.set_item("pattern", pattern)?;
                cell.set_item("maps", maps.into_pyarray(py))?;
                list.append(cell)?;
            }
            out.set_item("polygons", list)?;
        }
        Ok(out.into_any())
    }

    /// The pieces of the network along the segment from ``x0`` to ``x1`` (as ``relulab
    /// regions --segment --json``): ``activation_pieces``, ``linear_pieces``, ``t`` (piece k
    /// covers [t[k], t[k+1]] of the segment's parameter) and ``maps`` (pieces × outputs × 2:
    /// y_o(t) = a + b·t).
    fn segment<'py>(
        &self,
        py: Python<'py>,
        x0: &Bound<'py, PyAny>,
        x1: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = self.mlp.input_dim();
        let x0 = finite_vec(x0, "x0", Some(d))?;
        let x1 = finite_vec(x1, "x1", Some(d))?;
        let mlp = self.mlp64().clone();
        let s = run_blocking(py, None, move || {
            let net = GeoNet::new(&*mlp)?;
            segment(&net, &x0, &x1)
        })?
        .map_err(py_err)?;
        let out = PyDict::new(py);
        out.set_item("x0", &s.x0)?;
        out.set_item("x1", &s.x1)?;
        out.set_item("activation_pieces", s.activation_pieces())?;
        out.set_item("linear_pieces", s.linear_pieces())?;
        out.set_item("t", s.t.clone().into_pyarray(py))?;
        let k = s.maps.len();
        let maps = Array3::from_shape_vec(
            (k, s.n_outputs, 2),
            s.maps.iter().flatten().flat_map(|&(a, b)| [a, b]).collect(),
        )
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        out.set_item("maps", maps.into_pyarray(py))?;
        Ok(out.into_any())
    }

    /// Distinct activation patterns among ``n`` seeded uniform samples of [lo, hi]^d (a lower
    /// bound on the number of regions, any input dimension), with the growth curve at 1, 2,
    /// 4, ... and n samples (as ``relulab regions --sample N --json``).
    #[pyo3(signature = (n, lo=-1.0, hi=1.0, seed=0))]
    fn sample_regions<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        lo: f64,
        hi: f64,
        seed: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mlp = self.mlp64().clone();
        let g = run_blocking(py, None, move || {
            let net = GeoNet::new(&*mlp)?;
            sample_patterns(&net, &SampleOptions { n, seed, lo, hi })
        })?
        .map_err(py_err)?;
        let out = PyDict::new(py);
        out.set_item("samples", n)?;
        out.set_item("distinct_patterns", g.distinct)?;
        out.set_item("growth", g.curve)?;
        Ok(out.into_any())
    }

    /// Sound bounds of every output over the input box [lo, hi] (as ``relulab bounds
    /// --json``), by ``method`` ``"ibp"``, ``"crown"`` or ``"alpha-crown"``. Returns
    /// ``(lower, upper)`` float64 arrays. Hidden activations must have their kink at zero
    /// (identity, ReLU, Leaky ReLU, PReLU, ReLU+εx).
    #[pyo3(signature = (lo, hi, method="crown"))]
    fn bounds<'py>(
        &self,
        py: Python<'py>,
        lo: &Bound<'py, PyAny>,
        hi: &Bound<'py, PyAny>,
        method: &str,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let d = self.mlp.input_dim();
        let lo = finite_vec(lo, "lo", Some(d))?;
        let hi = finite_vec(hi, "hi", Some(d))?;
        if let Some(i) = (0..d).find(|&i| lo[i] > hi[i]) {
            return Err(value_err(format!(
                "input {i}: need lo <= hi, got {}:{}",
                lo[i], hi[i]
            )));
        }
        let method = bound_method(method)?;
        let mlp = self.mlp.clone();
        let (l, h) = run_blocking(py, None, move || {
            let net = rverify::PwlNet::from_mlp(&*mlp)?;
            Ok::<_, relulab::Error>(rverify::output_bounds(&net, &lo, &hi, method))
        })?
        .map_err(py_err)?;
        Ok((l.into_pyarray(py).into_any(), h.into_pyarray(py).into_any()))
    }

    fn __repr__(&self) -> String {
        let acts: Vec<String> = self
            .mlp
            .layers
            .iter()
            .map(|l| activation_text(l.activation))
            .collect();
        format!(
            "relulab.Mlp(widths={:?}, activations={:?}, params={})",
            self.mlp.widths(),
            acts,
            self.mlp.num_params()
        )
    }
}

/// An activation as text that `parse_activation` reads back (every parameter, ReLU'(0)
/// included when it is not the default).
fn activation_text(a: Activation) -> String {
    match a {
        Activation::LeakyRelu {
            negative_slope,
            prime_at_zero,
        } if prime_at_zero != negative_slope => {
            format!("leaky_relu(negative_slope={negative_slope}, prime_at_zero={prime_at_zero})")
        }
        Activation::ReluEps { eps, prime_at_zero } if prime_at_zero != eps => {
            format!("relu_eps(eps={eps}, prime_at_zero={prime_at_zero})")
        }
        other => other.to_string(),
    }
}

/// `activation=` of `from_layers`: one name or one per layer.
enum ActivationArg {
    One(String),
    PerLayer(Vec<String>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for ActivationArg {
    type Error = PyErr;
    fn extract(ob: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = ob.extract::<String>() {
            return Ok(ActivationArg::One(s));
        }
        ob.extract::<Vec<String>>()
            .map(ActivationArg::PerLayer)
            .map_err(|_| value_err("activation: expected a name or a list of names, one per layer"))
    }
}

impl From<String> for ActivationArg {
    fn from(s: String) -> Self {
        ActivationArg::One(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Module functions

/// Load a network from any model file relulab reads, chosen by extension: ``.safetensors``
/// (a relulab checkpoint, with its training state; or a PyTorch ``nn.Sequential``
/// state_dict, whose hidden ``activation`` must then be named), ``.onnx``, or ``.json`` (the
/// serde form of an ``Mlp``). Missing or unreadable files raise ``OSError``; malformed ones
/// ``ValueError`` naming the file and the place.
#[pyfunction]
#[pyo3(signature = (path, activation=None))]
fn load(py: Python<'_>, path: PathBuf, activation: Option<&str>) -> PyResult<PyMlp> {
    let act = activation
        .map(|a| activation_arg(a, "activation"))
        .transpose()?;
    let (mlp, train) = py
        .detach(|| -> relulab::Result<_> {
            match path.extension().and_then(|e| e.to_str()) {
                Some("safetensors") if checkpoint::is_checkpoint(&path)? => {
                    let ck = checkpoint::load_full(&path)?;
                    Ok((ck.mlp, ck.train))
                }
                Some("safetensors") => match act {
                    Some(a) => Ok((checkpoint::load_state_dict(&path, a)?, None)),
                    None => Err(relulab::Error::Value(format!(
                        "{}: not a relulab checkpoint; to read it as a PyTorch state_dict give \
                         its hidden activation (activation=\"relu\", ...)",
                        path.display()
                    ))),
                },
                _ => Ok((load_network(&path)?, None)),
            }
        })
        .map_err(py_err)?;
    Ok(PyMlp::new(mlp, train))
}

/// Decide a VNN-LIB property (it describes the unsafe set) for ``model`` (an :class:`Mlp` or a
/// model file): ``result`` is ``"sat"`` (a counterexample, in ``witness``: ``x``, ``y`` and
/// ``y_f32`` arrays), ``"unsat"`` (the property holds), ``"timeout"`` or ``"unknown"``, with
/// ``seconds`` and ``domains`` (as ``relulab verify --json``). Ctrl-C raises
/// ``KeyboardInterrupt`` at once, and the search stops at its next round.
#[pyfunction]
#[pyo3(signature = (model, vnnlib_path, timeout=116.0, seed=0))]
fn verify(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    vnnlib_path: PathBuf,
    timeout: f64,
    seed: u64,
) -> PyResult<Py<PyAny>> {
    let Some(timeout) = relulab::verify::time_limit(timeout, false) else {
        return Err(value_err(format!(
            "timeout must be a positive number of seconds, at most {:e}, got {timeout}",
            relulab::verify::MAX_SECONDS
        )));
    };
    let mlp: Arc<Mlp<f32>> = match model.cast::<PyMlp>() {
        Ok(m) => m.get().mlp.clone(),
        Err(_) => {
            let path: PathBuf = model.extract().map_err(|_| {
                value_err("model: expected a relulab.Mlp or the path of a model file")
            })?;
            Arc::new(py.detach(|| load_network(&path)).map_err(py_err)?)
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = VerifyOptions {
        timeout,
        seed,
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let out = run_blocking(py, Some(cancel), move || {
        let prop = load_vnnlib(&vnnlib_path)?;
        rverify::verify(&mlp, &prop, &opts)
    })?
    .map_err(py_err)?;
    let d = PyDict::new(py);
    d.set_item("result", out.verdict.as_str())?;
    d.set_item("seconds", out.seconds)?;
    d.set_item("domains", out.domains)?;
    match &out.witness {
        Some(w) => {
            let wd = PyDict::new(py);
            wd.set_item("x", w.x.clone().into_pyarray(py))?;
            wd.set_item("y", w.y.clone().into_pyarray(py))?;
            wd.set_item("y_f32", w.y_f32.clone().into_pyarray(py))?;
            d.set_item("witness", wd)?;
        }
        None => d.set_item("witness", py.None())?,
    }
    Ok(d.into_any().unbind())
}

/// The compiled half of `relulab.train` (the Python wrapper turns keywords into `spec_json`).
#[pyfunction]
#[pyo3(signature = (spec_json, x=None, y=None, resume=None, epochs=None, monitor=false, dormant_tau=0.1))]
#[allow(clippy::too_many_arguments)]
fn _train<'py>(
    py: Python<'py>,
    spec_json: &str,
    x: Option<&Bound<'py, PyAny>>,
    y: Option<&Bound<'py, PyAny>>,
    resume: Option<&Bound<'py, PyMlp>>,
    epochs: Option<usize>,
    monitor: bool,
    dormant_tau: f64,
) -> PyResult<(PyMlp, Bound<'py, PyAny>)> {
    let (mut spec, start) = match resume {
        Some(m) => {
            let m = m.get();
            let st = m.train.as_ref().ok_or_else(|| {
                value_err("resume: the model has no training state (not made by relulab.train or a training checkpoint)")
            })?;
            (st.spec.clone(), Some(((*m.mlp).clone(), (**st).clone())))
        }
        None => (
            serde_json::from_str::<TrainSpec>(spec_json)
                .map_err(|e| value_err(format!("train: {e}")))?,
            None,
        ),
    };
    if let Some(e) = epochs {
        spec.epochs = e;
    }
    if !(dormant_tau >= 0.0 && dormant_tau.is_finite()) {
        return Err(value_err(format!(
            "dormant_tau must be a finite number ≥ 0, got {dormant_tau}"
        )));
    }
    let data = match (x, y) {
        (Some(x), Some(y)) => {
            if spec.dataset.is_some() || spec.data.is_some() {
                return Err(value_err(
                    "train: give the data either as x, y arrays or as dataset/data, not both",
                ));
            }
            Some(in_memory_dataset(
                x,
                y,
                spec.loss.is_none_or(|l| l.wants_labels()),
            )?)
        }
        (None, None) => None,
        _ => return Err(value_err("train: give both x and y, or neither")),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let (mlp, state, metrics) = run_blocking(py, Some(cancel), move || -> relulab::Result<_> {
        let (train, test, standardizer) = match data {
            Some(ds) => spec.split_data(ds)?,
            None => spec.load_data()?,
        };
        let loss = spec.loss_for(&train.targets);
        let config = spec.train_config(loss)?;
        let mut trainer = match start {
            Some((mlp, st)) => {
                let mut t = Trainer::new(mlp, config);
                t.optimizer = st.optimizer;
                t.epoch = st.epoch;
                t
            }
            None => Trainer::new(spec.build_model(train.d, &train.targets, loss)?, config),
        };
        let mut stop = CancelObserver(flag);
        let mut health = relulab::diagnose::HealthMonitor::new(HealthConfig {
            tau: dormant_tau,
            ..Default::default()
        });
        let mut observers: Vec<&mut dyn Observer> = vec![&mut stop];
        if monitor {
            observers.push(&mut health);
        }
        let metrics: Vec<EpochMetrics> =
            trainer.run(&train, test.as_ref(), &mut observers, |_, _| Ok(()))?;
        let state = TrainState {
            spec,
            epoch: trainer.epoch,
            optimizer: trainer.optimizer.clone(),
            standardizer,
        };
        Ok((trainer.mlp, state, metrics))
    })?
    .map_err(py_err)?;
    let metrics = to_py(py, &metrics)?;
    Ok((PyMlp::new(mlp, Some(state)), metrics))
}

/// A data set from arrays: x (n × d) and y (n integer labels, or n × k / n real values).
fn in_memory_dataset(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    labels: bool,
) -> PyResult<Dataset> {
    let (xv, shape) = f64_vec(x, "x")?;
    let [n, d] = shape[..] else {
        return Err(value_err(format!(
            "x: expected a 2-D (samples × features) array, got shape {shape:?}"
        )));
    };
    let np = y.py().import("numpy")?;
    let ya = np.call_method1("asarray", (y,))?;
    let kind: String = ya.getattr("dtype")?.getattr("kind")?.extract()?;
    let targets = if labels && matches!(kind.as_str(), "i" | "u" | "b") {
        let ya = np.call_method1("ascontiguousarray", (ya, "int64"))?;
        let a = ya.cast::<PyArrayDyn<i64>>()?.readonly();
        if a.shape() != [n] {
            return Err(value_err(format!(
                "y: class labels need shape ({n},), got {:?}",
                a.shape()
            )));
        }
        let l = a.as_slice()?;
        if let Some((i, &bad)) = l
            .iter()
            .enumerate()
            .find(|(_, &v)| !(0..=u32::MAX as i64).contains(&v))
        {
            return Err(value_err(format!(
                "y: label of sample {i} is {bad} (labels are 0, 1, 2, ...)"
            )));
        }
        let n_classes = l.iter().max().map_or(0, |&m| m as usize + 1);
        Targets::Classes {
            labels: l.iter().map(|&v| v as u32).collect(),
            n_classes,
        }
    } else {
        let (v, s) = f64_vec(&ya, "y")?;
        let dim = match s[..] {
            [k] if k == n => 1,
            [k, dim] if k == n => dim,
            _ => {
                return Err(value_err(format!(
                    "y: expected {n} labels or an ({n}, k) array of targets, got shape {s:?}"
                )))
            }
        };
        Targets::Values {
            values: v.iter().map(|&t| t as f32).collect(),
            dim,
        }
    };
    Ok(Dataset {
        name: "x".into(),
        n,
        d,
        x: xv.iter().map(|&v| v as f32).collect(),
        targets,
    })
}

/// Run the seed document's claims as experiments (all, or the numbers in ``only``), as
/// ``relulab claims --json``: one dict per claim with ``id``, ``title``, ``seed_says``,
/// ``checks`` (name, measured, expected, tolerance, pass), ``pass``, ``seconds`` and
/// ``series``. Ctrl-C stops between claims.
#[pyfunction]
#[pyo3(signature = (only=None, seed=0))]
fn claims<'py>(py: Python<'py>, only: Option<Vec<u32>>, seed: u64) -> PyResult<Bound<'py, PyAny>> {
    let count = relulab::claims::CLAIM_COUNT;
    let ids: Vec<u32> = match only {
        Some(v) if !v.is_empty() => v,
        _ => (1..=count).collect(),
    };
    if let Some(bad) = ids.iter().find(|&&i| i == 0 || i > count) {
        return Err(value_err(format!(
            "only: claim {bad} does not exist; claims are numbered 1 to {count}"
        )));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let outcomes = run_blocking(py, Some(cancel), move || {
        let mut out = Vec::new();
        for id in ids {
            if flag.load(Ordering::Relaxed) {
                return Err(relulab::Error::Cancelled(INTERRUPTED.into()));
            }
            out.push(relulab::claims::run_claim(id, seed)?);
        }
        Ok(out)
    })?
    .map_err(py_err)?;
    to_py(py, &outcomes)
}

// ---------------------------------------------------------------------------------------------
// reach, optimize, certify (issue 15 follow-up)

/// `numpy.asarray(d[key], dtype=float64)` for each `key` present in the dict `d` and not None.
fn as_arrays(d: &Bound<'_, PyAny>, keys: &[&str]) -> PyResult<()> {
    let py = d.py();
    let np = py.import("numpy")?;
    let d = d.cast::<PyDict>()?;
    for k in keys {
        if let Some(v) = d.get_item(k)? {
            if !v.is_none() {
                let kw = PyDict::new(py);
                kw.set_item("dtype", np.getattr("float64")?)?;
                d.set_item(k, np.call_method("asarray", (v,), Some(&kw))?)?;
            }
        }
    }
    Ok(())
}

/// A state set of `reach`: TOML text (`box = [[lo, hi], ...]` or `H = [[...]]; h = [...]`) or
/// the path of a file holding it.
fn state_set(
    py: Python<'_>,
    spec: &Bound<'_, PyAny>,
    name: &str,
    n: usize,
) -> PyResult<relulab::reach::safety::StateSet> {
    let text = match spec.extract::<String>() {
        Ok(s) if !Path::new(&s).is_file() => s,
        _ => {
            let p: PathBuf = spec.extract().map_err(|_| {
                value_err(format!(
                    "{name}: expected TOML text ('box = [[lo, hi], ...]' or 'H = ...; h = ...') or a file"
                ))
            })?;
            py.detach(|| std::fs::read_to_string(&p))
                .map_err(|e| py_err(relulab::Error::io(&p, e)))?
        }
    };
    relulab::reach::safety::StateSet::parse(&text, name, n).map_err(py_err)
}

/// Reachable sets of a closed loop (plant TOML ``system``, controller model file
/// ``controller``), as ``relulab reach --json``: ``steps`` (one dict per step k = 0..N with
/// ``lo``, ``hi``, the simulated ``true_lo``, ``true_hi`` as NumPy arrays and ``tightness``;
/// with template directions also ``template``, the bound e of each direction d (d·x ≤ e) for
/// k ≥ 1; with ``exact=True`` also ``exact_pieces`` and ``exact_bbox``), ``final_tightness``,
/// ``runtime_s``, ``parts``, ``rounds``, ``true_samples``, ``directions`` and, with ``avoid``
/// or ``reach_goal`` (TOML text ``box = [[lo, hi], ...]`` or ``H = [[...]]; h = [...]``, or a
/// file holding it), ``safety`` (``answer`` "safe", "unsafe" with ``x0``/``trajectory``/
/// ``step``, or "unknown" with ``reason``). ``steps=None`` takes the plant file's,
/// ``target_error=None`` 0.01, ``time_limit=None`` 10 s. ``template`` is "box" (boxes only)
/// or "octagon" (adds the directions ±x_i ± x_j), as ``--template``; ``directions`` extra
/// template directions over the state (a sequence of n-vectors, or an (m, n) array), as
/// repeated ``--direction``. Ctrl-C raises ``KeyboardInterrupt`` at once, and the
/// refinement, simulation and safety query stop at their next part, chunk or round.
#[pyfunction]
#[pyo3(signature = (system, controller, steps=None, parts=1, target_error=None, time_limit=None,
    alpha=0, exact=false, avoid=None, reach_goal=None, seed=0, activation="relu",
    true_samples=1_000_000, guide_samples=2000, max_parts=65536, template="box",
    directions=None))]
#[allow(clippy::too_many_arguments)]
fn reach<'py>(
    py: Python<'py>,
    system: PathBuf,
    controller: PathBuf,
    steps: Option<usize>,
    parts: usize,
    target_error: Option<f64>,
    time_limit: Option<f64>,
    alpha: usize,
    exact: bool,
    avoid: Option<&Bound<'py, PyAny>>,
    reach_goal: Option<&Bound<'py, PyAny>>,
    seed: u64,
    activation: &str,
    true_samples: usize,
    guide_samples: usize,
    max_parts: usize,
    template: &str,
    directions: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    use relulab::reach::enclose::{octagon, ReachOptions};
    use relulab::reach::safety::Query;
    let time_limit = time_limit.unwrap_or(10.0);
    if relulab::verify::time_limit(time_limit, false).is_none() {
        return Err(value_err(format!(
            "time_limit must be a positive number of seconds, at most 1e9, got {time_limit}"
        )));
    }
    let target_error = target_error.unwrap_or(0.01);
    if !(target_error >= 0.0 && target_error.is_finite()) {
        return Err(value_err(format!(
            "target_error must be a finite number ≥ 0, got {target_error}"
        )));
    }
    if parts == 0 {
        return Err(value_err("parts must be at least 1"));
    }
    let act = Activation::by_name(activation)
        .ok_or_else(|| value_err(format!("activation '{activation}': unknown activation")))?;
    let cl = py
        .detach(|| relulab::reach::load_loop(&system, &controller, act))
        .map_err(py_err)?;
    let n = cl.plant.n;
    let steps = steps.unwrap_or(cl.plant.steps);
    if steps == 0 {
        return Err(value_err("steps must be at least 1"));
    }
    let query = match (avoid, reach_goal) {
        (Some(_), Some(_)) => return Err(value_err("give avoid or reach_goal, not both")),
        (Some(s), None) => Some(Query::Avoid(state_set(py, s, "avoid", n)?)),
        (None, Some(s)) => Some(Query::ReachGoal(state_set(py, s, "reach_goal", n)?)),
        (None, None) => None,
    };
    let mut dirs = match template {
        "box" => Vec::new(),
        "octagon" => octagon(n),
        _ => {
            return Err(value_err(format!(
                "template: unknown '{template}'; expected 'box' or 'octagon'"
            )))
        }
    };
    if let Some(ds) = directions {
        let (v, shape) = f64_vec(ds, "directions")?;
        let m = match shape[..] {
            [m, k] if k == n => m,
            [k] if k == n => 1,
            [0] => 0,
            _ => {
                return Err(value_err(format!(
                    "directions: expected a sequence of {n}-vectors (an (m, {n}) array; the plant has {n} states), got shape {shape:?}"
                )))
            }
        };
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(value_err(format!(
                "directions: direction {}, entry {}: {} is not finite",
                i / n,
                i % n,
                v[i]
            )));
        }
        dirs.extend((0..m).map(|r| v[r * n..(r + 1) * n].to_vec()));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = ReachOptions {
        steps,
        parts,
        target_error,
        time_limit: Duration::from_secs_f64(time_limit),
        max_parts,
        alpha_iters: alpha,
        directions: dirs,
        guide_samples,
        seed,
        cancel: Some(cancel.clone()),
    };
    let limit = opts.time_limit;
    let j = run_blocking(py, Some(cancel), move || {
        relulab::reach::report::run(&cl, &opts, true_samples, query.as_ref(), limit, exact)
            .map(|r| r.to_json())
    })?
    .map_err(py_err)?;
    let d = to_py(py, &j)?;
    for st in d.get_item("steps")?.try_iter()? {
        as_arrays(
            &st?,
            &["lo", "hi", "true_lo", "true_hi", "template", "exact_bbox"],
        )?;
    }
    if let Some(s) = d.cast::<PyDict>()?.get_item("safety")? {
        as_arrays(&s, &["x0", "trajectory"])?;
    }
    Ok(d)
}

/// Certified optimum of a linear objective of a model's outputs ``y[i]`` and inputs ``x[i]``
/// (or column names) over its input box, under linear ``constraints`` (e.g. ``"y[1] <= 0.3"``),
/// as ``relulab optimize --json``: ``model``, ``input_names``, ``output_names``, ``lo``, ``hi``,
/// ``constraints`` and ``solution`` (``status``, ``sense``, ``x`` and ``y`` as NumPy arrays or
/// None, ``objective``, ``bound``, ``gap_abs``, ``gap_rel``, ``nodes``, ``seconds``,
/// ``violation``, ``method``, ``regions``). ``model`` is the path of a relulab checkpoint (a
/// surrogate's carries its scaling and training box), ONNX or JSON model; ``input_bounds`` a
/// sequence of ``(lo, hi)`` per input (default: the checkpoint's training box); ``None`` gaps
/// and time limit take relulab's defaults. ``exact=True`` enumerates the linear regions (1 or
/// 2 inputs). ``problem`` is the path of a TOML problem file (keys ``maximize`` or
/// ``minimize``, ``constraints``, ``input_bounds``, ``gap_abs``, ``gap_rel``, ``time_limit``), as
/// ``relulab optimize --problem``: the keyword arguments given override its values, and
/// ``constraints`` are added to its own. Ctrl-C raises ``KeyboardInterrupt`` at once, and the
/// search stops at its next round.
#[pyfunction]
#[pyo3(signature = (model, maximize=None, minimize=None, constraints=Vec::new(), input_bounds=None,
    gap_abs=None, gap_rel=None, time_limit=None, exact=false, problem=None))]
#[allow(clippy::too_many_arguments)]
fn optimize<'py>(
    py: Python<'py>,
    model: PathBuf,
    maximize: Option<String>,
    minimize: Option<String>,
    constraints: Vec<String>,
    input_bounds: Option<Vec<(f64, f64)>>,
    gap_abs: Option<f64>,
    gap_rel: Option<f64>,
    time_limit: Option<f64>,
    exact: bool,
    problem: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    use relulab::optimize::{self as opt, spec};
    if maximize.is_some() && minimize.is_some() {
        return Err(value_err("give maximize or minimize, not both"));
    }
    let base = match &problem {
        Some(p) => py.detach(|| spec::ProblemSpec::load(p)).map_err(py_err)?,
        None => spec::ProblemSpec::default(),
    };
    let ps = base.merge(spec::ProblemSpec {
        maximize,
        minimize,
        constraints,
        input_bounds: input_bounds.map(|b| b.into_iter().map(|(l, h)| [l, h]).collect()),
        gap_abs,
        gap_rel,
        time_limit,
    });
    let mut o = ps.options().map_err(py_err)?;
    let cancel = Arc::new(AtomicBool::new(false));
    o.cancel = Some(cancel.clone());
    let j = run_blocking(py, Some(cancel), move || -> relulab::Result<_> {
        let m = opt::surrogate::load(&model)?;
        let names = (m.input_names.clone(), m.output_names.clone());
        let problem = spec::build(m, &ps)?;
        let sol = if exact {
            opt::solve_exact_until(&problem, o.cancel.as_deref())?
        } else {
            opt::solve(&problem, &o, None)?
        };
        Ok(opt::report_json(
            &model.display().to_string(),
            &names.0,
            &names.1,
            &problem,
            &sol,
        ))
    })?
    .map_err(py_err)?;
    let d = to_py(py, &j)?;
    as_arrays(&d, &["lo", "hi"])?;
    as_arrays(&d.get_item("solution")?, &["x", "y"])?;
    Ok(d)
}

/// Certified robustness of a classifier (an :class:`Mlp` or a model file; a training
/// checkpoint's input standardisation is part of the network) on samples ``x`` ((n, d), in the
/// units ``eps`` is given in) with integer ``labels`` ((n,)), for one radius or a sequence of
/// them, as ``relulab certify --json``: ``results`` (one dict per sample and ε: ``index``,
/// ``eps``, ``label``, ``predicted``, ``status`` — "certified", "attacked", "misclassified" or
/// "unknown" —, ``method``, ``margin_lb``, ``adversarial`` (a NumPy array or None),
/// ``stability``, ``seconds``) and ``summaries`` (one per ε: counts, ``by_method``,
/// ``stability``, accuracies). ``norm`` is "linf" or "l2"; ``clamp=(lo, hi)`` the input domain
/// intersected with the ball; ``time_limit_per_sample`` 0 runs only IBP, CROWN and the attack;
/// ``scale`` the factor from ``x``'s units to the units the model was trained in (16 for
/// digits given as pixels / 16 in [0, 1], as ``relulab certify --data digits`` does).
/// Ctrl-C raises ``KeyboardInterrupt`` at once; samples not yet started are skipped and a
/// running branch and bound stops at its next round.
#[pyfunction]
#[pyo3(signature = (model, x, labels, eps, norm="linf", clamp=None, time_limit_per_sample=2.0,
    seed=0, restarts=5, steps=40, scale=1.0))]
#[allow(clippy::too_many_arguments)]
fn certify<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    eps: &Bound<'py, PyAny>,
    norm: &str,
    clamp: Option<(f64, f64)>,
    time_limit_per_sample: f64,
    seed: u64,
    restarts: usize,
    steps: usize,
    scale: f64,
) -> PyResult<Bound<'py, PyAny>> {
    use relulab::certify::{self as cert, CertifyOptions, InputMap, Norm, Summary};
    let eps: Vec<f64> = match eps.extract::<f64>() {
        Ok(e) => vec![e],
        Err(_) => finite_vec(eps, "eps", None)?,
    };
    cert::check_eps(&eps).map_err(py_err)?;
    let norm: Norm = norm.parse().map_err(PyValueError::new_err)?;
    let (mlp, st) = match model.cast::<PyMlp>() {
        Ok(m) => {
            let m = m.get();
            let st = m.train.as_ref().and_then(|t| t.standardizer.clone());
            ((*m.mlp).clone(), st)
        }
        Err(_) => {
            let path: PathBuf = model.extract().map_err(|_| {
                value_err("model: expected a relulab.Mlp or the path of a model file")
            })?;
            py.detach(|| -> relulab::Result<_> {
                if path.extension().is_some_and(|e| e == "safetensors")
                    && checkpoint::is_checkpoint(&path)?
                {
                    let ck = checkpoint::load_full(&path)?;
                    Ok((ck.mlp, ck.train.and_then(|t| t.standardizer)))
                } else {
                    Ok((load_network(&path)?, None))
                }
            })
            .map_err(py_err)?
        }
    };
    let (d, k) = (mlp.input_dim(), mlp.output_dim());
    if k < 2 {
        return Err(value_err(format!(
            "model: output width {k}: certify needs a classifier with at least 2 outputs (prediction = argmax)"
        )));
    }
    let (xv, shape) = f64_vec(x, "x")?;
    let n = match shape[..] {
        [n, dd] if dd == d => n,
        _ => {
            return Err(value_err(format!(
                "x: expected an (n, {d}) array (the model takes {d} inputs), got shape {shape:?}"
            )))
        }
    };
    if let Some(i) = xv.iter().position(|v| !v.is_finite()) {
        return Err(value_err(format!(
            "x: sample {}, feature {}: {} is not finite",
            i / d,
            i % d,
            xv[i]
        )));
    }
    let np = py.import("numpy")?;
    let la = np.call_method1("asarray", (labels,))?;
    let kind: String = la.getattr("dtype")?.getattr("kind")?.extract()?;
    if !matches!(kind.as_str(), "i" | "u") {
        return Err(value_err("labels: expected integer class labels"));
    }
    let la = np.call_method1("ascontiguousarray", (la, "int64"))?;
    let la = la.cast::<PyArrayDyn<i64>>()?.readonly();
    if la.shape() != [n] {
        return Err(value_err(format!(
            "labels: expected shape ({n},), got {:?}",
            la.shape()
        )));
    }
    let labels_v: Vec<usize> = la
        .as_slice()?
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l < 0 || l as usize >= k {
                Err(value_err(format!(
                    "labels: sample {i}: label {l} out of range for the model's {k} outputs"
                )))
            } else {
                Ok(l as usize)
            }
        })
        .collect::<PyResult<_>>()?;
    if let Some((lo, hi)) = clamp {
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(value_err("clamp: expected (lo, hi) with lo ≤ hi"));
        }
        if let Some(i) = xv.iter().position(|v| *v < lo || *v > hi) {
            return Err(value_err(format!(
                "x: sample {}, feature {}: value {} lies outside clamp ({lo}, {hi})",
                i / d,
                i % d,
                xv[i]
            )));
        }
    }
    if relulab::verify::time_limit(time_limit_per_sample, true).is_none() {
        return Err(value_err(format!(
            "time_limit_per_sample: {time_limit_per_sample} is not a number of seconds in [0, 1e9]"
        )));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = CertifyOptions {
        norm,
        clamp,
        time_limit: Duration::from_secs_f64(time_limit_per_sample),
        restarts,
        steps,
        seed,
        cancel: Some(cancel.clone()),
        ..Default::default()
    };
    let (results, sums) = run_blocking(py, Some(cancel), move || -> relulab::Result<_> {
        let map = InputMap::new(d, scale, st.as_ref())?;
        let c = cert::Certifier::new(&mlp, map, opts)?;
        let results = cert::certify_all(&c, &xv, &labels_v, &eps, &|| {})?;
        let sums: Vec<serde_json::Value> = Summary::per_eps(&eps, &results)
            .iter()
            .map(Summary::to_json)
            .collect();
        let flat: Vec<_> = results.into_iter().flatten().collect();
        Ok((serde_json::to_value(flat).expect("serialisable"), sums))
    })?
    .map_err(py_err)?;
    let d = PyDict::new(py);
    let rs = to_py(py, &results)?;
    for r in rs.try_iter()? {
        as_arrays(&r?, &["adversarial"])?;
    }
    d.set_item("results", rs)?;
    d.set_item("summaries", to_py(py, &sums)?)?;
    Ok(d.into_any())
}

/// Spin for `seconds` in a cancellable worker (tests of Ctrl-C handling use it).
#[pyfunction]
fn _sleep_interruptible(py: Python<'_>, seconds: f64) -> PyResult<()> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    run_blocking(py, Some(cancel), move || {
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < seconds && !flag.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

/// Nanoseconds per call of the Rust forward pass that `Mlp.forward` makes for the float32
/// array `x` (1-D or 2-D), timed over `iters` calls with no Python in the loop: the baseline of
/// the binding-overhead benchmark (python/bench/forward_overhead.py).
#[pyfunction]
fn _bench_forward_rust(
    model: &Bound<'_, PyMlp>,
    x: &Bound<'_, PyAny>,
    iters: usize,
) -> PyResult<f64> {
    let m = model.get();
    let Floats::F32(a) = floats(x, "x")? else {
        return Err(value_err("x: expected a float32 array"));
    };
    let (n, _) = batch_shape(a.shape(), m.mlp.input_dim(), "x")?;
    let s = a.as_slice()?;
    let t = Instant::now();
    for _ in 0..iters.max(1) {
        std::hint::black_box(forward_slice(&m.mlp, std::hint::black_box(s), n));
    }
    Ok(t.elapsed().as_nanos() as f64 / iters.max(1) as f64)
}

/// The compiled part of relulab's Python package.
#[pymodule]
fn _relulab(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMlp>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(_train, m)?)?;
    m.add_function(wrap_pyfunction!(claims, m)?)?;
    m.add_function(wrap_pyfunction!(reach, m)?)?;
    m.add_function(wrap_pyfunction!(optimize, m)?)?;
    m.add_function(wrap_pyfunction!(certify, m)?)?;
    m.add_function(wrap_pyfunction!(_sleep_interruptible, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_forward_rust, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "ACTIVATION_NAMES",
        relulab::activation::ACTIVATION_NAMES.to_vec(),
    )?;
    m.add("DATASET_NAMES", relulab::data::DATASET_NAMES.to_vec())?;
    Ok(())
}
