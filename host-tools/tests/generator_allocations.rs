//! A generation step allocates nothing: a counting global allocator around steps and frame
//! changes of a model big enough for the products to run on several threads. It counts on
//! rayon's pool threads, where the step and its products run; the harness's threads are not the
//! step's work. (Its own test binary, because other tests would run on the same pool.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use host_tools::model::{Generator, Model, ModelShape, RandomWeights, Stages};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Counts an allocation made on a pool thread. `current_thread_index` reads a plain
/// thread-local pointer, so it never allocates (or re-enters this allocator).
fn count() {
    if rayon::current_thread_index().is_some() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn steps_and_frame_changes_do_not_allocate() {
    let shape = ModelShape {
        filter_length: 3,
        encoder_width: 8,
        encoder_layers: 1,
        bottleneck_width: 16,
        decoder_width: 64,
        skip_width: 64,
        decoder_layers: 4,
        stages: Stages {
            encoder: 1,
            decoder: 2,
        },
    };
    let model = Model::load(&RandomWeights::new(shape.clone(), 1), shape.stages).unwrap();
    let batch = 8;
    let mut generator = Generator::new(&model, batch).unwrap();
    let frame = vec![0.1; batch * shape.bottleneck_width];
    let mut previous = vec![0.0f32; batch];
    // A pool thread allocates once when it starts (its job queue) and on its first steal
    // (crossbeam's epoch registration). The pool starts its threads without waiting for them,
    // and a thread the warm-up steps did not need may start only while steps are counted. Each
    // thread runs a broadcast job only after both, so afterwards none of them is starting.
    rayon::broadcast(|_| ());
    // Steps run on a pool thread, as `generate` runs them.
    let during = rayon::scope(|_| {
        // Only pool threads are counted, so the steps must run on one.
        assert!(rayon::current_thread_index().is_some());
        for _ in 0..8 {
            generator.step(&previous).unwrap();
        }
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for step in 0..200 {
            if step % 50 == 0 {
                generator.set_conditioning(&frame).unwrap();
            }
            let logits = generator.step(&previous).unwrap();
            previous
                .iter_mut()
                .zip(logits.chunks_exact(256))
                .for_each(|(x, row)| *x = row[3].tanh());
        }
        ALLOCATIONS.load(Ordering::SeqCst) - before
    });
    assert_eq!(during, 0, "{during} allocations in 200 steps");
}
