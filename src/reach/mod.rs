//! Reachability of closed loops with ReLU controllers (issue 12).
//!
//! The loop `x[t+1] = A x[t] + B u[t] + c`, `u[t] = clip(π(x[t]), u_min, u_max)` with π a
//! piecewise-linear network is a piecewise-affine system, and its N-step map from `x[0]` is
//! itself one piecewise-linear network ([`unroll`]): the state rides through every layer on
//! identity units, the controller's layers act on it, the clip is two ReLUs
//! (`clip(u) = u_min + relu(u − u_min) − relu(u − u_max)`) and the plant step is a dense layer.
//! The verifier's bound engine ([`crate::verify::engine`]) then bounds every step's state
//! symbolically in `x[0]` (CROWN / α-CROWN through the whole unrolled loop, not step by step
//! from a box), [`enclose`] partitions the initial set until a target tightness, [`safety`]
//! hands avoid / goal queries to the verifier's branch and bound, and [`exact`] gives the exact
//! reachable sets of 2-D loops from the region engine (the oracle of the tests).
//!
//! # Exactness of the unrolled network
//! The unrolled network is the loop in real arithmetic: every weight is an entry of A, B, the
//! controller, or ±1, and every bias an entry of c, u_min, u_max or the controller's biases. No
//! matrix product is formed. A difference `b_L − u_min` (controller output bias minus the limit)
//! or the constant `B·u_min + c` is folded into one bias only when f64 computes it exactly
//! (checked by TwoSum / FMA residuals); otherwise the loop keeps a separate layer (`u` as
//! identity units) or constant units (`k_j = u_min,j`, zero weights), so nothing is rounded.

pub mod enclose;
pub mod exact;
pub mod plot;
pub mod report;
pub mod safety;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::{Layer, Mlp};
use crate::verify::PwlNet;
use std::path::Path;

/// An affine plant with saturated inputs and its initial set (`system.toml`).
#[derive(Clone, Debug, PartialEq)]
pub struct Plant {
    /// State width n.
    pub n: usize,
    /// Input width m.
    pub m: usize,
    /// A, row-major n × n.
    pub a: Vec<f64>,
    /// B, row-major n × m.
    pub b: Vec<f64>,
    /// c (n).
    pub c: Vec<f64>,
    /// Lower limits of the command (m).
    pub u_min: Vec<f64>,
    /// Upper limits of the command (m).
    pub u_max: Vec<f64>,
    /// Initial box, lower ends (n).
    pub init_lo: Vec<f64>,
    /// Initial box, upper ends (n).
    pub init_hi: Vec<f64>,
    /// Optional half-spaces `H x ≤ h` that cut the initial box (the initial set is their
    /// intersection with the box).
    pub init_h: Vec<(Vec<f64>, f64)>,
    /// Default number of steps N.
    pub steps: usize,
}

fn bad(file: &str, field: &str, msg: impl std::fmt::Display) -> Error {
    Error::format(file, format!("field '{field}'"), msg.to_string())
}

fn num(v: &toml::Value, file: &str, field: &str) -> Result<f64> {
    let x = match v {
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        _ => return Err(bad(file, field, format!("expected a number, found {v}"))),
    };
    if !x.is_finite() {
        return Err(bad(file, field, format!("{x} is not a finite number")));
    }
    Ok(x)
}

fn vector(v: &toml::Value, file: &str, field: &str) -> Result<Vec<f64>> {
    match v {
        toml::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| num(x, file, &format!("{field}[{i}]")))
            .collect(),
        _ => Err(bad(file, field, "expected an array of numbers")),
    }
}

fn matrix(v: &toml::Value, file: &str, field: &str) -> Result<Vec<Vec<f64>>> {
    match v {
        toml::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, r)| vector(r, file, &format!("{field}[{i}]")))
            .collect(),
        _ => Err(bad(file, field, "expected an array of rows")),
    }
}

fn rows_of(m: &[Vec<f64>], cols: usize, file: &str, field: &str) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(m.len() * cols);
    for (i, r) in m.iter().enumerate() {
        if r.len() != cols {
            return Err(bad(
                file,
                &format!("{field}[{i}]"),
                format!("row has {} entries, expected {cols}", r.len()),
            ));
        }
        out.extend_from_slice(r);
    }
    Ok(out)
}

