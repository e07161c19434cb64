//! Driving a [`DecoderBatch`] through a whole generation: per frame the conditioning, then the
//! step graph replayed until the frame ends; every [`CHUNK`] samples the chunk's classes are
//! copied to the host while the next chunk computes, turned into audio and reported (that is
//! where the caller saves checkpoints and can stop). Also the teacher-forced logits used to
//! compare the GPU with the CPU. Same contract as [`crate::model::generate`].

use super::decoder::{BatchNotes, DecoderBatch, DecoderWeights};
use super::error::GpuError;
use super::executor::{f32_values, Executor};
use crate::model::mulaw::{class_level, inv_mu_law, network_input, CLASSES};
use crate::model::{note_lengths, teacher_forcing_frames, Note, HOP_LENGTH};

/// Samples between two copies of the classes to the host (and progress reports).
pub const CHUNK: usize = 8 * HOP_LENGTH;

/// Steps recorded in one graph; a frame's 512 steps are this graph replayed.
pub const STEPS_PER_GRAPH: usize = 32;

/// Generates `notes` (see [`crate::model::generate`] for the contract: lock-step batch,
/// per-note seeds and prefixes, `on_progress(time, audio)` at every chunk, stop when it returns
/// `false`).
pub fn generate<E: Executor>(
    executor: &mut E,
    weights: &DecoderWeights,
    notes: &[Note<'_>],
    mut on_progress: impl FnMut(usize, &[Vec<f32>]) -> bool,
) -> Result<Option<Vec<Vec<f32>>>, GpuError> {
    if notes.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let batch_notes = batch_notes(weights, notes)?;
    let batch = DecoderBatch::new(executor, weights, &batch_notes, CHUNK)?;
    let result = run(executor, &batch, notes, &mut on_progress);
    batch.free(executor)?;
    result
}

/// The batch's notes with their lengths checked and their prefixes as decoder inputs.
fn batch_notes<'a>(
    weights: &DecoderWeights,
    notes: &[Note<'a>],
) -> Result<BatchNotes<'a>, GpuError> {
    note_lengths(notes, weights.shape().bottleneck_width)?;
    Ok(BatchNotes {
        embeddings: notes.iter().map(|note| note.embedding).collect(),
        seeds: notes.iter().map(|note| note.seed).collect(),
        prefix_inputs: notes
            .iter()
            .map(|note| note.prefix.iter().map(|&x| network_input(x)).collect())
            .collect(),
    })
}

fn run<E: Executor>(
    executor: &mut E,
    batch: &DecoderBatch,
    notes: &[Note<'_>],
    on_progress: &mut impl FnMut(usize, &[Vec<f32>]) -> bool,
) -> Result<Option<Vec<Vec<f32>>>, GpuError> {
    let graph = record_steps(executor, batch)?;
    let mut audio: Vec<Vec<f32>> = notes
        .iter()
        .zip(&batch.lengths)
        .map(|(note, &length)| {
            let mut track = vec![0.0f32; length];
            track[..note.prefix.len()].copy_from_slice(note.prefix);
            track
        })
        .collect();
    let chunks = batch.samples.div_ceil(batch.chunk);
    for chunk in 0..=chunks {
        if chunk < chunks {
            let start = chunk * batch.chunk;
            let end = (start + batch.chunk).min(batch.samples);
            for frame_start in (start..end).step_by(HOP_LENGTH) {
                run_frame(executor, batch, &graph, HOP_LENGTH.min(end - frame_start))?;
            }
            let bytes = (end - start) * batch.batch;
            executor.start_download(
                batch.classes,
                (chunk % 2) * batch.chunk * batch.batch,
                bytes,
                chunk % 2,
            )?;
        }
        // While that chunk computes, the previous one becomes audio.
        if chunk > 0 {
            let start = (chunk - 1) * batch.chunk;
            let classes = executor.finish_download((chunk - 1) % 2)?;
            store_classes(batch, start, classes, &mut audio);
            let end = (start + batch.chunk).min(batch.samples);
            if !on_progress(end, &audio) {
                return Ok(None);
            }
        }
    }
    Ok(Some(audio))
}

/// `STEPS_PER_GRAPH` steps of `batch`, recorded once for replay.
pub(super) fn record_steps<E: Executor>(
    executor: &mut E,
    batch: &DecoderBatch,
) -> Result<E::Graph, GpuError> {
    let steps: Vec<_> = (0..STEPS_PER_GRAPH)
        .flat_map(|_| batch.step_ops.iter().cloned())
        .collect();
    executor.record(&steps)
}

/// Queues one frame: its conditioning, then `steps` steps (the graph replayed, the rest of a
/// short frame step by step).
pub(super) fn run_frame<E: Executor>(
    executor: &mut E,
    batch: &DecoderBatch,
    graph: &E::Graph,
    steps: usize,
) -> Result<(), GpuError> {
    executor.run(&batch.frame_ops)?;
    for _ in 0..steps / STEPS_PER_GRAPH {
        executor.replay(graph)?;
    }
    for _ in 0..steps % STEPS_PER_GRAPH {
        executor.run(&batch.step_ops)?;
    }
    Ok(())
}

/// Audio levels of the classes `[steps, batch]` drawn from sample `start` on, for the notes
/// still drawing there (not in their prefix, not finished).
fn store_classes(batch: &DecoderBatch, start: usize, classes: &[u8], audio: &mut [Vec<f32>]) {
    for (step, row) in classes.chunks_exact(batch.batch).enumerate() {
        let t = start + step;
        for ((track, &class), &prefix) in audio.iter_mut().zip(row).zip(&batch.prefix_lengths) {
            if t >= prefix && t < track.len() {
                track[t] = inv_mu_law(class_level(usize::from(class)));
            }
        }
    }
}

/// The decoder's teacher-forced logits `[samples, 256]` for `audio` conditioned on
/// `embedding`, stepped one sample at a time (the GPU counterpart of
/// [`crate::model::Model::teacher_forced_logits`]).
pub fn teacher_forced_logits<E: Executor>(
    executor: &mut E,
    weights: &DecoderWeights,
    audio: &[f32],
    embedding: &[f32],
) -> Result<Vec<f32>, GpuError> {
    teacher_forcing_frames(audio.len(), embedding, weights.shape().bottleneck_width, 0)?;
    let note = Note {
        embedding,
        seed: 0,
        prefix: audio,
    };
    let notes = batch_notes(weights, &[note])?;
    let batch = DecoderBatch::new(executor, weights, &notes, CHUNK)?;
    // The step leaves the logits' bias to the sampling kernel; add it here as the CPU does.
    let logits_bias = f32_values(&executor.download(weights.logits_bias(), 0, CLASSES * 4)?);
    let mut logits = Vec::with_capacity(audio.len() * CLASSES);
    let result = (|| {
        for t in 0..audio.len() {
            if t % HOP_LENGTH == 0 {
                executor.run(&batch.frame_ops)?;
            }
            executor.run(&batch.step_ops)?;
            let step = f32_values(&executor.download(batch.logits, 0, CLASSES * 4)?);
            logits.extend(step.iter().zip(&logits_bias).map(|(l, b)| l + b));
        }
        Ok(())
    })();
    batch.free(executor)?;
    result.map(|()| logits)
}
