//! Dense-layer matrix products for the batched passes.
//!
//! Two paths, chosen per product by size:
//! * small products (the tiny and deep-narrow networks of the seed's experiments) run in
//!   axpy-shaped loops over contiguous rows, with no allocation, no thread dispatch and no
//!   per-call set-up; they are compiled three times (AVX-512, AVX2, baseline x86-64) and the
//!   widest the CPU supports is picked once per [`Simd::detect`]. These loops never reassociate
//!   a sum, so every path gives the same bits;
//! * large products go to the `gemm` crate (runtime-dispatched packed micro-kernels, rayon
//!   threads when `threads > 1`), chosen over hand-written loops by the benchmark in
//!   benches/train.rs (see ARCHITECTURE.md).
//!
//! Layouts: activations are sample-major (batch × width), W is out × in row-major.

use crate::real::Real;

/// Products with m·n·k below this run in the small loops (measured crossover, benches/train.rs).
pub const SMALL_MAX: usize = 1 << 16;
/// Products with m·n·k at least this use several threads when allowed.
pub const PARALLEL_MIN: usize = 1 << 21;

/// The widest vector instruction set the small loops are compiled for on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// AVX-512F (512-bit vectors).
    Avx512,
    /// AVX2 + FMA (256-bit vectors).
    Avx2,
    /// The target's baseline (SSE2 on x86-64).
    Plain,
}

impl Simd {
    /// Detect once at run time.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Simd::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Simd::Avx2;
            }
        }
        Simd::Plain
    }
}

macro_rules! multiversion {
    ($(#[$doc:meta])* $name:ident => $body:ident ( $($p:ident : $t:ty),* )) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        fn $name<T: Real>(simd: Simd, $($p: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v512<T: Real>($($p: $t),*) {
                    $body($($p),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v256<T: Real>($($p: $t),*) {
                    $body($($p),*)
                }
                match simd {
                    // SAFETY: the features were detected at run time by `Simd::detect`.
                    Simd::Avx512 => return unsafe { v512($($p),*) },
                    Simd::Avx2 => return unsafe { v256($($p),*) },
                    Simd::Plain => {}
                }
            }
            let _ = simd;
            $body($($p),*)
        }
    };
}

#[inline(always)]
fn axpy<T: Real>(y: &mut [T], a: T, x: &[T]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_small_body<T: Real>(
    batch: usize,
    i: usize,
    o: usize,
    a: &[T],
    wt: &[T],
    bias: Option<&[T]>,
    shift: T,
    z: &mut [T],
) {
    for s in 0..batch {
        let zrow = &mut z[s * o..(s + 1) * o];
        match bias {
            Some(b) => {
                for (zj, &bj) in zrow.iter_mut().zip(b) {
                    *zj = bj + shift;
                }
            }
            None => zrow.iter_mut().for_each(|zj| *zj = shift),
        }
        let arow = &a[s * i..(s + 1) * i];
        for (k, &av) in arow.iter().enumerate() {
            axpy(zrow, av, &wt[k * o..(k + 1) * o]);
        }
    }
}

multiversion!(
    /// z = a·Wᵀ + b + shift, with Wᵀ (in × out) given.
    forward_small => forward_small_body(batch: usize, i: usize, o: usize, a: &[T], wt: &[T], bias: Option<&[T]>, shift: T, z: &mut [T])
);

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn grad_w_body<T: Real>(
    batch: usize,
    i: usize,
    o: usize,
    a: &[T],
    gz: &[T],
    gw: &mut [T],
    gb: &mut [T],
    gwt: &mut [T],
) {
    gb.iter_mut().for_each(|g| *g = T::zero());
    if !gb.is_empty() {
        for s in 0..batch {
            for (gbj, &g) in gb.iter_mut().zip(&gz[s * o..(s + 1) * o]) {
                *gbj += g;
            }
        }
    }
    if o >= i {
        // Accumulate (∂L/∂W)ᵀ (in × out) with axpys of length out, then transpose.
        gwt.iter_mut().for_each(|g| *g = T::zero());
        for s in 0..batch {
            let gzrow = &gz[s * o..(s + 1) * o];
            for (k, &av) in a[s * i..(s + 1) * i].iter().enumerate() {
                axpy(&mut gwt[k * o..(k + 1) * o], av, gzrow);
            }
        }
        for j in 0..o {
            for k in 0..i {
                gw[j * i + k] = gwt[k * o + j];
            }
        }
    } else {
        gw.iter_mut().for_each(|g| *g = T::zero());
        for s in 0..batch {
            let arow = &a[s * i..(s + 1) * i];
            for (j, &g) in gz[s * o..(s + 1) * o].iter().enumerate() {
                axpy(&mut gw[j * i..(j + 1) * i], g, arow);
            }
        }
    }
}

multiversion!(
    /// ∂L/∂W = gzᵀ·a and ∂L/∂b = Σ_s gz (small products).
    grad_w_small => grad_w_body(batch: usize, i: usize, o: usize, a: &[T], gz: &[T], gw: &mut [T], gb: &mut [T], gwt: &mut [T])
);

#[inline(always)]
fn grad_in_body<T: Real>(batch: usize, i: usize, o: usize, gz: &[T], w: &[T], down: &mut [T]) {
    for s in 0..batch {
        let drow = &mut down[s * i..(s + 1) * i];
        drow.iter_mut().for_each(|d| *d = T::zero());
        for (j, &g) in gz[s * o..(s + 1) * o].iter().enumerate() {
            axpy(drow, g, &w[j * i..(j + 1) * i]);
        }
    }
}

multiversion!(
    /// ∂L/∂a_prev = gz·W (small products).
    grad_in_small => grad_in_body(batch: usize, i: usize, o: usize, gz: &[T], w: &[T], down: &mut [T])
);

fn parallelism(m: usize, n: usize, k: usize, threads: usize) -> gemm::Parallelism {
    if threads > 1 && m * n * k >= PARALLEL_MIN {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

/// dst (m × n, strides rs/cs) = [dst +] lhs (m × k) · rhs (k × n), through `gemm`.
#[allow(clippy::too_many_arguments)]
fn gemm_into<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: &[T],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (usize, usize),
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // Bounds: the largest index each operand is read or written at.
    let last = |r: usize, c: usize, rs: usize, cs: usize| (r - 1) * rs + (c - 1) * cs;
    assert!(last(m, n, dst_rs, dst_cs) < dst.len());
    if k > 0 {
        assert!(last(m, k, lhs_rs, lhs_cs) < lhs.len());
        assert!(last(k, n, rhs_rs, rhs_cs) < rhs.len());
    }
    // SAFETY: the asserts above keep every access inside the slices; dst does not alias the
    // inputs (distinct borrows). T is f32 or f64, both supported by gemm.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism(m, n, k, threads),
        )
    }
}