impl Plant {
    /// Read and validate a plant file. Errors name the file and the field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and validate plant TOML (`file` names it in errors). Fields: `A` (n × n), `B`
    /// (n × m), `c` (n, default zeros), `u_min`, `u_max` (m), `initial_box` (n pairs
    /// `[low, high]`), optional `initial_H` (k × n) with `initial_h` (k), `steps` (≥ 1).
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        let t: toml::Table = toml::from_str(text)
            .map_err(|e| Error::format(file, "TOML", e.to_string().trim().replace('\n', " ")))?;
        let known = [
            "A",
            "B",
            "c",
            "u_min",
            "u_max",
            "initial_box",
            "initial_H",
            "initial_h",
            "steps",
        ];
        if let Some(k) = t.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(
                file,
                k,
                format!("unknown field (expected one of {})", known.join(", ")),
            ));
        }
        let get = |k: &str| t.get(k).ok_or_else(|| bad(file, k, "missing"));
        let a = matrix(get("A")?, file, "A")?;
        let n = a.len();
        if n == 0 {
            return Err(bad(file, "A", "A is empty"));
        }
        let a = rows_of(&a, n, file, "A").map_err(|_| {
            bad(
                file,
                "A",
                format!("A must be square: {n} rows, rows of another length"),
            )
        })?;
        let bm = matrix(get("B")?, file, "B")?;
        if bm.len() != n {
            return Err(bad(
                file,
                "B",
                format!("B has {} rows, A has {n} (B must be n × m)", bm.len()),
            ));
        }
        let m = bm.first().map_or(0, |r| r.len());
        if m == 0 {
            return Err(bad(file, "B", "B has no columns"));
        }
        let b = rows_of(&bm, m, file, "B")?;
        let c = match t.get("c") {
            Some(v) => vector(v, file, "c")?,
            None => vec![0.0; n],
        };
        if c.len() != n {
            return Err(bad(
                file,
                "c",
                format!("c has {} entries, A has {n} rows", c.len()),
            ));
        }
        let u_min = vector(get("u_min")?, file, "u_min")?;
        let u_max = vector(get("u_max")?, file, "u_max")?;
        for (f, v) in [("u_min", &u_min), ("u_max", &u_max)] {
            if v.len() != m {
                return Err(bad(
                    file,
                    f,
                    format!("{f} has {} entries, B has {m} columns", v.len()),
                ));
            }
        }
        for j in 0..m {
            if u_min[j] > u_max[j] {
                return Err(bad(
                    file,
                    &format!("u_min[{j}]"),
                    format!("u_min {} > u_max {}", u_min[j], u_max[j]),
                ));
            }
        }
        let ib = matrix(get("initial_box")?, file, "initial_box")?;
        if ib.len() != n {
            return Err(bad(
                file,
                "initial_box",
                format!("{} intervals for {n} states", ib.len()),
            ));
        }
        let ib = rows_of(&ib, 2, file, "initial_box")?;
        let (mut init_lo, mut init_hi) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (l, h) = (ib[2 * i], ib[2 * i + 1]);
            if l > h {
                return Err(bad(
                    file,
                    &format!("initial_box[{i}]"),
                    format!("empty interval [{l}, {h}]"),
                ));
            }
            init_lo.push(l);
            init_hi.push(h);
        }
        let mut init_h = Vec::new();
        match (t.get("initial_H"), t.get("initial_h")) {
            (None, None) => {}
            (Some(hm), Some(hv)) => {
                let hm = matrix(hm, file, "initial_H")?;
                let hv = vector(hv, file, "initial_h")?;
                if hm.len() != hv.len() {
                    return Err(bad(
                        file,
                        "initial_h",
                        format!("{} entries, initial_H has {} rows", hv.len(), hm.len()),
                    ));
                }
                let flat = rows_of(&hm, n, file, "initial_H")?;
                for (k, &hk) in hv.iter().enumerate() {
                    init_h.push((flat[k * n..(k + 1) * n].to_vec(), hk));
                }
            }
            (Some(_), None) => return Err(bad(file, "initial_h", "missing (initial_H is given)")),
            (None, Some(_)) => return Err(bad(file, "initial_H", "missing (initial_h is given)")),
        }
        // A half-space that misses the whole box empties the initial set.
        for (k, (hr, hk)) in init_h.iter().enumerate() {
            let min: f64 = (0..n)
                .map(|i| (hr[i] * init_lo[i]).min(hr[i] * init_hi[i]))
                .sum();
            if min > *hk {
                return Err(bad(
                    file,
                    &format!("initial_h[{k}]"),
                    "the half-space misses the initial box: the initial set is empty",
                ));
            }
        }
        let steps = match t.get("steps") {
            Some(toml::Value::Integer(s)) if *s >= 1 => *s as usize,
            Some(v) => {
                return Err(bad(
                    file,
                    "steps",
                    format!("expected an integer ≥ 1, found {v}"),
                ))
            }
            None => 1,
        };
        Ok(Plant {
            n,
            m,
            a,
            b,
            c,
            u_min,
            u_max,
            init_lo,
            init_hi,
            init_h,
            steps,
        })
    }

    /// Whether `x` meets the initial half-spaces (f64; the box is not checked).
    pub fn in_halfspaces(&self, x: &[f64]) -> bool {
        self.init_h
            .iter()
            .all(|(h, k)| h.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() <= *k)
    }
}

