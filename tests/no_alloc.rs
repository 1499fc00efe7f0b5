//! A training step allocates nothing once the buffers have grown: count heap allocations made
//! by this thread during a second epoch. The only exception is inside the `faer` crate used
//! for large products, which may allocate its packing buffers per call (its matmul takes no
//! caller scratch). The test bounds those by count and size; relulab's own buffers are all
//! reused.

use relulab::train::{TrainSpec, Trainer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        let _ = LARGEST.try_with(|c| c.set(c.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        let _ = LARGEST.try_with(|c| c.set(c.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, largest allocation in bytes, steps) of the second epoch.
fn allocations_in_second_epoch(spec: TrainSpec) -> (usize, usize, u64) {
    let p = spec.prepare().unwrap();
    let mut t = Trainer::new(p.mlp, p.config);
    t.train_epoch(&p.train, &mut []).unwrap();
    let before = COUNT.with(|c| c.get());
    LARGEST.with(|c| c.set(0));
    let steps = t.optimizer.step;
    t.train_epoch(&p.train, &mut []).unwrap();
    (
        COUNT.with(|c| c.get()) - before,
        LARGEST.with(|c| c.get()),
        t.optimizer.step - steps,
    )
}

#[test]
fn training_steps_do_not_allocate() {
    // Small layers (register-blocked loops) and a large one (faer), Adam and SGD, PReLU.
    let small = TrainSpec {
        dataset: Some("moons".into()),
        hidden: vec![16, 16, 16],
        activation: "prelu".into(),
        ..TrainSpec::default()
    };
    let (allocs, _, steps) = allocations_in_second_epoch(small);
    assert!(steps >= 10);
    assert_eq!(allocs, 0, "{allocs} allocations in {steps} steps");
    let large = TrainSpec {
        dataset: Some("digits".into()),
        hidden: vec![256, 256],
        optimizer: "sgd".into(),
        ..TrainSpec::default()
    };
    let (allocs, largest, steps) = allocations_in_second_epoch(large);
    assert!(steps >= 40);
    // 8 faer products per step (3 forward, 3 ∂W, 2 ∂a), each with ≤ 2 allocations.
    assert!(
        allocs <= 16 * steps as usize,
        "{allocs} allocations in {steps} steps"
    );
    assert!(
        largest <= 1 << 20,
        "an allocation of {largest} bytes during training steps"
    );
}
