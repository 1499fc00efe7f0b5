//! Dense-layer matrix products for the batched passes.
//!
//! Two paths, chosen per product by size:
//! * small products (the tiny and deep-narrow networks of the seed's experiments) run in
//!   register-blocked loops (16 outputs held in registers across the reduction), with no allocation, no thread dispatch and no
//!   per-call set-up; they are compiled for each [`Level`] (AVX-512, AVX2, baseline x86-64) and
//!   run at the level the caller passes (the checked token: only levels this CPU supports
//!   exist, [`Level::current`] by default). These loops never reassociate
//!   a sum (each runs over k or s in order), so every path gives the same bits;
//! * large products go to `faer`'s matmul (its runtime-dispatched packed micro-kernels, which
//!   include AVX-512 ones on stable Rust; rayon threads when `threads > 1`), chosen over the
//!   `gemm` crate (AVX2-only on stable) and hand-written loops by the benchmark in
//!   benches/train.rs (see ARCHITECTURE.md).
//!
//! Layouts: activations are sample-major (batch × width), W is out × in row-major.

use crate::real::Real;
pub use crate::simd::Level;

/// Products with m·n·k below this run in the small loops (measured crossover, benches/train.rs).
pub const SMALL_MAX: usize = 1 << 16;
/// Products with m·n·k at least this use several threads when allowed.
pub const PARALLEL_MIN: usize = 1 << 21;
/// Threaded products give each thread a block of output rows, a multiple of this many.
const ROW_BLOCK: usize = 16;

/// Compile a loop body once per [`Level`] and run the version `level` names.
macro_rules! multiversion {
    ($(#[$doc:meta])* $name:ident => $body:ident ( $($p:ident : $t:ty),* )) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        fn $name<T: Real>(level: Level, $($p: $t),*) {
            level.run(
                #[inline(always)]
                || $body($($p),*),
            )
        }
    };
}

/// Lanes per register-blocked chunk: 16 f32 fill one AVX-512 register (two AVX2 ones).
const W: usize = 16;

/// z[s, :] = b + shift + Σ_k a[s, k]·Wᵀ[k, :], in chunks of `W` outputs held in registers
/// across the whole k loop (so z is written once), remainder column by column.
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
    let init = |j: usize| bias.map_or(shift, |b| b[j] + shift);
    let full = o / W * W;
    for s in 0..batch {
        let arow = &a[s * i..(s + 1) * i];
        let zrow = &mut z[s * o..(s + 1) * o];
        let mut jc = 0;
        while jc < full {
            let mut acc = [T::zero(); W];
            for (l, v) in acc.iter_mut().enumerate() {
                *v = init(jc + l);
            }
            for (k, &av) in arow.iter().enumerate() {
                let w: &[T; W] = wt[k * o + jc..k * o + jc + W].try_into().expect("W lanes");
                for l in 0..W {
                    acc[l] += av * w[l];
                }
            }
            zrow[jc..jc + W].copy_from_slice(&acc);
            jc += W;
        }
        for (j, zj) in zrow.iter_mut().enumerate().skip(full) {
            let mut acc = init(j);
            for (k, &av) in arow.iter().enumerate() {
                acc += av * wt[k * o + j];
            }
            *zj = acc;
        }
    }
}

multiversion!(
    /// z = a·Wᵀ + b + shift, with Wᵀ (in × out) given.
    forward_small => forward_small_body(batch: usize, i: usize, o: usize, a: &[T], wt: &[T], bias: Option<&[T]>, shift: T, z: &mut [T])
);

/// out(p, q) = Σ_s x[s, p]·y[s, q] for x (batch × P) and y (batch × Q), both sample-major;
/// `store(p, q0, &acc)` receives the sums for q0..q0+len. Each sum runs over s in order.
#[inline(always)]
fn xty_body<T: Real>(
    batch: usize,
    np: usize,
    nq: usize,
    x: &[T],
    y: &[T],
    mut store: impl FnMut(usize, usize, &[T]),
) {
    let full = nq / W * W;
    for p in 0..np {
        let mut qc = 0;
        while qc < full {
            let mut acc = [T::zero(); W];
            for s in 0..batch {
                let xv = x[s * np + p];
                let yv: &[T; W] = y[s * nq + qc..s * nq + qc + W].try_into().expect("W lanes");
                for l in 0..W {
                    acc[l] += xv * yv[l];
                }
            }
            store(p, qc, &acc);
            qc += W;
        }
        for q in full..nq {
            let mut acc = T::zero();
            for s in 0..batch {
                acc += x[s * np + p] * y[s * nq + q];
            }
            store(p, q, &[acc]);
        }
    }
}