/// A plant with its controller.
#[derive(Clone, Debug)]
pub struct ClosedLoop {
    /// The plant.
    pub plant: Plant,
    /// The controller as loaded.
    pub controller: Mlp<f32>,
    /// Its f64 view (simulation).
    pub ctrl: PwlNet,
}

impl ClosedLoop {
    /// Pair a plant with a controller; `file` names the controller in errors (widths that do
    /// not match the plant, activations that are not ReLU-like).
    pub fn new(plant: Plant, controller: Mlp<f32>, file: &str) -> Result<Self> {
        controller.validate().map_err(|e| e.prefixed(file))?;
        let (d_in, d_out) = (controller.input_dim(), controller.output_dim());
        if d_in != plant.n {
            return Err(Error::Shape(format!(
                "{file}: the controller reads {d_in} inputs, the plant has {} states",
                plant.n
            )));
        }
        if d_out != plant.m {
            return Err(Error::Shape(format!(
                "{file}: the controller writes {d_out} outputs, the plant has {} inputs (B has {} columns)",
                plant.m, plant.m
            )));
        }
        for (l, layer) in controller.layers.iter().enumerate() {
            for j in 0..layer.out_dim {
                match layer.unit_activation(j).pwl_slopes() {
                    Some((_, 1.0)) => {}
                    _ => {
                        return Err(Error::Unsupported(format!(
                            "{file}: layer {l}: activation {}: reach handles identity, relu, leaky_relu and prelu",
                            layer.activation
                        )))
                    }
                }
            }
        }
        let ctrl = PwlNet::from_mlp(&controller).map_err(|e| e.prefixed(file))?;
        Ok(ClosedLoop {
            plant,
            controller,
            ctrl,
        })
    }

    /// The command at state x: clip(π(x)) (f64).
    pub fn command(&self, x: &[f64]) -> Vec<f64> {
        let p = &self.plant;
        self.ctrl
            .forward(x)
            .iter()
            .enumerate()
            .map(|(j, &u)| u.max(p.u_min[j]).min(p.u_max[j]))
            .collect()
    }

    /// One plant step x' = A x + B u + c (f64).
    pub fn step(&self, x: &[f64]) -> Vec<f64> {
        let p = &self.plant;
        let u = self.command(x);
        (0..p.n)
            .map(|i| {
                let ax: f64 = (0..p.n).map(|k| p.a[i * p.n + k] * x[k]).sum();
                let bu: f64 = (0..p.m).map(|j| p.b[i * p.m + j] * u[j]).sum();
                ax + bu + p.c[i]
            })
            .collect()
    }

    /// The trajectory x\[0..=steps\] from x0 (plain f64 simulation).
    pub fn simulate(&self, x0: &[f64], steps: usize) -> Vec<Vec<f64>> {
        let mut tr = vec![x0.to_vec()];
        for _ in 0..steps {
            let next = self.step(tr.last().expect("non-empty"));
            tr.push(next);
        }
        tr
    }
}

/// Load a plant file and a controller: a relulab checkpoint or a PyTorch state_dict
/// (`.safetensors`; `hidden` is the state_dict's activation between the Linear layers), ONNX, or
/// the JSON form of `Mlp<f32>` (`.json`).
pub fn load_loop(system: &Path, controller: &Path, hidden: Activation) -> Result<ClosedLoop> {
    let plant = Plant::load(system)?;
    let ctrl = match controller.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => crate::io::checkpoint::load_any(controller, Some(hidden))?,
        _ => crate::verify::load_network(controller)?,
    };
    ClosedLoop::new(plant, ctrl, &controller.display().to_string())
}

/// The double integrator of `data/control/double_integrator` (nfl_veripy, MIT licence; 2
/// states, 2-10-5-1 ReLU controller, initial box [2.5, 3] × [−0.25, 0.25], 5 steps), embedded.
pub fn double_integrator() -> Result<ClosedLoop> {
    let plant = Plant::parse(
        include_str!("../../data/control/double_integrator/system.toml"),
        "data/control/double_integrator/system.toml",
    )?;
    let ctrl: Mlp<f32> = serde_json::from_str(include_str!(
        "../../data/control/double_integrator/controller.json"
    ))
    .map_err(|e| {
        Error::format(
            "data/control/double_integrator/controller.json",
            format!("line {}", e.line()),
            e.to_string(),
        )
    })?;
    ClosedLoop::new(
        plant,
        ctrl,
        "data/control/double_integrator/controller.json",
    )
}

