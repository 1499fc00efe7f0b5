//! ONNX graph → [`Mlp`]: a symbolic interpreter over the supported operator subset.
//!
//! Every tensor of the graph is either a constant (initializer, `Constant`, or an operation on
//! constants, folded in f64) or *an affine function of the current state*: y = A·h + c, where h
//! is the output of the last nonlinearity (or the graph input) and A, c are kept in f64. Affine
//! operations (Gemm, MatMul, Add/Sub/Mul/Div by constants, Neg, shape-only operations) compose
//! into A and c exactly; an activation applied to y closes a layer `W = A, b = c` and makes its
//! output the new state. Input normalisation (Sub/Div before the first MatMul) and bias chains
//! therefore fold into the neighbouring layer, and the result is one `Mlp` layer per
//! nonlinearity (plus a last identity layer for a trailing affine map).
//!
//! Tensors carry their full shape with the batch axis (axis 0 of a rank ≥ 2 graph input) set
//! to 1: the network is read as the per-sample function it computes.

use super::proto::{data_type as dt, AttributeProto, NodeProto, TensorProto};
use super::proto::{GraphProto, ModelProto};
use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::io::npy::half_to_f64;
use crate::net::{Layer, Mlp};
use std::collections::HashMap;

/// The default-domain opsets this importer accepts.
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=23;

/// A constant tensor, values widened to f64.
#[derive(Clone, Debug)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    fn scalar(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data[0])
    }
}

/// y = A·h + c over the current state h (width `m`), with the tensor shape of y.
#[derive(Clone, Debug)]
struct Affine {
    shape: Vec<usize>,
    /// The state generation (number of layers closed when h was produced).
    gen: usize,
    a: Lin,
    c: Vec<f64>,
    /// A constant was added somewhere (the layer gets a bias vector).
    has_bias: bool,
}

impl Affine {
    fn n(&self) -> usize {
        self.c.len()
    }
    /// A as a dense n × m matrix.
    fn dense(&self, m: usize) -> std::result::Result<Vec<f64>, String> {
        let n = self.n();
        check_elems(n, m)?;
        Ok(match &self.a {
            Lin::Dense(a) => a.clone(),
            Lin::Identity | Lin::Diag(_) => {
                let mut a = vec![0.0; n * m];
                for i in 0..n.min(m) {
                    a[i * m + i] = match &self.a {
                        Lin::Diag(d) => d[i],
                        _ => 1.0,
                    };
                }
                a
            }
        })
    }
    /// Scale row i by s[i].
    fn scale(mut self, s: &[f64], m: usize) -> Self {
        self.a = match self.a {
            Lin::Identity => Lin::Diag(s.to_vec()),
            Lin::Diag(d) => Lin::Diag(d.iter().zip(s).map(|(a, b)| a * b).collect()),
            Lin::Dense(mut a) => {
                for (i, &si) in s.iter().enumerate() {
                    a[i * m..(i + 1) * m].iter_mut().for_each(|v| *v *= si);
                }
                Lin::Dense(a)
            }
        };
        self.c.iter_mut().zip(s).for_each(|(c, &si)| *c *= si);
        self
    }
}

/// The linear part A of an [`Affine`] value.
#[derive(Clone, Debug)]
enum Lin {
    /// y is h itself (possibly reshaped).
    Identity,
    /// diag(d): the input normalisation case, kept sparse.
    Diag(Vec<f64>),
    /// n × m, row-major.
    Dense(Vec<f64>),
}

/// The most elements relulab materialises for one folded matrix or constant (2^26, 512 MiB in
/// f64): beyond it a hostile file could demand unbounded memory from a few bytes.
const MAX_ELEMS: usize = 1 << 26;

fn check_elems(n: usize, m: usize) -> std::result::Result<(), String> {
    match n.checked_mul(m) {
        Some(k) if k <= MAX_ELEMS => Ok(()),
        _ => Err(format!(
            "folding would build a {n}×{m} matrix, over the limit of {MAX_ELEMS} elements"
        )),
    }
}

#[derive(Clone, Debug)]
enum Value {
    Const(Tensor),
    Dyn(Affine),
}

fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Decode a `TensorProto` to f64. The element count implied by `dims` must match the data that
/// is present, so a tensor that claims 10^12 elements is an error, not an allocation.
fn decode_tensor(t: &TensorProto) -> std::result::Result<Tensor, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err("external tensor data (a separate .data file) is not supported".into());
    }
    let mut shape = Vec::with_capacity(t.dims.len().min(64));
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("negative dimension {d} in {:?}", t.dims));
        }
        shape.push(usize::try_from(d).map_err(|_| format!("dimension {d} too large"))?);
    }
    let n = numel(&shape).ok_or_else(|| format!("shape {shape:?} has too many elements"))?;
    let raw = &t.raw_data;
    let (size, name) = match t.data_type {
        dt::FLOAT => (4, "float"),
        dt::DOUBLE => (8, "double"),
        dt::INT64 => (8, "int64"),
        dt::INT32 => (4, "int32"),
        dt::UINT64 => (8, "uint64"),
        dt::UINT32 => (4, "uint32"),
        dt::INT16 => (2, "int16"),
        dt::UINT16 => (2, "uint16"),
        dt::INT8 => (1, "int8"),
        dt::UINT8 => (1, "uint8"),
        dt::BOOL => (1, "bool"),
        dt::FLOAT16 => (2, "float16"),
        dt::BFLOAT16 => (2, "bfloat16"),
        other => return Err(format!("tensor data type {other} is not supported")),
    };
    let check = |have: usize| {
        if have == n {
            Ok(())
        } else {
            Err(format!(
                "shape {shape:?} needs {n} {name} values, the tensor holds {have}"
            ))
        }
    };
    let data: Vec<f64> = if !raw.is_empty() {
        if !raw.len().is_multiple_of(size) {
            return Err(format!(
                "raw data of {} bytes is not a whole number of {name} values",
                raw.len()
            ));
        }
        check(raw.len() / size)?;
        let c = raw.chunks_exact(size);
        match t.data_type {
            dt::FLOAT => c
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
            dt::DOUBLE => c
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            dt::INT64 => c
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64)
                .collect(),
            dt::UINT64 => c
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as f64)
                .collect(),
            dt::INT32 => c
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
            dt::UINT32 => c
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
            dt::INT16 => c.map(|b| i16::from_le_bytes([b[0], b[1]]) as f64).collect(),
            dt::UINT16 => c.map(|b| u16::from_le_bytes([b[0], b[1]]) as f64).collect(),
            dt::FLOAT16 => c
                .map(|b| half_to_f64(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            dt::BFLOAT16 => c
                .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16) as f64)
                .collect(),
            dt::INT8 => c.map(|b| b[0] as i8 as f64).collect(),
            _ => c.map(|b| b[0] as f64).collect(), // UINT8, BOOL
        }
    } else {
        match t.data_type {
            dt::FLOAT => {
                check(t.float_data.len())?;
                t.float_data.iter().map(|&v| v as f64).collect()
            }
            dt::DOUBLE => {
                check(t.double_data.len())?;
                t.double_data.clone()
            }
            dt::INT64 => {
                check(t.int64_data.len())?;
                t.int64_data.iter().map(|&v| v as f64).collect()
            }
            dt::UINT64 | dt::UINT32 => {
                check(t.uint64_data.len())?;
                t.uint64_data.iter().map(|&v| v as f64).collect()
            }
            dt::FLOAT16 => {
                check(t.int32_data.len())?;
                t.int32_data
                    .iter()
                    .map(|&v| half_to_f64(v as u16))
                    .collect()
            }
            dt::BFLOAT16 => {
                check(t.int32_data.len())?;
                t.int32_data
                    .iter()
                    .map(|&v| f32::from_bits((v as u32 & 0xffff) << 16) as f64)
                    .collect()
            }
            _ => {
                check(t.int32_data.len())?;
                t.int32_data.iter().map(|&v| v as f64).collect()
            }
        }
    };
    Ok(Tensor { shape, data })
}

