//! [`Mlp`]: the one network type of relulab.
//!
//! An ordered stack of dense layers. Layer l maps a_{l-1} (length `in_dim`) to
//! z_l = W_l a_{l-1} + b_l (the pre-activation, length `out_dim`) and a_l = f_l(z_l).
//! W is stored row-major as (out_dim × in_dim), PyTorch's `nn.Linear.weight` layout.

use crate::activation::Activation;
use crate::real::Real;
use serde::{Deserialize, Serialize};

/// One dense layer: weight (out × in, row-major), optional bias, activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer<T = f32> {
    /// Input width.
    pub in_dim: usize,
    /// Output width (number of units).
    pub out_dim: usize,
    /// W, row-major out_dim × in_dim: `weight[j * in_dim + i]` connects input i to unit j.
    pub weight: Vec<T>,
    /// b (length out_dim), or `None` for a bias-free layer.
    pub bias: Option<Vec<T>>,
    /// The activation applied to every unit of this layer.
    pub activation: Activation,
    /// PReLU slopes: empty for other activations, length 1 (shared) or out_dim (per unit).
    pub prelu_alpha: Vec<T>,
}

impl<T: Real> Layer<T> {
    /// A zero-initialised layer.
    pub fn zeros(in_dim: usize, out_dim: usize, bias: bool, activation: Activation) -> Self {
        let prelu_alpha = match activation {
            Activation::Prelu { alpha } => vec![T::of_f64(alpha)],
            _ => Vec::new(),
        };
        Layer {
            in_dim,
            out_dim,
            weight: vec![T::zero(); in_dim * out_dim],
            bias: bias.then(|| vec![T::zero(); out_dim]),
            activation,
            prelu_alpha,
        }
    }

    /// The activation of unit `j` (PReLU with that unit's α; others unchanged).
    pub fn unit_activation(&self, j: usize) -> Activation {
        match self.prelu_alpha.len() {
            0 => self.activation,
            1 => self
                .activation
                .with_prelu_alpha(self.prelu_alpha[0].as_f64()),
            _ => self
                .activation
                .with_prelu_alpha(self.prelu_alpha[j].as_f64()),
        }
    }

    /// Row j of W.
    pub fn row(&self, j: usize) -> &[T] {
        &self.weight[j * self.in_dim..(j + 1) * self.in_dim]
    }

    /// b_j, or 0 without bias.
    pub fn bias_at(&self, j: usize) -> T {
        self.bias.as_ref().map_or(T::zero(), |b| b[j])
    }

    /// Pre-activations z = W x + b of one input (reference loop, f64 accumulation).
    pub fn pre_activation(&self, x: &[T], z: &mut [T]) {
        assert_eq!(x.len(), self.in_dim, "layer input width");
        assert_eq!(z.len(), self.out_dim, "layer output width");
        for (j, zj) in z.iter_mut().enumerate() {
            let mut acc = self.bias_at(j).as_f64();
            for (w, xi) in self.row(j).iter().zip(x) {
                acc += w.as_f64() * xi.as_f64();
            }
            *zj = T::of_f64(acc);
        }
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.weight.len() + self.bias.as_ref().map_or(0, |b| b.len()) + self.prelu_alpha.len()
    }

    /// The same layer in another precision.
    pub fn cast<U: Real>(&self) -> Layer<U> {
        let c = |v: &Vec<T>| v.iter().map(|x| U::of_f64(x.as_f64())).collect::<Vec<U>>();
        Layer {
            in_dim: self.in_dim,
            out_dim: self.out_dim,
            weight: c(&self.weight),
            bias: self.bias.as_ref().map(c),
            activation: self.activation,
            prelu_alpha: c(&self.prelu_alpha),
        }
    }
}

/// A multilayer perceptron: the network type every part of relulab reads or writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp<T = f32> {
    /// The layers, input side first.
    pub layers: Vec<Layer<T>>,
}