/// The N-step loop as one network of x\[0\].
#[derive(Clone, Debug)]
pub struct Unrolled {
    /// The network in f64 (PReLU units with α = 1 are the identity pass-through, α = 0 ReLU).
    pub mlp: Mlp<f64>,
    /// The verifier's view of it.
    pub net: PwlNet,
    /// `state_layer[k − 1]`: the layer whose output (= pre-activation, identity units) is x\[k\],
    /// k = 1..=N; the last is the output layer.
    pub state_layer: Vec<usize>,
    /// Whether `b_L − u_min`, `b_L − u_max` were folded into the clip layer's bias (exact).
    pub folded_limits: bool,
    /// Whether `B·u_min + c` was folded into the plant layer's bias (exact).
    pub folded_constant: bool,
}

/// a + b when f64 computes it exactly (TwoSum residual 0, Knuth TAOCP vol. 2 §4.2.2).
fn exact_add(a: f64, b: f64) -> Option<f64> {
    let s = a + b;
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    (err == 0.0 && s.is_finite()).then_some(s)
}

/// a·b when f64 computes it exactly (FMA residual 0).
fn exact_mul(a: f64, b: f64) -> Option<f64> {
    let p = a * b;
    (a.mul_add(b, -p) == 0.0 && p.is_finite()).then_some(p)
}

/// One unit of a layer being built: (weights over the previous layer's units, bias, PReLU α).
type UnitRow = (Vec<(usize, f64)>, f64, f64);

/// Layer builder.
struct Builder {
    layers: Vec<Layer<f64>>,
}

impl Builder {
    fn push(&mut self, n_in: usize, rows: Vec<UnitRow>, last: bool) {
        let n_out = rows.len();
        let mut w = vec![0.0; n_out * n_in];
        let mut b = vec![0.0; n_out];
        let mut alpha = vec![1.0; n_out];
        for (j, (ws, bj, aj)) in rows.into_iter().enumerate() {
            for (i, v) in ws {
                w[j * n_in + i] = v;
            }
            b[j] = bj;
            alpha[j] = aj;
        }
        let identity = alpha.iter().all(|&a| a == 1.0);
        assert!(!last || identity, "the output layer is affine");
        let (activation, prelu_alpha) = if identity {
            (Activation::Identity, Vec::new())
        } else {
            (Activation::Prelu { alpha: 0.0 }, alpha)
        };
        self.layers.push(Layer {
            in_dim: n_in,
            out_dim: n_out,
            weight: w,
            bias: Some(b),
            activation,
            prelu_alpha,
        });
    }
}