/// NumPy broadcasting of two shapes.
fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// The values of `t` broadcast to `shape` (C order); `None` when `t` does not broadcast to it.
fn expand(t: &Tensor, shape: &[usize]) -> Option<Vec<f64>> {
    if broadcast_shapes(&t.shape, shape)? != shape {
        return None;
    }
    let r = shape.len();
    let n = numel(shape).filter(|&n| n <= MAX_ELEMS)?;
    // Strides of t aligned to the right of `shape`, 0 on broadcast axes.
    let mut strides = vec![0usize; r];
    let mut s = 1usize;
    for k in (0..t.shape.len()).rev() {
        let axis = k + r - t.shape.len();
        strides[axis] = if t.shape[k] == 1 { 0 } else { s };
        // Saturating: with a zero-size axis the product is meaningless but never used.
        s = s.saturating_mul(t.shape[k]);
    }
    let out = gather_strided(&t.data, shape, &strides, n);
    Some(out)
}

struct Ctx<'a> {
    file: &'a str,
    values: HashMap<String, Value>,
    /// Remaining uses of each value name (freed at zero).
    uses: HashMap<String, usize>,
    layers: Vec<Layer<f64>>,
    /// Width of the current state h.
    m: usize,
    gen: usize,
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_f(node: &NodeProto, name: &str, default: f64) -> f64 {
    attr(node, name).map_or(default, |a| a.f as f64)
}

fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn node_loc(node: &NodeProto, idx: usize) -> String {
    if node.name.is_empty() {
        format!("node #{idx} ({})", node.op_type)
    } else {
        format!("node '{}' ({})", node.name, node.op_type)
    }
}

/// Resolve possibly negative `axis` against `rank` (valid range [-rank, rank)).
fn norm_axis(axis: i64, rank: usize) -> std::result::Result<usize, String> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!("axis {axis} out of range for rank {rank}"));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// Shape after a Reshape to `target` (0 copies the input dim unless `allowzero`, one -1 is
/// inferred), checked to keep the element count.
fn reshape_target(
    input: &[usize],
    target: &[f64],
    allowzero: bool,
) -> std::result::Result<Vec<usize>, String> {
    let n = numel(input).ok_or("input too large")?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (k, &t) in target.iter().enumerate() {
        if t.fract() != 0.0 || !(-1.0..=1e15).contains(&t) {
            return Err(format!("bad target dimension {t}"));
        }
        if t == -1.0 {
            if infer.replace(k).is_some() {
                return Err("more than one -1 in the target shape".into());
            }
            out.push(1);
        } else if t == 0.0 && !allowzero {
            out.push(
                *input
                    .get(k)
                    .ok_or_else(|| format!("0 at axis {k} copies a dimension the input lacks"))?,
            );
        } else {
            out.push(t as usize);
        }
    }
    let known = numel(&out).ok_or("target shape too large")?;
    if let Some(k) = infer {
        if known == 0 || n % known != 0 {
            return Err(format!("cannot reshape {input:?} to {target:?}"));
        }
        out[k] = n / known;
    } else if known != n {
        return Err(format!(
            "cannot reshape {input:?} ({n} elements) to {out:?}"
        ));
    }
    Ok(out)
}

impl Ctx<'_> {
    fn get(&mut self, name: &str, loc: &str) -> Result<Value> {
        let v = self.values.get(name).ok_or_else(|| {
            Error::format(
                self.file,
                loc,
                format!(
                    "input '{name}' is not produced by an earlier node, an initializer or a graph \
                     input"
                ),
            )
        })?;
        let left = self.uses.get_mut(name).map(|u| {
            *u = u.saturating_sub(1);
            *u
        });
        if left == Some(0) {
            Ok(self.values.remove(name).expect("present"))
        } else {
            Ok(v.clone())
        }
    }

    fn close_layer(
        &mut self,
        y: Affine,
        act: Activation,
        slopes: Vec<f64>,
    ) -> std::result::Result<Affine, String> {
        let n = y.n();
        let weight = y.dense(self.m)?;
        self.layers.push(Layer {
            in_dim: self.m,
            out_dim: n,
            weight,
            bias: y.has_bias.then_some(y.c),
            activation: act,
            prelu_alpha: slopes,
        });
        self.m = n;
        self.gen += 1;
        Ok(Affine {
            shape: y.shape,
            gen: self.gen,
            a: Lin::Identity,
            c: vec![0.0; n],
            has_bias: false,
        })
    }

    /// y' = W·y with W (n_out × n) row-major.
    fn linear(
        &self,
        y: &Affine,
        w: &[f64],
        n_out: usize,
        shape: Vec<usize>,
    ) -> std::result::Result<Affine, String> {
        let n = y.n();
        let m = self.m;
        if n_out == 0 {
            return Err("a layer of width 0".into());
        }
        check_elems(n_out, m)?;
        let c: Vec<f64> = (0..n_out)
            .map(|i| (0..n).map(|k| w[i * n + k] * y.c[k]).sum())
            .collect();
        let a = match &y.a {
            Lin::Identity => w.to_vec(),
            Lin::Diag(d) => w
                .chunks_exact(n)
                .flat_map(|row| row.iter().zip(d).map(|(a, b)| a * b))
                .collect(),
            Lin::Dense(a) => {
                let mut out = vec![0.0; n_out * m];
                for i in 0..n_out {
                    let row = &mut out[i * m..(i + 1) * m];
                    for k in 0..n {
                        let wik = w[i * n + k];
                        if wik != 0.0 {
                            for (o, &akj) in row.iter_mut().zip(&a[k * m..(k + 1) * m]) {
                                *o += wik * akj;
                            }
                        }
                    }
                }
                out
            }
        };
        Ok(Affine {
            shape,
            gen: y.gen,
            a: Lin::Dense(a),
            c,
            has_bias: y.has_bias,
        })
    }
}

/// One node being applied: its inputs (taken from the context) and where it is, for errors.
struct Node<'a> {
    file: &'a str,
    loc: &'a str,
    node: &'a NodeProto,
    ins: Vec<Option<Value>>,
}

impl<'a> Node<'a> {
    /// Take the node's inputs from `ctx`. A network tensor from before the last nonlinearity
    /// is a skip connection (its A is over an older state): only `Shape` may read it.
    fn take<'c: 'a>(ctx: &mut Ctx<'c>, node: &'a NodeProto, loc: &'a str) -> Result<Self> {
        let mut ins = Vec::with_capacity(node.input.len());
        for name in &node.input {
            ins.push(if name.is_empty() {
                None
            } else {
                Some(ctx.get(name, loc)?)
            });
        }
        let n = Node {
            file: ctx.file,
            loc,
            node,
            ins,
        };
        if node.op_type != "Shape" {
            for v in n.ins.iter().flatten() {
                if let Value::Dyn(y) = v {
                    n.same_gen(y, ctx)?;
                }
            }
        }
        Ok(n)
    }

    /// An error at this node.
    fn bad(&self, m: impl Into<String>) -> Error {
        Error::format(self.file, self.loc, m)
    }

