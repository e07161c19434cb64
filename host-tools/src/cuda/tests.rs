//! The GPU path on the CPU emulator (the same kernel source, cuBLAS's conventions) against the
//! CPU model: teacher-forced logits, sampled generation, batches, resuming, the encoder, and
//! the pool; plus the placement flags and the no-driver error, and (run by hand) the
//! measurements behind the limits of `scripts/gpu-check.sh`.

use super::emulator::Emulator;
use super::executor::Executor;
use super::*;
use crate::model::testing::{
    equal_share, max_relative_difference, nsynth_small, test_audio, tiny_shape, MapSource,
    SmallFixture,
};
use crate::model::{Generator, Model, Note, HOP_LENGTH};

fn tiny_model(seed: u64) -> Model {
    Model::load(&MapSource::random(&tiny_shape(), seed), tiny_shape().stages).unwrap()
}

fn worker(model: &Model, precision: Precision) -> GpuWorker<Emulator> {
    GpuWorker::new("emulated".into(), Emulator::default(), model, precision).unwrap()
}

fn embedding(model: &Model, frames: usize, seed: u64) -> Vec<f32> {
    model
        .encode(&test_audio(frames * HOP_LENGTH, seed))
        .unwrap()
        .data
}

fn gpu_logits(model: &Model, precision: Precision, audio: &[f32], embedding: &[f32]) -> Vec<f32> {
    let mut worker = worker(model, precision);
    teacher_forced_logits(&mut worker.executor, &worker.decoder, audio, embedding).unwrap()
}

#[test]
fn teacher_forced_logits_match_the_cpu() {
    let model = tiny_model(41);
    let embedding = embedding(&model, 3, 5);
    // Across a frame boundary, long enough for every history ring to wrap.
    let audio = test_audio(HOP_LENGTH + 300, 6);
    let cpu = model
        .teacher_forced_logits(&audio, &embedding)
        .unwrap()
        .data;
    let fp32 = gpu_logits(&model, Precision::Fp32, &audio, &embedding);
    assert_eq!(fp32.len(), cpu.len());
    let difference = max_relative_difference(&fp32, &cpu);
    assert!(difference < 1e-4, "fp32 differs by {difference}");
    // Rounded storage and products differ more, but stay close.
    for precision in [Precision::Tf32, Precision::Bf16] {
        let rounded = gpu_logits(&model, precision, &audio, &embedding);
        let difference = max_relative_difference(&rounded, &cpu);
        eprintln!(
            "{precision:?} logits differ from the CPU's by at most {difference:.2e} (relative)"
        );
        assert!(
            difference > 1e-6 && difference < 0.1,
            "{precision:?} differs by {difference}"
        );
    }
}

fn notes<'a>(embeddings: &[&'a [f32]], seeds: &[u64]) -> Vec<Note<'a>> {
    embeddings
        .iter()
        .zip(seeds)
        .map(|(&embedding, &seed)| Note {
            embedding,
            seed,
            prefix: &[],
        })
        .collect()
}

