//! The reference batched passes against central finite differences in f64.

use relulab::{Activation, Grads, Mlp, Trace};

/// A small deterministic pseudo-random stream (tests must not depend on rand's versioning).
fn lcg(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

fn net(hidden: Activation, seed: u64) -> Mlp<f64> {
    let mut m = Mlp::<f64>::zeros(&[3, 5, 4, 2], hidden, Activation::Identity, true);
    let mut s = seed;
    for layer in &mut m.layers {
        for w in &mut layer.weight {
            *w = lcg(&mut s);
        }
        for b in layer.bias.as_mut().unwrap() {
            *b = 0.3 * lcg(&mut s);
        }
        if !layer.prelu_alpha.is_empty() {
            layer.prelu_alpha = (0..layer.out_dim)
                .map(|_| 0.2 + 0.1 * lcg(&mut s))
                .collect();
        }
    }
    m
}

/// L = Σ c_k · y_k with fixed coefficients, so ∂L/∂y = c.
fn loss(m: &Mlp<f64>, x: &[f64], batch: usize, c: &[f64]) -> f64 {
    let mut t = Trace::default();
    m.forward_batch(x, batch, &mut t);
    t.output().iter().zip(c).map(|(y, c)| y * c).sum()
}

#[test]
fn backward_matches_central_differences() {
    let acts = [
        Activation::RELU,
        Activation::leaky(0.1),
        Activation::Prelu { alpha: 0.25 },
        Activation::relu_eps(0.05),
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Elu { alpha: 1.0 },
        Activation::Silu,
        Activation::Softplus {
            beta: 1.0,
            threshold: 20.0,
        },
    ];
    for (ai, act) in acts.iter().enumerate() {
        let m = net(*act, 7 + ai as u64);
        let batch = 4;
        let mut s = 99;
        let x: Vec<f64> = (0..batch * 3).map(|_| 2.0 * lcg(&mut s)).collect();
        let c: Vec<f64> = (0..batch * 2).map(|_| lcg(&mut s)).collect();
        let mut t = Trace::default();
        m.forward_batch(&x, batch, &mut t);
        let mut g = Grads::default();
        m.backward_batch(&t, &c, &mut g);
        let h = 1e-6;
        for l in 0..m.layers.len() {
            for k in 0..m.layers[l].weight.len() {
                let mut p = m.clone();
                p.layers[l].weight[k] += h;
                let mut q = m.clone();
                q.layers[l].weight[k] -= h;
                let fd = (loss(&p, &x, batch, &c) - loss(&q, &x, batch, &c)) / (2.0 * h);
                let an = g.weight[l][k];
                assert!(
                    (fd - an).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{act}: layer {l} weight {k}: finite difference {fd} vs backward {an}"
                );
            }
            for k in 0..m.layers[l].out_dim {
                let mut p = m.clone();
                p.layers[l].bias.as_mut().unwrap()[k] += h;
                let mut q = m.clone();
                q.layers[l].bias.as_mut().unwrap()[k] -= h;
                let fd = (loss(&p, &x, batch, &c) - loss(&q, &x, batch, &c)) / (2.0 * h);
                assert!((fd - g.bias[l][k]).abs() <= 1e-6 * (1.0 + fd.abs()));
            }
            for k in 0..m.layers[l].prelu_alpha.len() {
                let mut p = m.clone();
                p.layers[l].prelu_alpha[k] += h;
                let mut q = m.clone();
                q.layers[l].prelu_alpha[k] -= h;
                let fd = (loss(&p, &x, batch, &c) - loss(&q, &x, batch, &c)) / (2.0 * h);
                assert!(
                    (fd - g.prelu_alpha[l][k]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "prelu alpha {l}/{k}: {fd} vs {}",
                    g.prelu_alpha[l][k]
                );
            }
        }
        for k in 0..x.len() {
            let mut xp = x.clone();
            xp[k] += h;
            let mut xq = x.clone();
            xq[k] -= h;
            let fd = (loss(&m, &xp, batch, &c) - loss(&m, &xq, batch, &c)) / (2.0 * h);
            assert!((fd - g.input[k]).abs() <= 1e-6 * (1.0 + fd.abs()));
        }
    }
}

#[test]
fn batched_forward_equals_per_sample_forward() {
    let m = net(Activation::RELU, 3);
    let mut s = 5;
    let x: Vec<f64> = (0..6 * 3).map(|_| lcg(&mut s)).collect();
    let mut t = Trace::default();
    m.forward_batch(&x, 6, &mut t);
    for smp in 0..6 {
        let y = m.forward_one(&x[smp * 3..smp * 3 + 3]);
        assert_eq!(&t.output()[smp * 2..smp * 2 + 2], y.as_slice());
    }
}