    /// Input `k` (present).
    fn input(&self, k: usize) -> Result<&Value> {
        self.ins
            .get(k)
            .and_then(|v| v.as_ref())
            .ok_or_else(|| self.bad(format!("missing input {k}")))
    }

    /// Input `k`, which must be a constant (`what` names it in the error).
    fn konst(&self, k: usize, what: &str) -> Result<&Tensor> {
        match self.input(k)? {
            Value::Const(t) => Ok(t),
            Value::Dyn(_) => Err(self.bad(format!("{what} (input {k}) must be a constant"))),
        }
    }

    /// The shape of input `k`, constant or not.
    fn shape_of(&self, k: usize) -> Result<Vec<usize>> {
        Ok(match self.input(k)? {
            Value::Const(t) => t.shape.clone(),
            Value::Dyn(y) => y.shape.clone(),
        })
    }

    /// The network tensor `y` must be over the current state (no skip connection).
    fn same_gen(&self, y: &Affine, ctx: &Ctx) -> Result<()> {
        if y.gen != ctx.gen {
            return Err(self.bad(
                "uses a tensor computed before an earlier nonlinearity: skip or residual \
                 connections are not a feed-forward MLP",
            ));
        }
        Ok(())
    }
}

/// Apply one node: dispatch by operator family. Each family's function reads its inputs
/// through [`Node`], whose errors name the node.
fn apply(ctx: &mut Ctx, node: &NodeProto, loc: &str) -> Result<Vec<Value>> {
    let n = Node::take(ctx, node, loc)?;
    let op = node.op_type.as_str();
    let out = match op {
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Elu" | "Softplus" | "Gelu"
        | "relulab.Silu" | "PRelu" => apply_activation(ctx, &n)?,
        "Identity" | "Dropout" => n.input(0)?.clone(),
        "Constant" => apply_constant(&n)?,
        "Cast" => apply_cast(&n)?,
        "Add" | "Sub" | "Mul" | "Div" => {
            binary(ctx, op, n.input(0)?, n.input(1)?).map_err(|m| n.bad(m))?
        }
        "Neg" => apply_neg(ctx, &n)?,
        "BatchNormalization" => apply_batch_norm(ctx, &n)?,
        "Gemm" => apply_gemm(ctx, &n)?,
        "MatMul" => matmul(ctx, n.input(0)?, n.input(1)?).map_err(|m| n.bad(m))?,
        "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => apply_reshape(&n)?,
        "Shape" | "Gather" | "Concat" | "Transpose" => apply_shape_constant(&n)?,
        "Erf" => {
            return Err(n.bad("Erf is only supported inside the GELU subgraph x·½(1 + erf(x/√2))"))
        }
        other => {
            return Err(n.bad(format!(
                "operator '{other}' is outside the supported subset (Gemm, MatMul, Add, Sub, \
                 Mul, Div, Neg, BatchNormalization, Relu, LeakyRelu, PRelu, Gelu, Sigmoid, Tanh, \
                 Elu, Softplus, Flatten, Reshape, Squeeze, Unsqueeze, Identity, Constant, Cast, Shape, Gather, \
                 Concat, Transpose)"
            )))
        }
    };
    Ok(vec![out])
}

/// Activations: close a layer `W = A, b = c` with the activation; its output is the new state.
fn apply_activation(ctx: &mut Ctx, n: &Node) -> Result<Value> {
    let node = n.node;
    let op = node.op_type.as_str();
    let act = match op {
        "Relu" => Activation::RELU,
        "LeakyRelu" => Activation::leaky(attr_f(node, "alpha", 0.01)),
        "Sigmoid" => Activation::Sigmoid,
        "Tanh" => Activation::Tanh,
        "Elu" => Activation::Elu {
            alpha: attr_f(node, "alpha", 1.0),
        },
        "Softplus" => Activation::Softplus {
            beta: 1.0,
            threshold: 20.0,
        },
        "Gelu" => {
            let approx = attr(node, "approximate").map_or(b"none".as_slice(), |a| a.s.as_slice());
            match approx {
                b"none" => Activation::Gelu,
                b"tanh" => Activation::GeluTanh,
                other => {
                    return Err(n.bad(format!(
                        "unknown approximate='{}'",
                        String::from_utf8_lossy(other)
                    )))
                }
            }
        }
        "relulab.Silu" => Activation::Silu,
        _ => Activation::Prelu { alpha: 0.25 },
    };
    let y = match n.input(0)? {
        Value::Dyn(y) => y.clone(),
        Value::Const(_) => return Err(n.bad("activation of a constant tensor is not supported")),
    };
    n.same_gen(&y, ctx)?;
    let (act, slopes) = if op == "PRelu" {
        let s = n.konst(1, "the slope")?;
        let v = expand(s, &y.shape).ok_or_else(|| {
            n.bad(format!(
                "slope of shape {:?} does not broadcast to the input shape {:?}",
                s.shape, y.shape
            ))
        })?;
        // One shared slope stays one parameter; a per-channel tensor becomes per-unit.
        let slopes = if s.data.len() == 1 { s.data.clone() } else { v };
        let first = slopes.first().copied().unwrap_or(0.25);
        (Activation::Prelu { alpha: first }, slopes)
    } else {
        (act, Vec::new())
    };
    act.validate().map_err(|m| n.bad(m.to_string()))?;
    Ok(Value::Dyn(
        ctx.close_layer(y, act, slopes).map_err(|m| n.bad(m))?,
    ))
}

/// `Constant`: a tensor from its one attribute.
fn apply_constant(n: &Node) -> Result<Value> {
    let a = n
        .node
        .attribute
        .first()
        .ok_or_else(|| n.bad("Constant without a value"))?;
    let t = match a.name.as_str() {
        "value" => decode_tensor(
            a.t.as_ref()
                .ok_or_else(|| n.bad("'value' holds no tensor"))?,
        )
        .map_err(|m| n.bad(m))?,
        "value_float" => Tensor {
            shape: vec![],
            data: vec![a.f as f64],
        },
        "value_floats" => Tensor {
            shape: vec![a.floats.len()],
            data: a.floats.iter().map(|&v| v as f64).collect(),
        },
        "value_int" => Tensor {
            shape: vec![],
            data: vec![a.i as f64],
        },
        "value_ints" => Tensor {
            shape: vec![a.ints.len()],
            data: a.ints.iter().map(|&v| v as f64).collect(),
        },
        other => return Err(n.bad(format!("Constant attribute '{other}' is not supported"))),
    };
    Ok(Value::Const(t))
}

/// `Cast`: constants are converted (integer targets truncate); the network's tensor may only
/// be cast to a float type (a no-op here, everything is f64).
fn apply_cast(n: &Node) -> Result<Value> {
    let to = attr_i(n.node, "to", dt::FLOAT as i64) as i32;
    match (n.input(0)?, to) {
        (Value::Const(t), _) => {
            let mut t = t.clone();
            if matches!(
                to,
                dt::INT64 | dt::INT32 | dt::INT16 | dt::INT8 | dt::UINT8 | dt::UINT16
            ) {
                t.data.iter_mut().for_each(|v| *v = v.trunc());
            }
            Ok(Value::Const(t))
        }
        (Value::Dyn(y), dt::FLOAT | dt::DOUBLE) => Ok(Value::Dyn(y.clone())),
        _ => Err(n.bad("cast of the network's tensor to a non-float type")),
    }
}

/// `Neg`: negate a constant, or scale the network's tensor by −1.
fn apply_neg(ctx: &Ctx, n: &Node) -> Result<Value> {
    Ok(match n.input(0)? {
        Value::Const(t) => Value::Const(Tensor {
            shape: t.shape.clone(),
            data: t.data.iter().map(|v| -v).collect(),
        }),
        Value::Dyn(y) => {
            let s = vec![-1.0; y.n()];
            Value::Dyn(y.clone().scale(&s, ctx.m))
        }
    })
}