#[allow(clippy::needless_range_loop)]
/// Unroll `steps` steps of the loop into one network of x\[0\] whose output is x\[steps\] (see the
/// module documentation for the layout and its exactness).
pub fn unroll(cl: &ClosedLoop, steps: usize) -> Result<Unrolled> {
    if steps == 0 {
        return Err(Error::Value("reach: steps must be at least 1".into()));
    }
    let p = &cl.plant;
    let (n, m) = (p.n, p.m);
    let ctrl = &cl.controller;
    let nl = ctrl.layers.len();
    let last = &ctrl.layers[nl - 1];
    let out_identity = (0..m).all(|j| last.unit_activation(j).pwl_slopes() == Some((1.0, 1.0)));
    // Fold b_L − u_min, b_L − u_max into the clip layer's bias only when exact.
    let mut lim = Vec::with_capacity(2 * m);
    if out_identity {
        for j in 0..m {
            let bj = last.bias_at(j) as f64;
            lim.push(exact_add(bj, -p.u_min[j]));
            lim.push(exact_add(bj, -p.u_max[j]));
        }
    }
    let folded_limits = out_identity && lim.iter().all(|v| v.is_some());
    // Fold B·u_min + c when exact.
    let mut kc = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = Some(p.c[i]);
        for j in 0..m {
            s = s.and_then(|s| exact_mul(p.b[i * m + j], p.u_min[j]).and_then(|q| exact_add(s, q)));
        }
        kc.push(s);
    }
    let folded_constant = kc.iter().all(|v| v.is_some());
    let mut bld = Builder { layers: Vec::new() };
    let mut state_layer = Vec::with_capacity(steps);
    let id = |i: usize| (vec![(i, 1.0)], 0.0, 1.0);
    for step in 0..steps {
        // Units of the current layer's output: x at 0..n, then `h` (the controller part).
        let mut width = n; // input of this step: x only
        let mut h_off: Option<usize> = None; // where the previous controller layer sits
        let mut h_dim = 0;
        for (l, layer) in ctrl.layers.iter().enumerate() {
            let is_out = l + 1 == nl;
            if is_out && out_identity && folded_limits {
                break; // folded into the clip layer below
            }
            let mut rows: Vec<UnitRow> = (0..n).map(id).collect();
            for j in 0..layer.out_dim {
                let src = h_off.unwrap_or(0);
                let ws: Vec<(usize, f64)> = (0..layer.in_dim)
                    .map(|i| (src + i, layer.weight[j * layer.in_dim + i] as f64))
                    .filter(|&(_, v)| v != 0.0)
                    .collect();
                let alpha = layer.unit_activation(j).pwl_slopes().expect("checked").0;
                rows.push((ws, layer.bias_at(j) as f64, alpha));
            }
            bld.push(width, rows, false);
            width = n + layer.out_dim;
            h_off = Some(n);
            h_dim = layer.out_dim;
        }
        // Clip layer: x, r1 = relu(u − u_min), r2 = relu(u − u_max), and constant units k = u_min
        // when B·u_min + c is not folded.
        let mut rows: Vec<UnitRow> = (0..n).map(id).collect();
        for (which, lims) in [(0usize, &p.u_min), (1, &p.u_max)] {
            for j in 0..m {
                if folded_limits {
                    let src = h_off.unwrap_or(0);
                    let ws: Vec<(usize, f64)> = (0..last.in_dim)
                        .map(|i| (src + i, last.weight[j * last.in_dim + i] as f64))
                        .filter(|&(_, v)| v != 0.0)
                        .collect();
                    rows.push((ws, lim[2 * j + which].expect("folded"), 0.0));
                } else {
                    // The previous layer holds u at n..n+m.
                    debug_assert_eq!(h_dim, m);
                    rows.push((vec![(n + j, 1.0)], -lims[j], 0.0));
                }
            }
        }
        if !folded_constant {
            for j in 0..m {
                rows.push((Vec::new(), p.u_min[j], 1.0));
            }
        }
        bld.push(width, rows, false);
        let clip_w = n + 2 * m + if folded_constant { 0 } else { m };
        // Plant layer: x' = A x + B r1 − B r2 (+ B k + c, or the folded constant).
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let mut ws: Vec<(usize, f64)> = (0..n)
                .map(|k| (k, p.a[i * n + k]))
                .filter(|&(_, v)| v != 0.0)
                .collect();
            for j in 0..m {
                let bij = p.b[i * m + j];
                if bij != 0.0 {
                    ws.push((n + j, bij));
                    ws.push((n + m + j, -bij));
                    if !folded_constant {
                        ws.push((n + 2 * m + j, bij));
                    }
                }
            }
            let bias = if folded_constant {
                kc[i].expect("folded")
            } else {
                p.c[i]
            };
            rows.push((ws, bias, 1.0));
        }
        bld.push(clip_w, rows, step + 1 == steps);
        state_layer.push(bld.layers.len() - 1);
    }
    let mlp = Mlp { layers: bld.layers };
    mlp.validate()?;
    let net = PwlNet::from_mlp(&mlp)?;
    Ok(Unrolled {
        mlp,
        net,
        state_layer,
        folded_limits,
        folded_constant,
    })
}

impl Unrolled {
    /// The network rounded to f32 (the verifier's last witness filter; it can only reject).
    pub fn mlp_f32(&self) -> Mlp<f32> {
        Mlp {
            layers: self
                .mlp
                .layers
                .iter()
                .map(|l| Layer {
                    in_dim: l.in_dim,
                    out_dim: l.out_dim,
                    weight: l.weight.iter().map(|&v| v as f32).collect(),
                    bias: l
                        .bias
                        .as_ref()
                        .map(|b| b.iter().map(|&v| v as f32).collect()),
                    activation: l.activation,
                    prelu_alpha: l.prelu_alpha.iter().map(|&v| v as f32).collect(),
                })
                .collect(),
        }
    }

    /// The states x\[1..=N\] at x0 from the network (f64 forward pass).
    pub fn states(&self, x0: &[f64]) -> Vec<Vec<f64>> {
        let zs = self.net.forward_trace(x0);
        self.state_layer.iter().map(|&l| zs[l].clone()).collect()
    }
}