fn gpu_generate(worker: &mut GpuWorker<Emulator>, notes: &[Note<'_>]) -> Vec<Vec<f32>> {
    generate(&mut worker.executor, &worker.decoder, notes, |_, _| true)
        .unwrap()
        .unwrap()
}

#[test]
fn sampled_generation_matches_the_cpu_and_ignores_the_batch() {
    let model = tiny_model(42);
    let long = embedding(&model, 3, 7);
    let short = embedding(&model, 1, 8);
    let cpu = crate::model::generate(&model, &notes(&[&long, &short], &[3, 4]), 512, |_, _| true)
        .unwrap()
        .unwrap();
    let mut worker = worker(&model, Precision::Fp32);
    let gpu = gpu_generate(&mut worker, &notes(&[&long, &short], &[3, 4]));
    assert_eq!(gpu[0].len(), 3 * HOP_LENGTH);
    assert_eq!(gpu[1].len(), HOP_LENGTH);
    assert_eq!(gpu, cpu);
    // The same note alone, or second in another batch, makes the same audio.
    assert_eq!(
        gpu_generate(&mut worker, &notes(&[&short], &[4]))[0],
        gpu[1]
    );
    assert_eq!(
        gpu_generate(&mut worker, &notes(&[&short, &long], &[4, 3]))[1],
        gpu[0]
    );
}

#[test]
fn a_resumed_note_continues_as_if_never_stopped() {
    let model = tiny_model(43);
    let embedding = embedding(&model, 2 * CHUNK / HOP_LENGTH + 1, 9);
    let mut worker = worker(&model, Precision::Fp32);
    let whole = gpu_generate(&mut worker, &notes(&[&embedding], &[5])).remove(0);
    let mut reports = Vec::new();
    let stopped = generate(
        &mut worker.executor,
        &worker.decoder,
        &notes(&[&embedding], &[5]),
        |time, audio| {
            reports.push(time);
            assert_eq!(audio[0][..time], whole[..time]);
            false
        },
    )
    .unwrap();
    assert!(stopped.is_none());
    assert_eq!(reports, [CHUNK]);
    let resumed = Note {
        embedding: &embedding,
        seed: 5,
        prefix: &whole[..CHUNK + 100],
    };
    let mut times = Vec::new();
    let finished = generate(
        &mut worker.executor,
        &worker.decoder,
        &[resumed],
        |time, _| {
            times.push(time);
            true
        },
    )
    .unwrap()
    .unwrap();
    assert_eq!(finished[0], whole);
    assert_eq!(times, [CHUNK, 2 * CHUNK, whole.len()]);
}

#[test]
fn the_encoder_matches_the_cpu() {
    let model = tiny_model(44);
    let audio = test_audio(3 * HOP_LENGTH, 10);
    let cpu = model.encode(&audio).unwrap().data;
    let mut worker = worker(&model, Precision::Fp32);
    let gpu = worker.encoder.encode(&mut worker.executor, &audio).unwrap();
    let difference = max_relative_difference(&gpu, &cpu);
    assert!(difference < 1e-5, "{difference}");
    assert!(worker
        .encoder
        .encode(&mut worker.executor, &audio[..100])
        .is_err());
}

#[test]
fn a_step_does_the_generators_multiply_adds_and_allocates_nothing_new() {
    let model = tiny_model(45);
    let mut worker = worker(&model, Precision::Tf32);
    let embedding = embedding(&model, 1, 11);
    let notes = notes(&[&embedding, &embedding, &embedding], &[1, 2, 3]);
    let batch_notes = decoder::BatchNotes {
        embeddings: notes.iter().map(|n| n.embedding).collect(),
        seeds: vec![1, 2, 3],
        prefix_inputs: vec![Vec::new(); 3],
    };
    let batch =
        decoder::DecoderBatch::new(&mut worker.executor, &worker.decoder, &batch_notes, CHUNK)
            .unwrap();
    // The start conv (taps × width multiply-adds per note) is a kernel, the rest products.
    let shape = model.shape();
    let start_conv = shape.filter_length * shape.decoder_width;
    let per_note = Generator::macs_per_step(shape);
    assert_eq!(macs(&batch.step_ops), 3 * (per_note - start_conv as u64));
    // Kernels: start conv, per layer gather and gate, two bias/ReLU, sample, advance.
    let layers = model.shape().decoder_layers;
    let launches = batch
        .step_ops
        .iter()
        .filter(|op| matches!(op, plan::Op::Launch(_)))
        .count();
    assert_eq!(launches, 1 + 2 * layers + 2 + 2);
    worker.executor.run(&batch.step_ops).unwrap();
    // The last operation advances the step counter every kernel reads.
    let Some(plan::Op::Launch(advance)) = batch.step_ops.last() else {
        panic!("a step ends with a launch");
    };
    assert_eq!(advance.kernel, plan::Kernel::Advance);
    let plan::Arg::Buffer(counter) = advance.args[0] else {
        panic!("advance takes the counter");
    };
    let time = worker.executor.download(counter.buffer, 0, 4).unwrap();
    assert_eq!(time, 1u32.to_le_bytes());
    batch.free(&mut worker.executor).unwrap();
}

#[test]
fn a_pool_lends_each_worker_to_one_thread_at_a_time() {
    let model = tiny_model(46);
    let pool = GpuPool::new(vec![
        worker(&model, Precision::Fp32),
        worker(&model, Precision::Fp32),
    ]);
    let embedding = embedding(&model, 1, 12);
    let outputs: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|seed| {
                let (pool, embedding) = (&pool, &embedding);
                scope.spawn(move || {
                    pool.with_worker(|worker| {
                        gpu_generate(worker, &notes(&[embedding], &[seed])).remove(0)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let alone = crate::model::generate(&model, &notes(&[&embedding], &[2]), 512, |_, _| true)
        .unwrap()
        .unwrap();
    assert_eq!(outputs[2], alone[0]);
    assert_ne!(outputs[0], outputs[1]);
}

#[test]
fn placements_parse_from_the_flags() {
    assert_eq!(Placement::parse("cpu", None), Ok(Placement::Cpu));
    assert_eq!(
        Placement::parse("cuda:2", None),
        Ok(Placement::Cuda(vec![2]))
    );
    assert_eq!(Placement::parse("cuda", None), Ok(Placement::Cuda(vec![0])));
    assert_eq!(
        Placement::parse("cpu", Some("0,1, 3")),
        Ok(Placement::Cuda(vec![0, 1, 3]))
    );
    assert!(Placement::parse("gpu0", None)
        .unwrap_err()
        .contains("cuda:N"));
    assert!(Placement::parse("cpu", Some("0,x"))
        .unwrap_err()
        .contains("\"x\""));
    assert!(Placement::parse("cpu", Some("1,1"))
        .unwrap_err()
        .contains("twice"));
    assert_eq!("BF16".parse(), Ok(Precision::Bf16));
    assert!("fp16".parse::<Precision>().is_err());
}

#[test]
fn without_a_driver_opening_a_gpu_is_one_clear_error() {
    match CudaDevice::open(0) {
        Err(GpuError::MissingLibrary { library, .. }) => {
            let message = CudaDevice::open(0).err().unwrap().to_string();
            assert!(
                message.contains(library) && message.contains("--device cpu"),
                "{message}"
            );
            assert_eq!(device_count(), 0);
        }
        // On a machine with a GPU (or the driver but no GPU) opening works or names the device.
        Ok(device) => assert!(device.label().starts_with("cuda:0 (")),
        Err(GpuError::NoSuchDevice { count, .. }) => assert_eq!(count, device_count()),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The measurements behind the limits of `scripts/gpu-check.sh`: the fixture model
/// (`tests/fixtures/nsynth_small`) on the emulator against the CPU, in each precision, on the
/// script's inputs: teacher-forced logits of the fixture recording (largest relative
/// difference), its embedding, and the share of equal samples over the notes the script
/// generates (the fixture embedding as `fixture0` to `fixture7`, run seed 3), with unrelated
/// notes (neighbouring seeds on the CPU) for scale. Minutes in a debug build, so run by hand:
/// `cargo test -p host-tools --lib gpu_check_measurements -- --ignored --nocapture`.
#[test]
#[ignore = "minutes long; prints the numbers behind scripts/gpu-check.sh"]
fn gpu_check_measurements() {
    let SmallFixture {
        model,
        audio,
        embedding,
    } = nsynth_small();
    let embedding = &embedding[..];
    let names: Vec<String> = (0..8).map(|i| format!("fixture{i}")).collect();
    let seeds: Vec<u64> = names
        .iter()
        .map(|name| crate::synth::job_seed(3, name))
        .collect();
    let notes = notes(&vec![embedding; names.len()], &seeds);

    let cpu_logits = model.teacher_forced_logits(&audio, embedding).unwrap().data;
    let cpu_embedding = model.encode(&audio).unwrap().data;
    let cpu_audio = crate::model::generate(&model, &notes, 512, |_, _| true)
        .unwrap()
        .unwrap();
    let mut unrelated = cpu_audio.clone();
    unrelated.rotate_left(1);
    eprintln!(
        "unrelated notes (CPU): equal share {:.4}",
        equal_share(&cpu_audio, &unrelated)
    );
    for precision in [Precision::Fp32, Precision::Tf32, Precision::Bf16] {
        let mut worker = worker(&model, precision);
        let logits = gpu_logits(&model, precision, &audio, embedding);
        let encoded = worker.encoder.encode(&mut worker.executor, &audio).unwrap();
        let generated = gpu_generate(&mut worker, &notes);
        let share = equal_share(&generated, &cpu_audio);
        eprintln!(
            "{}: logits {:.2e}, embedding {:.2e} (relative); equal share {share:.4}",
            precision.name(),
            max_relative_difference(&logits, &cpu_logits),
            max_relative_difference(&encoded, &cpu_embedding),
        );
        if precision == Precision::Fp32 {
            assert_eq!(share, 1.0, "emulated fp32 samples as the CPU does");
        }
    }
}