/// Inference-mode batch normalisation is affine per channel (axis 1):
/// y = scale·(x − mean)/√(var + ε) + B (ONNX operator spec, BatchNormalization).
fn apply_batch_norm(ctx: &Ctx, n: &Node) -> Result<Value> {
    let Value::Dyn(y) = n.input(0)? else {
        return Err(n.bad("batch normalisation of a constant is not supported"));
    };
    if y.shape.len() < 2 {
        return Err(n.bad(format!(
            "input of rank {} has no channel axis",
            y.shape.len()
        )));
    }
    let eps = attr_f(n.node, "epsilon", 1e-5);
    let c = y.shape[1];
    let mut per_channel = Vec::with_capacity(4);
    for (k, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
        let t = n.konst(k, what)?;
        if t.data.len() != c {
            return Err(n.bad(format!(
                "{what} has {} values for {c} channels",
                t.data.len()
            )));
        }
        per_channel.push(&t.data);
    }
    let mut cshape = vec![c];
    cshape.resize(y.shape.len() - 1, 1);
    let [scale, b, mean, var] = per_channel[..] else {
        unreachable!("four parameters")
    };
    let mul: Vec<f64> = scale
        .iter()
        .zip(var)
        .map(|(s, v)| s / (v + eps).sqrt())
        .collect();
    let add: Vec<f64> = b
        .iter()
        .zip(mean)
        .zip(&mul)
        .map(|((b, m), k)| b - k * m)
        .collect();
    let per_element = |data: Vec<f64>| {
        let t = Tensor {
            shape: cshape.clone(),
            data,
        };
        expand(&t, &y.shape).ok_or_else(|| n.bad("channel broadcast failed"))
    };
    let (sv, tv) = (per_element(mul)?, per_element(add)?);
    let mut y = y.clone().scale(&sv, ctx.m);
    y.c.iter_mut().zip(&tv).for_each(|(c, t)| *c += t);
    y.has_bias = true;
    Ok(Value::Dyn(y))
}

/// `Gemm`: alpha·A'·B' + beta·C with C constant.
fn apply_gemm(ctx: &Ctx, n: &Node) -> Result<Value> {
    let node = n.node;
    let (alpha, beta) = (attr_f(node, "alpha", 1.0), attr_f(node, "beta", 1.0));
    let (ta, tb) = (
        attr_i(node, "transA", 0) != 0,
        attr_i(node, "transB", 0) != 0,
    );
    let c = match n.ins.get(2).and_then(|v| v.as_ref()) {
        None => None,
        Some(Value::Const(t)) => Some(t),
        Some(Value::Dyn(_)) => return Err(n.bad("C must be a constant")),
    };
    gemm(ctx, n.input(0)?, n.input(1)?, c, alpha, beta, ta, tb).map_err(|m| n.bad(m))
}

/// Shape-only operations (`Flatten`, `Reshape`, `Squeeze`, `Unsqueeze`): the values stay, the
/// shape changes.
fn apply_reshape(n: &Node) -> Result<Value> {
    let node = n.node;
    let shape = n.shape_of(0)?;
    let new_shape = match node.op_type.as_str() {
        "Flatten" => {
            let r = shape.len();
            let ax = attr_i(node, "axis", 1);
            let ax = if ax == r as i64 {
                r
            } else {
                norm_axis(ax, r).map_err(|m| n.bad(m))?
            };
            vec![
                shape[..ax].iter().product::<usize>(),
                shape[ax..].iter().product::<usize>(),
            ]
        }
        "Reshape" => {
            let t = n.konst(1, "the target shape")?;
            reshape_target(&shape, &t.data, attr_i(node, "allowzero", 0) != 0)
                .map_err(|m| n.bad(m))?
        }
        "Squeeze" => squeezed(n, &shape, &reshape_axes(n)?)?,
        _ => unsqueezed(n, &shape, &reshape_axes(n)?)?,
    };
    Ok(match n.input(0)? {
        Value::Const(t) => Value::Const(Tensor {
            shape: new_shape,
            data: t.data.clone(),
        }),
        Value::Dyn(y) => Value::Dyn(Affine {
            shape: new_shape,
            ..y.clone()
        }),
    })
}

/// The axes of `Squeeze`/`Unsqueeze`: input 1 (opset ≥ 13) or the `axes` attribute.
fn reshape_axes(n: &Node) -> Result<Vec<i64>> {
    match n.ins.get(1).and_then(|v| v.as_ref()) {
        Some(Value::Const(t)) => Ok(t.data.iter().map(|&v| v as i64).collect()),
        Some(Value::Dyn(_)) => Err(n.bad("axes must be a constant")),
        None => Ok(attr(n.node, "axes").map_or(Vec::new(), |a| a.ints.clone())),
    }
}

/// `shape` without the listed axes (each of size 1), or without every 1 when none is listed.
fn squeezed(n: &Node, shape: &[usize], axes: &[i64]) -> Result<Vec<usize>> {
    if axes.is_empty() {
        return Ok(shape.iter().copied().filter(|&d| d != 1).collect());
    }
    let mut drop = vec![false; shape.len()];
    for &a in axes {
        let k = norm_axis(a, shape.len()).map_err(|m| n.bad(m))?;
        if shape[k] != 1 {
            return Err(n.bad(format!("cannot squeeze axis {a} of size {}", shape[k])));
        }
        drop[k] = true;
    }
    Ok(shape
        .iter()
        .zip(&drop)
        .filter(|(_, &d)| !d)
        .map(|(&s, _)| s)
        .collect())
}

/// `shape` with axes of size 1 inserted at the listed output positions.
fn unsqueezed(n: &Node, shape: &[usize], axes: &[i64]) -> Result<Vec<usize>> {
    let r = shape.len() + axes.len();
    if r > 64 {
        return Err(n.bad("rank above 64"));
    }
    let mut is_new = vec![false; r];
    for &a in axes {
        let k = norm_axis(a, r).map_err(|m| n.bad(m))?;
        if std::mem::replace(&mut is_new[k], true) {
            return Err(n.bad(format!("axis {a} repeated")));
        }
    }
    let mut it = shape.iter();
    Ok(is_new
        .iter()
        .map(|&new| if new { 1 } else { *it.next().unwrap_or(&1) })
        .collect())
}

/// Constant folding of the shape arithmetic exporters emit (`Shape`, `Gather`, `Concat`,
/// `Transpose` of constants).
fn apply_shape_constant(n: &Node) -> Result<Value> {
    let node = n.node;
    let t = match node.op_type.as_str() {
        "Shape" => {
            let shape = n.shape_of(0)?;
            Tensor {
                shape: vec![shape.len()],
                data: shape.iter().map(|&d| d as f64).collect(),
            }
        }
        "Gather" => gathered(n)?,
        "Concat" => {
            let mut data = Vec::new();
            for k in 0..n.ins.len() {
                let t = n.konst(k, "every input")?;
                if t.shape.len() != 1 {
                    return Err(n.bad("only Concat of 1-D constants is supported"));
                }
                data.extend_from_slice(&t.data);
            }
            Tensor {
                shape: vec![data.len()],
                data,
            }
        }
        _ => transposed(n)?,
    };
    Ok(Value::Const(t))
}