impl<T: Real> Mlp<T> {
    /// A zero-initialised network with the given widths `[d_in, h_1, ..., d_out]`, `hidden`
    /// activation on every hidden layer and `output` on the last.
    pub fn zeros(widths: &[usize], hidden: Activation, output: Activation, bias: bool) -> Self {
        assert!(
            widths.len() >= 2,
            "an Mlp needs at least input and output widths"
        );
        let n = widths.len() - 1;
        let layers = (0..n)
            .map(|l| {
                let act = if l + 1 == n { output } else { hidden };
                Layer::zeros(widths[l], widths[l + 1], bias, act)
            })
            .collect();
        Mlp { layers }
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.in_dim)
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_dim)
    }

    /// `[d_in, h_1, ..., d_out]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.input_dim()];
        w.extend(self.layers.iter().map(|l| l.out_dim));
        w
    }

    /// Number of hidden units (all layers but the last).
    pub fn hidden_units(&self) -> usize {
        self.layers.iter().rev().skip(1).map(|l| l.out_dim).sum()
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.layers.iter().map(Layer::num_params).sum()
    }

    /// Check shapes chain and parameters are valid; the message names the layer.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        if self.layers.is_empty() {
            return Err(Error::Shape("network has no layers".into()));
        }
        for (l, layer) in self.layers.iter().enumerate() {
            if layer.weight.len() != layer.in_dim * layer.out_dim {
                return Err(Error::Shape(format!(
                    "layer {l}: weight has {} values, expected {}×{}",
                    layer.weight.len(),
                    layer.out_dim,
                    layer.in_dim
                )));
            }
            if let Some(b) = &layer.bias {
                if b.len() != layer.out_dim {
                    return Err(Error::Shape(format!(
                        "layer {l}: bias has {} values, expected {}",
                        b.len(),
                        layer.out_dim
                    )));
                }
            }
            if l > 0 && self.layers[l - 1].out_dim != layer.in_dim {
                return Err(Error::Shape(format!(
                    "layer {l}: input width {} does not match layer {} output width {}",
                    layer.in_dim,
                    l - 1,
                    self.layers[l - 1].out_dim
                )));
            }
            let na = layer.prelu_alpha.len();
            let want_alpha = matches!(layer.activation, Activation::Prelu { .. });
            if want_alpha && na != 1 && na != layer.out_dim {
                return Err(Error::Shape(format!(
                    "layer {l}: PReLU needs 1 or {} slopes, has {na}",
                    layer.out_dim
                )));
            }
            if !want_alpha && na != 0 {
                return Err(Error::Shape(format!(
                    "layer {l}: slopes given for a non-PReLU layer"
                )));
            }
            layer
                .activation
                .validate()
                .map_err(|e| Error::Value(format!("layer {l}: {e}")))?;
        }
        Ok(())
    }

    /// Forward pass of one input, reference loop (f64 accumulation). Returns every layer's
    /// pre-activations z_l; the output is f_L(z_L).
    pub fn forward_trace_one(&self, x: &[T]) -> (Vec<Vec<T>>, Vec<T>) {
        let mut zs = Vec::with_capacity(self.layers.len());
        let mut a = x.to_vec();
        for layer in &self.layers {
            let mut z = vec![T::zero(); layer.out_dim];
            layer.pre_activation(&a, &mut z);
            a = z
                .iter()
                .enumerate()
                .map(|(j, &zj)| T::of_f64(layer.unit_activation(j).f(zj.as_f64())))
                .collect();
            zs.push(z);
        }
        (zs, a)
    }

    /// Output of one input (reference loop).
    pub fn forward_one(&self, x: &[T]) -> Vec<T> {
        self.forward_trace_one(x).1
    }

    /// The same network in another precision.
    pub fn cast<U: Real>(&self) -> Mlp<U> {
        Mlp {
            layers: self.layers.iter().map(Layer::cast).collect(),
        }
    }
}
