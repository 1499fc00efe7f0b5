//! The network as region geometry reads it: f64 weights stored column-major (so that flipping
//! one unit updates the next layer's affine maps with one contiguous axpy), the two slopes of
//! every unit, and where each layer's bits sit in an activation pattern.

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::real::Real;

/// One layer prepared for geometry.
#[derive(Clone, Debug)]
pub(crate) struct GeoLayer {
    /// Input width.
    pub n_in: usize,
    /// Number of units.
    pub n_out: usize,
    /// W column-major: `wt[i * n_out + j]` = W[j][i] (input i → unit j).
    pub wt: Vec<f64>,
    /// W row-major (PyTorch layout), for the slice's first layer.
    pub w: Vec<f64>,
    /// b (zeros for bias-free layers).
    pub b: Vec<f64>,
    /// Slope of unit j left of 0 (z ≤ 0).
    pub lo: Vec<f64>,
    /// Slope of unit j right of 0 (z > 0).
    pub hi: Vec<f64>,
    /// Units whose two slopes differ: the ones that cut regions.
    pub cuts: Vec<usize>,
    /// First pattern word of this layer (each layer starts on a word boundary).
    pub word_offset: usize,
    /// Pattern words of this layer, ⌈n_out/64⌉ (0 when no unit cuts).
    pub words: usize,
}

/// A piecewise-linear network in f64, ready for region enumeration.
#[derive(Clone, Debug)]
pub struct GeoNet {
    pub(crate) layers: Vec<GeoLayer>,
    /// Total pattern words over all layers.
    pub(crate) pattern_words: usize,
    /// True when the last layer's activation is not piecewise linear (sigmoid, tanh, ...): maps
    /// then describe its pre-activation (the logits), which is affine on every region.
    pub(crate) output_is_logit: bool,
}

impl GeoNet {
    /// Prepare `mlp` for geometry. Every hidden activation must be piecewise linear (identity,
    /// ReLU, Leaky ReLU, PReLU, ReLU+εx); the last layer may be anything (non-PWL outputs are
    /// described by their pre-activations).
    pub fn new<T: Real>(mlp: &Mlp<T>) -> Result<Self> {
        mlp.validate()?;
        let nl = mlp.layers.len();
        let mut layers = Vec::with_capacity(nl);
        let mut word = 0;
        let mut output_is_logit = false;
        for (l, layer) in mlp.layers.iter().enumerate() {
            let (n_in, n_out) = (layer.in_dim, layer.out_dim);
            let w: Vec<f64> = layer.weight.iter().map(|x| x.as_f64()).collect();
            if let Some(bad) = w.iter().position(|x| !x.is_finite()) {
                return Err(Error::Value(format!(
                    "layer {l}: weight [{}, {}] is not finite",
                    bad / n_in,
                    bad % n_in
                )));
            }
            let mut wt = vec![0.0; n_in * n_out];
            for j in 0..n_out {
                for i in 0..n_in {
                    wt[i * n_out + j] = w[j * n_in + i];
                }
            }
            let b: Vec<f64> = (0..n_out).map(|j| layer.bias_at(j).as_f64()).collect();
            if let Some(bad) = b.iter().position(|x| !x.is_finite()) {
                return Err(Error::Value(format!(
                    "layer {l}: bias [{bad}] is not finite"
                )));
            }
            let mut lo = vec![1.0; n_out];
            let mut hi = vec![1.0; n_out];
            let mut cuts = Vec::new();
            for j in 0..n_out {
                let act = layer.unit_activation(j);
                match act.pwl_slopes() {
                    Some((a, c)) => {
                        lo[j] = a;
                        hi[j] = c;
                        if a != c {
                            cuts.push(j);
                        }
                    }
                    None if l + 1 == nl => output_is_logit = true,
                    None => {
                        return Err(Error::Unsupported(format!(
                            "layer {l}: activation '{}' is not piecewise linear, so the network \
                             has no exact linear regions (use the sampling estimate instead)",
                            act.name()
                        )))
                    }
                }
            }
            let words = if cuts.is_empty() {
                0
            } else {
                n_out.div_ceil(64)
            };
            layers.push(GeoLayer {
                n_in,
                n_out,
                wt,
                w,
                b,
                lo,
                hi,
                cuts,
                word_offset: word,
                words,
            });
            word += words;
        }
        Ok(GeoNet {
            layers,
            pattern_words: word,
            output_is_logit,
        })
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.layers[0].n_in
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// Words (u64) in one activation pattern.
    pub fn pattern_words(&self) -> usize {
        self.pattern_words
    }

    /// True when maps describe the last layer's pre-activation (non-PWL output activation).
    pub fn output_is_logit(&self) -> bool {
        self.output_is_logit
    }

    /// A pattern as one string of '0'/'1' per layer with cutting units (unit order; '1' when
    /// z > 0), as the JSON output shows it.
    pub fn pattern_strings(&self, pat: &[u64]) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| l.words > 0)
            .map(|l| {
                (0..l.n_out)
                    .map(|j| {
                        if pat[l.word_offset + j / 64] >> (j % 64) & 1 == 1 {
                            '1'
                        } else {
                            '0'
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The activation pattern of one input, as enumeration stores it: bit j of layer l's words
    /// is 1 when z_{l,j} > 0 (only layers with cutting units have words). Also returns the
    /// smallest |z| relative to its scale over all cutting units (how close x lies to a
    /// boundary), so tests can allow ties.
    pub fn pattern_of(&self, x: &[f64]) -> (Vec<u64>, f64) {
        let mut pat = vec![0u64; self.pattern_words];
        let mut a = x.to_vec();
        let mut closest = f64::INFINITY;
        for layer in &self.layers {
            let mut next = vec![0.0; layer.n_out];
            for (j, zj) in next.iter_mut().enumerate() {
                let row = &layer.w[j * layer.n_in..(j + 1) * layer.n_in];
                let mut acc = layer.b[j];
                let mut scale = layer.b[j].abs();
                for (w, ai) in row.iter().zip(&a) {
                    acc += w * ai;
                    scale += (w * ai).abs();
                }
                *zj = acc;
                if layer.lo[j] != layer.hi[j] {
                    if acc > 0.0 {
                        pat[layer.word_offset + j / 64] |= 1 << (j % 64);
                    }
                    if scale > 0.0 {
                        closest = closest.min(acc.abs() / scale);
                    }
                }
            }
            a = next
                .iter()
                .enumerate()
                .map(|(j, &z)| {
                    if z > 0.0 {
                        layer.hi[j] * z
                    } else {
                        layer.lo[j] * z
                    }
                })
                .collect();
        }
        (pat, closest)
    }
}