/// `Gather` of a 1-D constant along axis 0 (negative indices count from the end).
fn gathered(n: &Node) -> Result<Tensor> {
    let data = n.konst(0, "data")?;
    let idx = n.konst(1, "indices")?;
    if data.shape.len() != 1 || attr_i(n.node, "axis", 0) != 0 {
        return Err(n.bad("only Gather on a 1-D constant along axis 0 is supported"));
    }
    let len = data.data.len() as f64;
    let mut out = Vec::with_capacity(idx.data.len());
    for &i in &idx.data {
        let j = if i < 0.0 { i + len } else { i };
        if !(0.0..len).contains(&j) || j.fract() != 0.0 {
            return Err(n.bad(format!("index {i} out of range")));
        }
        out.push(data.data[j as usize]);
    }
    Ok(Tensor {
        shape: idx.shape.clone(),
        data: out,
    })
}

/// `Transpose` of a constant (`perm` defaults to reversing the axes).
fn transposed(n: &Node) -> Result<Tensor> {
    let t = n.konst(0, "the transposed tensor")?;
    let r = t.shape.len();
    let perm: Vec<usize> = match attr(n.node, "perm") {
        Some(a) => a
            .ints
            .iter()
            .map(|&p| norm_axis(p, r))
            .collect::<std::result::Result<_, _>>()
            .map_err(|m| n.bad(m))?,
        None => (0..r).rev().collect(),
    };
    let mut seen = vec![false; r];
    if perm.len() != r || perm.iter().any(|&p| std::mem::replace(&mut seen[p], true)) {
        return Err(n.bad(format!("perm {perm:?} is not a permutation of {r} axes")));
    }
    Ok(transpose(t, &perm))
}

fn transpose(t: &Tensor, perm: &[usize]) -> Tensor {
    let r = t.shape.len();
    let shape: Vec<usize> = perm.iter().map(|&p| t.shape[p]).collect();
    let mut in_strides = vec![1usize; r];
    for k in (0..r.saturating_sub(1)).rev() {
        // Saturating: with a zero-size axis the product is meaningless but never used.
        in_strides[k] = in_strides[k + 1].saturating_mul(t.shape[k + 1]);
    }
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n = t.data.len();
    let data = gather_strided(&t.data, &shape, &strides, n);
    Tensor { shape, data }
}

fn binary(ctx: &Ctx, op: &str, x: &Value, y: &Value) -> std::result::Result<Value, String> {
    let f = |a: f64, b: f64| match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        _ => a / b,
    };
    match (x, y) {
        (Value::Const(a), Value::Const(b)) => {
            let shape = broadcast_shapes(&a.shape, &b.shape).ok_or_else(|| {
                format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape)
            })?;
            check_elems(numel(&shape).unwrap_or(usize::MAX), 1)?;
            let (ea, eb) = (
                expand(a, &shape).ok_or("broadcast failed")?,
                expand(b, &shape).ok_or("broadcast failed")?,
            );
            Ok(Value::Const(Tensor {
                shape,
                data: ea.iter().zip(&eb).map(|(&p, &q)| f(p, q)).collect(),
            }))
        }
        (Value::Dyn(d), Value::Const(k)) | (Value::Const(k), Value::Dyn(d)) => {
            binary_dyn_const(ctx, op, d, k, matches!(x, Value::Dyn(_)))
        }
        (Value::Dyn(a), Value::Dyn(b)) => {
            if op == "Mul" || op == "Div" {
                return Err(format!("{op} of two network tensors is not affine"));
            }
            if a.gen != ctx.gen || b.gen != ctx.gen {
                return Err(
                    "combines tensors from before and after a nonlinearity: skip or \
                            residual connections are not a feed-forward MLP"
                        .into(),
                );
            }
            if a.shape != b.shape {
                return Err(format!("shapes {:?} and {:?} differ", a.shape, b.shape));
            }
            let sign = if op == "Sub" { -1.0 } else { 1.0 };
            let (am, bm) = (a.dense(ctx.m)?, b.dense(ctx.m)?);
            Ok(Value::Dyn(Affine {
                shape: a.shape.clone(),
                gen: a.gen,
                a: Lin::Dense(am.iter().zip(&bm).map(|(&p, &q)| p + sign * q).collect()),
                c: a.c.iter().zip(&b.c).map(|(&p, &q)| p + sign * q).collect(),
                has_bias: a.has_bias || b.has_bias,
            }))
        }
    }
}

/// `op` between the network's tensor `d` and a constant `k` (`dyn_first`: d is the left
/// operand): Add/Sub shift c, Mul/Div by the constant scale the rows; k − d and k / d are
/// handled where affine (k − d) or refused (k / d).
fn binary_dyn_const(
    ctx: &Ctx,
    op: &str,
    d: &Affine,
    k: &Tensor,
    dyn_first: bool,
) -> std::result::Result<Value, String> {
    let kv = expand(k, &d.shape).ok_or_else(|| {
        format!(
            "constant of shape {:?} does not broadcast to the network tensor's shape {:?}",
            k.shape, d.shape
        )
    })?;
    let mut d = d.clone();
    match (op, dyn_first) {
        ("Add", _) | ("Sub", true) => {
            let sign = if op == "Sub" { -1.0 } else { 1.0 };
            d.c.iter_mut().zip(&kv).for_each(|(c, &v)| *c += sign * v);
            d.has_bias = true;
            Ok(Value::Dyn(d))
        }
        ("Sub", false) => {
            let neg = vec![-1.0; d.n()];
            let mut d = d.scale(&neg, ctx.m);
            d.c.iter_mut().zip(&kv).for_each(|(c, &v)| *c += v);
            d.has_bias = true;
            Ok(Value::Dyn(d))
        }
        ("Mul", _) => Ok(Value::Dyn(d.scale(&kv, ctx.m))),
        ("Div", true) => {
            if kv.contains(&0.0) {
                return Err("division by a constant that contains 0".into());
            }
            let inv: Vec<f64> = kv.iter().map(|v| 1.0 / v).collect();
            Ok(Value::Dyn(d.scale(&inv, ctx.m)))
        }
        _ => Err("division of a constant by the network's tensor is not affine".into()),
    }
}

/// Row-major matrix of a 2-D tensor, transposed when `t`.
fn mat(t: &Tensor, trans: bool) -> std::result::Result<(usize, usize, Vec<f64>), String> {
    if t.shape.len() != 2 {
        return Err(format!("expected a 2-D tensor, got shape {:?}", t.shape));
    }
    let (r, c) = (t.shape[0], t.shape[1]);
    if !trans {
        return Ok((r, c, t.data.clone()));
    }
    let tt = transpose(t, &[1, 0]);
    Ok((c, r, tt.data))
}

fn matmul(ctx: &Ctx, x: &Value, y: &Value) -> std::result::Result<Value, String> {
    match (x, y) {
        (Value::Const(a), Value::Const(b)) => matmul_const(a, b),
        (Value::Dyn(d), Value::Const(w)) => matmul_dyn_const(ctx, d, w),
        (Value::Const(w), Value::Dyn(d)) => matmul_const_dyn(ctx, w, d),
        (Value::Dyn(_), Value::Dyn(_)) => Err("MatMul of two network tensors is not affine".into()),
    }
}

/// A·B of two constant matrices.
fn matmul_const(a: &Tensor, b: &Tensor) -> std::result::Result<Value, String> {
    let (m, k, av) = mat(a, false)?;
    let (k2, n, bv) = mat(b, false)?;
    if k != k2 {
        return Err(format!("inner dimensions {k} and {k2} differ"));
    }
    check_elems(m, n)?;
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| av[i * k + p] * bv[p * n + j]).sum();
        }
    }
    Ok(Value::Const(Tensor {
        shape: vec![m, n],
        data: out,
    }))
}

