//! The reference batched passes: plain loops, f64 accumulation of every dot product, the f64
//! activation reference per element. Slow and obviously correct: the oracle the fast passes in
//! [`super::pass`] are tested against. Same layouts and semantics as [`Mlp::forward_batch`] and
//! [`Mlp::backward_batch`].

use super::{Grads, Mlp, Trace};
use crate::real::Real;

impl<T: Real> Mlp<T> {
    /// Reference forward of a batch (`x` is batch × d_in) keeping the trace.
    pub fn forward_batch_reference(&self, x: &[T], batch: usize, trace: &mut Trace<T>) {
        let d_in = self.input_dim();
        assert_eq!(
            x.len(),
            batch * d_in,
            "forward_batch: input is not batch × d_in"
        );
        let nl = self.layers.len();
        trace.batch = batch;
        trace.input.clear();
        trace.input.extend_from_slice(x);
        trace.pre.resize_with(nl, Vec::new);
        trace.post.resize_with(nl, Vec::new);
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = trace.post.split_at_mut(l);
            let a_prev: &[T] = if l == 0 { &trace.input } else { &before[l - 1] };
            let z = &mut trace.pre[l];
            z.resize(batch * layer.out_dim, T::zero());
            for s in 0..batch {
                layer.pre_activation(
                    &a_prev[s * layer.in_dim..(s + 1) * layer.in_dim],
                    &mut z[s * layer.out_dim..(s + 1) * layer.out_dim],
                );
            }
            let a = &mut after[0];
            a.resize(batch * layer.out_dim, T::zero());
            for (k, (ak, &zk)) in a.iter_mut().zip(z.iter()).enumerate() {
                let act = layer.unit_activation(k % layer.out_dim);
                *ak = T::of_f64(act.f(zk.as_f64()));
            }
        }
    }

    /// Reference backward through a traced batch given ∂L/∂(output) (batch × d_out).
    pub fn backward_batch_reference(
        &self,
        trace: &Trace<T>,
        grad_output: &[T],
        grads: &mut Grads<T>,
    ) {
        let nl = self.layers.len();
        let batch = trace.batch;
        assert_eq!(grad_output.len(), batch * self.output_dim());
        grads.weight.resize_with(nl, Vec::new);
        grads.bias.resize_with(nl, Vec::new);
        grads.prelu_alpha.resize_with(nl, Vec::new);
        grads.pre.resize_with(nl, Vec::new);
        let mut upstream: Vec<T> = grad_output.to_vec();
        for l in (0..nl).rev() {
            let layer = &self.layers[l];
            let z = &trace.pre[l];
            let (o, i) = (layer.out_dim, layer.in_dim);
            // dL/dz = dL/da · f'(z); PReLU: dL/dα += dL/da · min(0, z).
            let gz = &mut grads.pre[l];
            gz.resize(batch * o, T::zero());
            let ga = &mut grads.prelu_alpha[l];
            ga.clear();
            ga.resize(layer.prelu_alpha.len(), T::zero());
            for k in 0..batch * o {
                let act = layer.unit_activation(k % o);
                let zk = z[k].as_f64();
                gz[k] = upstream[k] * T::of_f64(act.df(zk));
                if !ga.is_empty() {
                    let idx = if ga.len() == 1 { 0 } else { k % o };
                    ga[idx] += upstream[k] * T::of_f64(act.dparam(zk));
                }
            }
            let a_prev: &[T] = if l == 0 {
                &trace.input
            } else {
                &trace.post[l - 1]
            };
            let gw = &mut grads.weight[l];
            gw.clear();
            gw.resize(o * i, T::zero());
            let gb = &mut grads.bias[l];
            gb.clear();
            if layer.bias.is_some() {
                gb.resize(o, T::zero());
            }
            let mut down = vec![T::zero(); batch * i];
            for s in 0..batch {
                for j in 0..o {
                    let g = gz[s * o + j];
                    if !gb.is_empty() {
                        gb[j] += g;
                    }
                    let row = layer.row(j);
                    for k in 0..i {
                        gw[j * i + k] += g * a_prev[s * i + k];
                        down[s * i + k] += g * row[k];
                    }
                }
            }
            upstream = down;
        }
        grads.input = upstream;
    }
}