#[inline(always)]
fn grad_w_body<T: Real>(
    batch: usize,
    i: usize,
    o: usize,
    a: &[T],
    gz: &[T],
    gw: &mut [T],
    gb: &mut [T],
) {
    if !gb.is_empty() {
        let full = o / W * W;
        let mut jc = 0;
        while jc < full {
            let mut acc = [T::zero(); W];
            for s in 0..batch {
                let g: &[T; W] = gz[s * o + jc..s * o + jc + W].try_into().expect("W lanes");
                for l in 0..W {
                    acc[l] += g[l];
                }
            }
            gb[jc..jc + W].copy_from_slice(&acc);
            jc += W;
        }
        for (j, gbj) in gb.iter_mut().enumerate().skip(full) {
            let mut acc = T::zero();
            for s in 0..batch {
                acc += gz[s * o + j];
            }
            *gbj = acc;
        }
    }
    if o >= i {
        // Vectorise along the longer side (units): gw[j, k] for k fixed, j in chunks.
        xty_body(batch, i, o, a, gz, |k, j0, acc| {
            for (l, &v) in acc.iter().enumerate() {
                gw[(j0 + l) * i + k] = v;
            }
        });
    } else {
        xty_body(batch, o, i, gz, a, |j, k0, acc| {
            gw[j * i + k0..j * i + k0 + acc.len()].copy_from_slice(acc);
        });
    }
}

multiversion!(
    /// ∂L/∂W = gzᵀ·a and ∂L/∂b = Σ_s gz (small products).
    grad_w_small => grad_w_body(batch: usize, i: usize, o: usize, a: &[T], gz: &[T], gw: &mut [T], gb: &mut [T])
);

/// down[s, :] = Σ_j gz[s, j]·W[j, :], in register-held chunks of `W` inputs.
#[inline(always)]
fn grad_in_body<T: Real>(batch: usize, i: usize, o: usize, gz: &[T], w: &[T], down: &mut [T]) {
    let full = i / W * W;
    for s in 0..batch {
        let grow = &gz[s * o..(s + 1) * o];
        let drow = &mut down[s * i..(s + 1) * i];
        let mut kc = 0;
        while kc < full {
            let mut acc = [T::zero(); W];
            for (j, &g) in grow.iter().enumerate() {
                let wr: &[T; W] = w[j * i + kc..j * i + kc + W].try_into().expect("W lanes");
                for l in 0..W {
                    acc[l] += g * wr[l];
                }
            }
            drow[kc..kc + W].copy_from_slice(&acc);
            kc += W;
        }
        for (k, dk) in drow.iter_mut().enumerate().skip(full) {
            let mut acc = T::zero();
            for (j, &g) in grow.iter().enumerate() {
                acc += g * w[j * i + k];
            }
            *dk = acc;
        }
    }
}

multiversion!(
    /// ∂L/∂a_prev = gz·W (small products).
    grad_in_small => grad_in_body(batch: usize, i: usize, o: usize, gz: &[T], w: &[T], down: &mut [T])
);

fn parallelism(m: usize, n: usize, k: usize, threads: usize) -> faer::Par {
    if threads > 1 && m * n * k >= PARALLEL_MIN {
        faer::Par::rayon(threads)
    } else {
        faer::Par::Seq
    }
}

/// A row-major m × n matrix in `v`, or its transpose when `t` (then `v` is n × m row-major).
fn view<U>(v: &[U], m: usize, n: usize, t: bool) -> faer::MatRef<'_, U> {
    if t {
        faer::MatRef::from_row_major_slice(v, n, m).transpose()
    } else {
        faer::MatRef::from_row_major_slice(v, m, n)
    }
}

/// Reinterpret a slice of `T` as a slice of `U` when they are the same type.
pub(crate) fn cast<T: 'static, U: 'static>(v: &[T]) -> Option<&[U]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<U>(), v.len()) })
}

/// Mutable form of [`cast`].
pub(crate) fn cast_mut<T: 'static, U: 'static>(v: &mut [T]) -> Option<&mut [U]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<U>(), v.len()) })
}