/// X·W: the features are X's last axis; every other axis of X must have size 1.
fn matmul_dyn_const(ctx: &Ctx, d: &Affine, w: &Tensor) -> std::result::Result<Value, String> {
    let r = d.shape.len();
    let kx = *d.shape.last().ok_or("MatMul of a scalar")?;
    if d.n() != kx {
        return Err(format!(
            "the network tensor has shape {:?}: MatMul over an axis other than the \
             feature axis is not a dense layer",
            d.shape
        ));
    }
    let (kw, n, wv, drop) = match w.shape.len() {
        1 => (w.shape[0], 1, w.data.clone(), true),
        2 => (w.shape[0], w.shape[1], w.data.clone(), false),
        _ => {
            return Err(format!(
                "weight of shape {:?} is not a vector or matrix",
                w.shape
            ))
        }
    };
    if kw != kx {
        return Err(format!("inner dimensions {kx} and {kw} differ"));
    }
    // y_j = Σ_k x_k W[k, j]: the layer matrix is Wᵀ.
    let wt = transpose(
        &Tensor {
            shape: vec![kw, n],
            data: wv,
        },
        &[1, 0],
    )
    .data;
    let mut shape = d.shape[..r - 1].to_vec();
    if !drop {
        shape.push(n);
    }
    Ok(Value::Dyn(ctx.linear(d, &wt, n, shape)?))
}

/// W·X: X is a column ([k] or [..., k, 1]).
fn matmul_const_dyn(ctx: &Ctx, w: &Tensor, d: &Affine) -> std::result::Result<Value, String> {
    let (m, kw, wv) = match w.shape.len() {
        1 => (1, w.shape[0], w.data.clone()),
        2 => (w.shape[0], w.shape[1], w.data.clone()),
        _ => {
            return Err(format!(
                "weight of shape {:?} is not a vector or matrix",
                w.shape
            ))
        }
    };
    let r = d.shape.len();
    let (kx, col) = if r == 0 {
        return Err("MatMul of a scalar".into());
    } else if r == 1 {
        (d.shape[0], false)
    } else {
        if d.shape[r - 1] != 1 || d.n() != d.shape[r - 2] {
            return Err(format!(
                "W·X with X of shape {:?}: only a column vector X is a dense layer",
                d.shape
            ));
        }
        (d.shape[r - 2], true)
    };
    if kw != kx {
        return Err(format!("inner dimensions {kw} and {kx} differ"));
    }
    let shape = if col {
        let mut s = d.shape[..r - 2].to_vec();
        if w.shape.len() == 2 {
            s.push(m);
        }
        s.push(1);
        s
    } else if w.shape.len() == 2 {
        vec![m]
    } else {
        vec![]
    };
    Ok(Value::Dyn(ctx.linear(d, &wv, m, shape)?))
}

#[allow(clippy::too_many_arguments)]
fn gemm(
    ctx: &Ctx,
    a: &Value,
    b: &Value,
    c: Option<&Tensor>,
    alpha: f64,
    beta: f64,
    ta: bool,
    tb: bool,
) -> std::result::Result<Value, String> {
    let (mut y, shape) = match (a, b) {
        (Value::Const(a), Value::Const(b)) => return gemm_const((a, ta), (b, tb), c, alpha, beta),
        // A is the network's row vector [1, K] (or [K, 1] with transA).
        (Value::Dyn(d), Value::Const(w)) => {
            let want = if ta { [d.n(), 1] } else { [1, d.n()] };
            if d.shape != want {
                return Err(format!(
                    "Gemm input A of shape {:?} is not one row of features",
                    d.shape
                ));
            }
            let (k, n, wv) = mat(w, tb)?;
            if k != d.n() {
                return Err(format!("inner dimensions {} and {k} differ", d.n()));
            }
            let mut wt = transpose(
                &Tensor {
                    shape: vec![k, n],
                    data: wv,
                },
                &[1, 0],
            )
            .data;
            wt.iter_mut().for_each(|v| *v *= alpha);
            (ctx.linear(d, &wt, n, vec![1, n])?, vec![1, n])
        }
        // B is the network's column [K, 1] (or [1, K] with transB).
        (Value::Const(w), Value::Dyn(d)) => {
            let want = if tb { [1, d.n()] } else { [d.n(), 1] };
            if d.shape != want {
                return Err(format!(
                    "Gemm input B of shape {:?} is not one column of features",
                    d.shape
                ));
            }
            let (m, k, mut wv) = mat(w, ta)?;
            if k != d.n() {
                return Err(format!("inner dimensions {k} and {} differ", d.n()));
            }
            wv.iter_mut().for_each(|v| *v *= alpha);
            (ctx.linear(d, &wv, m, vec![m, 1])?, vec![m, 1])
        }
        (Value::Dyn(_), Value::Dyn(_)) => {
            return Err("Gemm of two network tensors is not affine".into())
        }
    };
    if let Some(c) = c {
        let cv = expand(c, &shape).ok_or_else(|| {
            format!(
                "C of shape {:?} does not broadcast to the output {shape:?}",
                c.shape
            )
        })?;
        y.c.iter_mut().zip(cv).for_each(|(v, cc)| *v += beta * cc);
        y.has_bias = true;
    }
    Ok(Value::Dyn(y))
}

/// Gemm of two constants: alpha·A'·B' + beta·C, folded.
fn gemm_const(
    (a, ta): (&Tensor, bool),
    (b, tb): (&Tensor, bool),
    c: Option<&Tensor>,
    alpha: f64,
    beta: f64,
) -> std::result::Result<Value, String> {
    let (m, k, av) = mat(a, ta)?;
    let (k2, n, bv) = mat(b, tb)?;
    let prod = matmul_const(
        &Tensor {
            shape: vec![m, k],
            data: av,
        },
        &Tensor {
            shape: vec![k2, n],
            data: bv,
        },
    )?;
    let Value::Const(mut t) = prod else {
        unreachable!("constant product")
    };
    t.data.iter_mut().for_each(|v| *v *= alpha);
    if let Some(c) = c {
        let cv = expand(c, &t.shape).ok_or("C does not broadcast to the output")?;
        t.data
            .iter_mut()
            .zip(cv)
            .for_each(|(v, cc)| *v += beta * cc);
    }
    Ok(Value::Const(t))
}