/// z (batch × o) = a (batch × i) · Wᵀ + b + shift. `wt` is scratch for Wᵀ.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward<T: Real>(
    simd: Simd,
    batch: usize,
    i: usize,
    o: usize,
    a: &[T],
    w: &[T],
    bias: Option<&[T]>,
    shift: T,
    z: &mut [T],
    wt: &mut Vec<T>,
    threads: usize,
) {
    assert_eq!(a.len(), batch * i);
    assert_eq!(w.len(), o * i);
    assert_eq!(z.len(), batch * o);
    if batch * i * o < SMALL_MAX {
        wt.resize(i * o, T::zero());
        for j in 0..o {
            for k in 0..i {
                wt[k * o + j] = w[j * i + k];
            }
        }
        forward_small(simd, batch, i, o, a, wt, bias, shift, z);
    } else {
        for zrow in z.chunks_exact_mut(o) {
            match bias {
                Some(b) => {
                    for (zj, &bj) in zrow.iter_mut().zip(b) {
                        *zj = bj + shift;
                    }
                }
                None => zrow.iter_mut().for_each(|zj| *zj = shift),
            }
        }
        let accumulate = bias.is_some() || shift != T::zero();
        // rhs = Wᵀ: element (k, j) at w[j*i + k].
        gemm_into(
            batch,
            o,
            i,
            z,
            (o, 1),
            accumulate,
            a,
            (i, 1),
            w,
            (1, i),
            threads,
        );
    }
}

/// ∂L/∂W (o × i) = gzᵀ · a and ∂L/∂b = Σ_s gz (`gb` empty for bias-free layers).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_params<T: Real>(
    simd: Simd,
    batch: usize,
    i: usize,
    o: usize,
    a: &[T],
    gz: &[T],
    gw: &mut [T],
    gb: &mut [T],
    gwt: &mut Vec<T>,
    threads: usize,
) {
    assert_eq!(a.len(), batch * i);
    assert_eq!(gz.len(), batch * o);
    assert_eq!(gw.len(), o * i);
    if batch * i * o < SMALL_MAX {
        gwt.resize(if o >= i { i * o } else { 0 }, T::zero());
        grad_w_small(simd, batch, i, o, a, gz, gw, gb, gwt);
    } else {
        gb.iter_mut().for_each(|g| *g = T::zero());
        if !gb.is_empty() {
            for gzrow in gz.chunks_exact(o) {
                for (gbj, &g) in gb.iter_mut().zip(gzrow) {
                    *gbj += g;
                }
            }
        }
        if batch == 0 {
            gw.iter_mut().for_each(|g| *g = T::zero());
            return;
        }
        // lhs = gzᵀ: element (j, s) at gz[s*o + j].
        gemm_into(
            o,
            i,
            batch,
            gw,
            (i, 1),
            false,
            gz,
            (1, o),
            a,
            (i, 1),
            threads,
        );
    }
}

/// ∂L/∂a_prev (batch × i) = gz (batch × o) · W (o × i).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_input<T: Real>(
    simd: Simd,
    batch: usize,
    i: usize,
    o: usize,
    gz: &[T],
    w: &[T],
    down: &mut [T],
    threads: usize,
) {
    assert_eq!(gz.len(), batch * o);
    assert_eq!(w.len(), o * i);
    assert_eq!(down.len(), batch * i);
    if batch * i * o < SMALL_MAX {
        grad_in_small(simd, batch, i, o, gz, w, down);
    } else {
        if o == 0 {
            down.iter_mut().for_each(|d| *d = T::zero());
            return;
        }
        gemm_into(
            batch,
            i,
            o,
            down,
            (i, 1),
            false,
            gz,
            (o, 1),
            w,
            (i, 1),
            threads,
        );
    }
}