/// dst (m × n row-major) = [dst +] op(lhs) (m × k) · op(rhs) (k × n) through `faer`, where
/// op(x) is x row-major, or its transpose when the flag is set (x then stored k × m / n × k).
#[allow(clippy::too_many_arguments)]
fn gemm_into<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    accumulate: bool,
    lhs: &[T],
    lhs_t: bool,
    rhs: &[T],
    rhs_t: bool,
    threads: usize,
) {
    fn typed<U: faer::traits::ComplexField + Copy + Send + Sync + 'static>(
        (m, n, k): (usize, usize, usize),
        dst: &mut [U],
        accumulate: bool,
        (lhs, lhs_t): (&[U], bool),
        (rhs, rhs_t): (&[U], bool),
        par: faer::Par,
        one: U,
    ) {
        let accum = if accumulate {
            faer::Accum::Add
        } else {
            faer::Accum::Replace
        };
        let (lhs, rhs) = (view(lhs, m, k, lhs_t), view(rhs, k, n, rhs_t));
        let threads = par.degree();
        if threads > 1 && m >= 2 * ROW_BLOCK {
            // Split the rows of dst (and of lhs) into one contiguous block per thread, each a
            // single-threaded product: measured faster than faer's own threading here (e.g.
            // 64×256×256: 414 vs 270 GFLOP/s, 256×1024×1024: 450 vs 370, best of many, 2
            // threads). No sum is split, so every element is computed as with one thread.
            let per = m.div_ceil(threads).next_multiple_of(ROW_BLOCK);
            rayon::scope(|s| {
                for (c, block) in dst.chunks_mut(per * n).enumerate() {
                    let rows = block.len() / n;
                    let l = lhs.subrows(c * per, rows);
                    s.spawn(move |_| {
                        let d = faer::MatMut::from_row_major_slice_mut(block, rows, n);
                        faer::linalg::matmul::matmul(d, accum, l, rhs, one, faer::Par::Seq);
                    });
                }
            });
            return;
        }
        let dst = faer::MatMut::from_row_major_slice_mut(dst, m, n);
        faer::linalg::matmul::matmul(dst, accum, lhs, rhs, one, par);
    }
    if m == 0 || n == 0 {
        return;
    }
    let par = parallelism(m, n, k, threads);
    let dims = (m, n, k);
    if let (Some(d), Some(l), Some(r)) = (cast_mut::<T, f32>(dst), cast(lhs), cast(rhs)) {
        typed(dims, d, accumulate, (l, lhs_t), (r, rhs_t), par, 1.0f32);
    } else if let (Some(d), Some(l), Some(r)) = (cast_mut::<T, f64>(dst), cast(lhs), cast(rhs)) {
        typed(dims, d, accumulate, (l, lhs_t), (r, rhs_t), par, 1.0f64);
    } else {
        unreachable!("Real is implemented for f32 and f64 only");
    }
}

/// z (batch × o) = a (batch × i) · Wᵀ + b + shift. `wt` is scratch for Wᵀ. Products with
/// batch·i·o < `small_max` use the small loops.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward<T: Real>(
    level: Level,
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
    small_max: usize,
) {
    assert_eq!(a.len(), batch * i);
    assert_eq!(w.len(), o * i);
    assert_eq!(z.len(), batch * o);
    if batch * i * o < small_max {
        wt.resize(i * o, T::zero());
        for j in 0..o {
            for k in 0..i {
                wt[k * o + j] = w[j * i + k];
            }
        }
        forward_small(level, batch, i, o, a, wt, bias, shift, z);
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
        gemm_into(batch, o, i, z, accumulate, a, false, w, true, threads);
    }
}

/// ∂L/∂W (o × i) = gzᵀ · a and ∂L/∂b = Σ_s gz (`gb` empty for bias-free layers).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_params<T: Real>(
    level: Level,
    batch: usize,
    i: usize,
    o: usize,
    a: &[T],
    gz: &[T],
    gw: &mut [T],
    gb: &mut [T],
    threads: usize,
    small_max: usize,
) {
    assert_eq!(a.len(), batch * i);
    assert_eq!(gz.len(), batch * o);
    assert_eq!(gw.len(), o * i);
    if batch * i * o < small_max {
        grad_w_small(level, batch, i, o, a, gz, gw, gb);
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
        gemm_into(o, i, batch, gw, false, gz, true, a, false, threads);
    }
}

/// ∂L/∂a_prev (batch × i) = gz (batch × o) · W (o × i).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward_input<T: Real>(
    level: Level,
    batch: usize,
    i: usize,
    o: usize,
    gz: &[T],
    w: &[T],
    down: &mut [T],
    threads: usize,
    small_max: usize,
) {
    assert_eq!(gz.len(), batch * o);
    assert_eq!(w.len(), o * i);
    assert_eq!(down.len(), batch * i);
    if batch * i * o < small_max {
        grad_in_small(level, batch, i, o, gz, w, down);
    } else {
        if o == 0 {
            down.iter_mut().for_each(|d| *d = T::zero());
            return;
        }
        gemm_into(batch, i, o, down, false, gz, false, w, false, threads);
    }
}