/// Rewrite the GELU subgraph that PyTorch's exporters emit below opset 20,
/// x·½·(1 + erf(x/√2)) (Div by √2 or Mul by 1/√2, Erf, Add 1, and two Mul in any grouping), and
/// x·sigmoid(x) (SiLU), into single nodes; every other node is kept in order.
fn fuse_patterns(
    nodes: &[NodeProto],
    consts: &HashMap<String, f64>,
    outputs: &[String],
) -> Vec<NodeProto> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.output {
            producer.insert(o, i);
        }
        for x in &n.input {
            consumers.entry(x).or_default().push(i);
        }
    }
    let scalar = |name: &str| consts.get(name).copied();
    let sole = |name: &str| -> Option<usize> {
        if outputs.iter().any(|o| o == name) {
            return None;
        }
        match consumers.get(name).map(|v| v.as_slice()) {
            Some([c]) => Some(*c),
            _ => None,
        }
    };
    let other = |n: &NodeProto, name: &str| -> Option<String> {
        match n.input.as_slice() {
            [a, b] if a == name => Some(b.clone()),
            [a, b] if b == name => Some(a.clone()),
            _ => None,
        }
    };
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs();
    let mut removed = vec![false; nodes.len()];
    let mut replace: HashMap<usize, NodeProto> = HashMap::new();
    for (ei, e) in nodes.iter().enumerate() {
        let fused = match e.op_type.as_str() {
            "Erf" => (|| {
                let t = e.input.first()?;
                let pi = *producer.get(t.as_str())?;
                let p = &nodes[pi];
                sole(t)?;
                let (x, k) = match p.input.as_slice() {
                    [x, k] if p.op_type == "Div" => (x, scalar(k)?),
                    [x, k] if p.op_type == "Mul" && scalar(k).is_some() => (x, 1.0 / scalar(k)?),
                    [k, x] if p.op_type == "Mul" => (x, 1.0 / scalar(k)?),
                    _ => return None,
                };
                if !close(k, std::f64::consts::SQRT_2) {
                    return None;
                }
                let ai = sole(e.output.first()?)?;
                let add = &nodes[ai];
                if add.op_type != "Add" || !close(scalar(&other(add, &e.output[0])?)?, 1.0) {
                    return None;
                }
                let mut used = vec![pi, ei, ai];
                let mut cur = add.output.first()?.clone();
                let (mut factor, mut has_x) = (1.0, false);
                for _ in 0..3 {
                    let mi = sole(&cur)?;
                    let m = &nodes[mi];
                    if m.op_type != "Mul" {
                        return None;
                    }
                    let o = other(m, &cur)?;
                    if &o == x && !has_x {
                        has_x = true;
                    } else if let Some(s) = scalar(&o) {
                        factor *= s;
                    } else {
                        // o = Mul(x, s) used only here.
                        let qi = *producer.get(o.as_str())?;
                        let q = &nodes[qi];
                        if q.op_type != "Mul" || sole(&o)? != mi || has_x {
                            return None;
                        }
                        factor *= scalar(&other(q, x)?)?;
                        has_x = true;
                        used.push(qi);
                    }
                    used.push(mi);
                    cur = m.output.first()?.clone();
                    if has_x && close(factor, 0.5) {
                        let last = *used.iter().max()?;
                        return Some((used, last, x.clone(), cur, "Gelu"));
                    }
                }
                None
            })(),
            "Sigmoid" => (|| {
                let x = e.input.first()?;
                let mi = sole(e.output.first()?)?;
                let m = &nodes[mi];
                if m.op_type != "Mul" || &other(m, &e.output[0])? != x {
                    return None;
                }
                Some((
                    vec![ei, mi],
                    mi,
                    x.clone(),
                    m.output.first()?.clone(),
                    "relulab.Silu",
                ))
            })(),
            _ => None,
        };
        if let Some((used, last, x, out, op)) = fused {
            if used.iter().any(|&u| removed[u]) {
                continue;
            }
            for &u in &used {
                removed[u] = true;
            }
            replace.insert(
                last,
                NodeProto {
                    input: vec![x],
                    output: vec![out],
                    name: format!("{} (fused {op})", e.name),
                    op_type: op.to_string(),
                    ..Default::default()
                },
            );
        }
    }
    let mut out = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if let Some(r) = replace.remove(&i) {
            out.push(r);
        } else if !removed[i] {
            out.push(n.clone());
        }
    }
    out
}

/// Interpret a decoded model.
pub(crate) fn import_model(model: &ModelProto, file: &str) -> Result<Mlp<f32>> {
    let fe = |loc: &str, m: String| Error::format(file, loc, m);
    let mut opset = None;
    for o in &model.opset_import {
        if o.domain.is_empty() || o.domain == "ai.onnx" {
            opset = Some(o.version);
        }
    }
    let opset = opset.unwrap_or(1);
    if !OPSETS.contains(&opset) {
        return Err(fe(
            "opset_import",
            format!(
                "default-domain opset {opset} is outside the supported range {}–{}",
                OPSETS.start(),
                OPSETS.end()
            ),
        ));
    }
    let g: &GraphProto = model
        .graph
        .as_ref()
        .ok_or_else(|| fe("model", "no graph".into()))?;
    let mut values: HashMap<String, Value> = HashMap::new();
    let mut scalars: HashMap<String, f64> = HashMap::new();
    for t in &g.initializer {
        let v = decode_tensor(t).map_err(|m| fe(&format!("initializer '{}'", t.name), m))?;
        if let Some(s) = v.scalar() {
            scalars.insert(t.name.clone(), s);
        }
        values.insert(t.name.clone(), Value::Const(v));
    }
    for n in &g.node {
        if n.op_type == "Constant" {
            if let (Some(a), Some(o)) = (n.attribute.first(), n.output.first()) {
                let s = match (a.name.as_str(), &a.t) {
                    ("value", Some(t)) => decode_tensor(t).ok().and_then(|t| t.scalar()),
                    ("value_float", _) => Some(a.f as f64),
                    ("value_int", _) => Some(a.i as f64),
                    _ => None,
                };
                if let Some(s) = s {
                    scalars.insert(o.clone(), s);
                }
            }
        }
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Err(fe(
                &format!("node '{}' ({})", n.name, n.op_type),
                format!("operator domain '{}' is not supported", n.domain),
            ));
        }
    }
    // The one graph input that is not an initializer is the network input.
    let real_inputs: Vec<_> = g
        .input
        .iter()
        .filter(|i| !values.contains_key(&i.name))
        .collect();
    let [inp] = real_inputs.as_slice() else {
        return Err(fe(
            "graph.input",
            format!(
                "expected one network input (besides initializers), found {}",
                real_inputs.len()
            ),
        ));
    };
    let loc = format!("input '{}'", inp.name);
    let tt = inp
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| fe(&loc, "not a tensor".into()))?;
    if !matches!(
        tt.elem_type,
        dt::FLOAT | dt::DOUBLE | dt::FLOAT16 | dt::UNDEFINED
    ) {
        return Err(fe(
            &loc,
            format!("element type {} is not a float type", tt.elem_type),
        ));
    }
    let dims = &tt
        .shape
        .as_ref()
        .ok_or_else(|| fe(&loc, "no static shape".into()))?
        .dim;
    let rank = dims.len();
    let mut shape = Vec::with_capacity(rank);
    for (k, d) in dims.iter().enumerate() {
        let v = match d.dim_value {
            Some(v) if v >= 1 => v as usize,
            _ if k == 0 && rank >= 2 => 1, // the batch axis, symbolic or not
            _ => {
                return Err(fe(
                    &loc,
                    format!("dimension {k} is not a fixed positive size"),
                ))
            }
        };
        shape.push(if k == 0 && rank >= 2 { 1 } else { v });
    }
    let d_in = numel(&shape)
        .filter(|&n| n > 0 && n <= 1 << 22)
        .ok_or_else(|| fe(&loc, format!("unusable input shape {shape:?}")))?;
    values.insert(
        inp.name.clone(),
        Value::Dyn(Affine {
            shape,
            gen: 0,
            a: Lin::Identity,
            c: vec![0.0; d_in],
            has_bias: false,
        }),
    );
    let [out] = g.output.as_slice() else {
        return Err(fe(
            "graph.output",
            format!("expected one output, found {}", g.output.len()),
        ));
    };
    let out_names = vec![out.name.clone()];
    let nodes = fuse_patterns(&g.node, &scalars, &out_names);
    let mut uses: HashMap<String, usize> = HashMap::new();
    for n in &nodes {
        for i in &n.input {
            *uses.entry(i.clone()).or_default() += 1;
        }
    }
    *uses.entry(out.name.clone()).or_default() += 1;
    let mut ctx = Ctx {
        file,
        values,
        uses,
        layers: Vec::new(),
        m: d_in,
        gen: 0,
    };
    for (idx, node) in nodes.iter().enumerate() {
        let loc = node_loc(node, idx);
        let outs = apply(&mut ctx, node, &loc)?;
        let first = node
            .output
            .first()
            .ok_or_else(|| fe(&loc, "node has no output".into()))?;
        for v in outs {
            ctx.values.insert(first.clone(), v);
        }
        if node.output.len() > 1 && node.output[1..].iter().any(|o| ctx.uses.contains_key(o)) {
            return Err(fe(
                &loc,
                "secondary outputs (e.g. a Dropout mask) are not supported".into(),
            ));
        }
    }
    let y = match ctx.get(&out.name, "graph.output")? {
        Value::Dyn(y) => y,
        Value::Const(_) => {
            return Err(fe(
                "graph.output",
                "the output does not depend on the input".into(),
            ))
        }
    };
    if y.gen != ctx.gen {
        return Err(fe(
            "graph.output",
            "the output skips the last nonlinearity".into(),
        ));
    }
    if !matches!(y.a, Lin::Identity) || y.has_bias || ctx.layers.is_empty() {
        ctx.close_layer(y, Activation::Identity, Vec::new())
            .map_err(|m| fe("graph.output", m))?;
    }
    let mut mlp = Mlp { layers: ctx.layers };
    mlp.validate().map_err(|m| fe("model", m.to_string()))?;
    restore_conventions(model, &mut mlp);
    Ok(mlp.cast::<f32>())
}

