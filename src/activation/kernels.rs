//! Slice kernels: forward and backward of an [`Activation`] over contiguous buffers.
//!
//! This first version is the plain generic loop over the f64 reference (correct, slow); the
//! SIMD versions with runtime dispatch replace the bodies without changing the signatures.

use super::Activation;
use crate::real::Real;

/// y[i] = f(x[i]).
pub fn forward<T: Real>(act: &Activation, x: &[T], y: &mut [T]) {
    assert_eq!(x.len(), y.len(), "forward: length mismatch");
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = T::of_f64(act.f(xi.as_f64()));
    }
}

/// x[i] = f(x[i]).
pub fn forward_inplace<T: Real>(act: &Activation, x: &mut [T]) {
    for xi in x.iter_mut() {
        *xi = T::of_f64(act.f(xi.as_f64()));
    }
}

/// grad_in[i] = grad_out[i] · f'(x[i]), x being the pre-activation.
pub fn backward<T: Real>(act: &Activation, x: &[T], grad_out: &[T], grad_in: &mut [T]) {
    assert_eq!(x.len(), grad_out.len(), "backward: length mismatch");
    assert_eq!(x.len(), grad_in.len(), "backward: length mismatch");
    for ((gi, &go), &xi) in grad_in.iter_mut().zip(grad_out).zip(x) {
        *gi = go * T::of_f64(act.df(xi.as_f64()));
    }
}

/// grad[i] *= f'(x[i]).
pub fn backward_inplace<T: Real>(act: &Activation, x: &[T], grad: &mut [T]) {
    assert_eq!(x.len(), grad.len(), "backward: length mismatch");
    for (g, &xi) in grad.iter_mut().zip(x) {
        *g *= T::of_f64(act.df(xi.as_f64()));
    }
}

/// PReLU backward with one slope α for the whole slice: grad_in = grad_out·f'(x) and
/// returns dα = Σ grad_out[i]·min(0, x[i]).
pub fn prelu_backward<T: Real>(alpha: T, x: &[T], grad_out: &[T], grad_in: &mut [T]) -> T {
    let act = Activation::Prelu {
        alpha: alpha.as_f64(),
    };
    backward(&act, x, grad_out, grad_in);
    let mut dalpha = T::zero();
    for (&go, &xi) in grad_out.iter().zip(x) {
        if xi < T::zero() || xi.is_nan() {
            dalpha += go * xi;
        }
    }
    dalpha
}