/// The metadata key under which relulab's exporter stores each layer's activation in full.
pub(crate) const ACTIVATIONS_KEY: &str = "relulab.activations";

/// Put back what ONNX operators cannot say (ReLU'(0), leaky and ReLU+εx derivatives at 0,
/// softplus's threshold) from the exporter's `relulab.activations` metadata: a JSON array with
/// one activation per layer. Applied only when it agrees with the graph, layer by layer, on
/// everything the graph does say (family and slopes within f32 rounding); a graph edited after
/// export keeps what its operators say.
fn restore_conventions(model: &ModelProto, mlp: &mut Mlp<f64>) {
    let Some(entry) = model
        .metadata_props
        .iter()
        .find(|e| e.key == ACTIVATIONS_KEY)
    else {
        return;
    };
    let Ok(acts) = serde_json::from_str::<Vec<Activation>>(&entry.value) else {
        return;
    };
    if acts.len() != mlp.layers.len() {
        return;
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-3);
    let agrees = |graph: &Activation, meta: &Activation| match (graph, meta) {
        (Activation::Relu { .. }, Activation::Relu { .. })
        | (Activation::Prelu { .. }, Activation::Prelu { .. }) => true,
        (
            Activation::LeakyRelu {
                negative_slope: a, ..
            },
            Activation::LeakyRelu {
                negative_slope: b, ..
            },
        )
        | (Activation::Softplus { beta: a, .. }, Activation::Softplus { beta: b, .. })
        | (Activation::Elu { alpha: a }, Activation::Elu { alpha: b }) => close(*a, *b),
        (g, m) => g == m,
    };
    if mlp
        .layers
        .iter()
        .zip(&acts)
        .all(|(l, m)| agrees(&l.activation, m) && m.validate().is_ok())
    {
        for (l, m) in mlp.layers.iter_mut().zip(acts) {
            // PReLU's slopes are the graph's initializers (`prelu_alpha`); the variant's α is
            // only an initial value, so the graph's stays.
            if !matches!(m, Activation::Prelu { .. }) {
                l.activation = m;
            }
        }
    }
}

/// The `n` elements of an array of `shape` (C order) whose element at index i lies at
/// `data[Σ i_k·strides[k]]`: the one walk behind broadcasting (stride 0 on repeated axes) and
/// transposition (permuted strides).
fn gather_strided<T: Copy>(data: &[T], shape: &[usize], strides: &[usize], n: usize) -> Vec<T> {
    let r = shape.len();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; r];
    let mut off = 0usize;
    for _ in 0..n {
        out.push(data[off]);
        for k in (0..r).rev() {
            idx[k] += 1;
            off += strides[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= strides[k] * idx[k];
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: &[f64]) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn reshape_targets() {
        assert_eq!(
            reshape_target(&[1, 6], &[0.0, -1.0], false).unwrap(),
            vec![1, 6]
        );
        assert_eq!(reshape_target(&[2, 3], &[-1.0], false).unwrap(), vec![6]);
        assert_eq!(
            reshape_target(&[2, 3], &[3.0, 0.0], true).unwrap_err(),
            "cannot reshape [2, 3] (6 elements) to [3, 0]"
        );
        assert!(reshape_target(&[2, 3], &[4.0, -1.0], false).is_err());
        assert!(reshape_target(&[1, 6], &[-1.0, -1.0], false).is_err());
        assert!(reshape_target(&[1, 6], &[0.5, 12.0], false).is_err());
        assert!(reshape_target(&[6], &[1.0, 0.0, 6.0], false).is_err());
    }

    #[test]
    fn broadcasting_and_transpose() {
        assert_eq!(broadcast_shapes(&[2, 1], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shapes(&[2], &[3]), None);
        assert_eq!(
            expand(&t(&[3], &[1.0, 2.0, 3.0]), &[2, 3]).unwrap(),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            expand(&t(&[2, 1], &[1.0, 2.0]), &[2, 3]).unwrap(),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        assert_eq!(expand(&t(&[], &[7.0]), &[2]).unwrap(), vec![7.0, 7.0]);
        assert!(expand(&t(&[2, 3], &[0.0; 6]), &[3]).is_none());
        // [[0,1,2],[3,4,5]]ᵀ = [[0,3],[1,4],[2,5]].
        let tt = transpose(&t(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]), &[1, 0]);
        assert_eq!(
            (tt.shape, tt.data),
            (vec![3, 2], vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0])
        );
        // A 3-D permutation: element (i, j, k) of a 2×3×4 goes to (k, i, j).
        let src: Vec<f64> = (0..24).map(f64::from).collect();
        let p = transpose(&t(&[2, 3, 4], &src), &[2, 0, 1]);
        assert_eq!(p.shape, vec![4, 2, 3]);
        for (i, j, k) in [(1, 2, 3), (0, 1, 2), (1, 0, 0)] {
            assert_eq!(p.data[k * 6 + i * 3 + j], src[i * 12 + j * 4 + k]);
        }
    }

    #[test]
    fn tensors_must_hold_what_they_claim() {
        let mut tp = TensorProto {
            dims: vec![2, 2],
            data_type: dt::FLOAT,
            float_data: vec![1.0, 2.0, 3.0],
            ..Default::default()
        };
        assert!(decode_tensor(&tp)
            .unwrap_err()
            .contains("needs 4 float values"));
        tp.float_data.push(4.0);
        assert_eq!(decode_tensor(&tp).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        tp.raw_data = vec![0; 15];
        assert!(decode_tensor(&tp).unwrap_err().contains("whole number"));
        tp.dims = vec![-1];
        assert!(decode_tensor(&tp).unwrap_err().contains("negative"));
        let h = TensorProto {
            dims: vec![2],
            data_type: dt::FLOAT16,
            raw_data: vec![0x00, 0x3c, 0x00, 0xc0],
            ..Default::default()
        };
        assert_eq!(decode_tensor(&h).unwrap().data, vec![1.0, -2.0]);
        let e = TensorProto {
            data_type: dt::FLOAT,
            data_location: 1,
            ..Default::default()
        };
        assert!(decode_tensor(&e).unwrap_err().contains("external"));
    }
}
