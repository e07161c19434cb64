//! Incremental generation (spec §4, Magenta's `fastgen`): the decoder advanced one sample at a
//! time for a batch of notes in lock-step, each causal conv keeping the past inputs it still
//! needs in a ring buffer (equivalent to Magenta's two queues per layer), read in place by the
//! products. Activations are channel-major (`[channel, batch]`) and the weights packed for
//! [`product`]; per-frame work (conditioning projections with every constant bias folded in)
//! runs once per 512 samples, and the last layer's unused residual product is skipped. All
//! buffers are allocated in [`Generator::new`]; a step allocates nothing.

use super::activation::{add_channel_bias, gate_halves, relu};
use super::decoder::embedding_frames;
use super::error::ModelError;
use super::history::History;
use super::linear::Linear;
use super::mulaw::{class_level, inv_mu_law, network_input, CLASSES};
use super::packed::{product, PackedMatrix, Segments, WeightFormat};
use super::rng::SplitMix64;
use super::sampling::sample_class;
use super::shape::{ModelShape, HOP_LENGTH};
use super::weights::{Decoder, Model};

/// The decoder's weights in the generator's layout, packed by each generator for itself.
#[derive(Debug, Clone)]
struct PackedDecoder {
    skip_start: PackedMatrix,
    layers: Vec<PackedLayer>,
    cond_out: PackedMatrix,
    out1: PackedMatrix,
    logits: PackedMatrix,
}

#[derive(Debug, Clone)]
struct PackedLayer {
    conv: PackedMatrix,
    cond: PackedMatrix,
    /// `[res_i | skip_i]` side by side, one product into both streams; the last layer's
    /// `skip_i` alone (its residual output is never read: Magenta's `res_30` is untrained).
    out: PackedMatrix,
    writes_residual: bool,
}

impl PackedDecoder {
    fn new(decoder: &Decoder, format: WeightFormat) -> Self {
        let pack = |linear: &Linear| {
            PackedMatrix::pack(&linear.weight, linear.inputs, linear.outputs, format)
        };
        let last = decoder.layers.len().saturating_sub(1);
        Self {
            skip_start: pack(&decoder.skip_start),
            layers: decoder
                .layers
                .iter()
                .enumerate()
                .map(|(index, layer)| {
                    let writes_residual = index < last;
                    PackedLayer {
                        conv: pack(&layer.conv),
                        cond: pack(&layer.cond),
                        out: if writes_residual {
                            pack(&layer.res.beside(&layer.skip))
                        } else {
                            pack(&layer.skip)
                        },
                        writes_residual,
                    }
                })
                .collect(),
            cond_out: pack(&decoder.cond_out),
            out1: pack(&decoder.out1),
            logits: pack(&decoder.logits),
        }
    }
}

/// A dilated conv's inputs for one step, tap by tap: `x(t − (taps−1)·d), …, x(t − d), x(t)`.
struct LayerInputs<'a> {
    history: &'a History,
    time: usize,
    dilation: usize,
    taps: usize,
    current: &'a [f32],
}

impl Segments for LayerInputs<'_> {
    fn count(&self) -> usize {
        self.taps
    }

    fn segment(&self, index: usize) -> &[f32] {
        match (self.taps - 1 - index) * self.dilation {
            0 => self.current,
            lag => self.history.past(self.time, lag),
        }
    }
}

/// The decoder's state for a batch of notes generated in lock-step.
#[derive(Debug)]
pub struct Generator<'m> {
    model: &'m Model,
    weights: PackedDecoder,
    batch: usize,
    time: usize,
    /// Decoder inputs `mu_law(x) / 128` of the current step, `[batch]`.
    inputs: Vec<f32>,
    start_history: History,
    layer_histories: Vec<History>,
    /// Channel-major activations: the residual stream `[width, batch]` followed by the skip
    /// stream `[skip, batch]` (so one product adds to both), `[2·width, batch]`, …
    streams: Vec<f32>,
    z: Vec<f32>,
    gated: Vec<f32>,
    hidden: Vec<f32>,
    channel_logits: Vec<f32>,
    /// The logits of the last step, `[batch, 256]` (row-major for the sampler).
    logits: Vec<f32>,
    /// Per layer `cond_map_i(e) + its bias + dilatedconv_i's bias`, `[layers][2·width, batch]`.
    conditioning: Vec<Vec<f32>>,
    /// `cond_map_out1(e) + its bias + out1's bias`, `[skip, batch]`.
    head_conditioning: Vec<f32>,
    /// The embedding frame, channel-major `[bottleneck, batch]`.
    frame: Vec<f32>,
    /// `skip_start`'s bias plus every `skip_i` bias, `[skip]`.
    skip_bias: Vec<f32>,
}

impl<'m> Generator<'m> {
    /// A generator for `batch` notes at time 0 (zero history) with a zero embedding. It packs
    /// its own copy of the decoder's weights (about 240 MB for the released model, freed with
    /// the generator). Memory per note: about `2 · width · Σ dilations` floats of history
    /// (12.6 MB for the released model).
    pub fn new(model: &'m Model, batch: usize) -> Result<Self, ModelError> {
        Self::with_weights(model, batch, WeightFormat::F32)
    }

    /// As [`new`](Self::new), with the packed weights stored in `format` (16-bit formats: half
    /// the memory, and half the bytes each step reads).
    pub fn with_weights(
        model: &'m Model,
        batch: usize,
        format: WeightFormat,
    ) -> Result<Self, ModelError> {
        if batch == 0 {
            return Err(ModelError::ZeroParameter {
                what: "the batch size",
            });
        }
        Self::check_weights(model, format)?;
        let shape = model.shape();
        let decoder = &model.decoder;
        let (width, skip_width) = (shape.decoder_width, shape.skip_width);
        let past_taps = shape.filter_length - 1;
        let skip_bias = decoder.skip_bias();
        let mut generator = Self {
            model,
            weights: PackedDecoder::new(decoder, format),
            batch,
            time: 0,
            inputs: vec![0.0; batch],
            start_history: History::new(past_taps, batch),
            layer_histories: decoder
                .layers
                .iter()
                .map(|layer| History::new(past_taps * layer.dilation, width * batch))
                .collect(),
            streams: vec![0.0; (width + skip_width) * batch],
            z: vec![0.0; 2 * width * batch],
            gated: vec![0.0; width * batch],
            hidden: vec![0.0; skip_width * batch],
            channel_logits: vec![0.0; CLASSES * batch],
            logits: vec![0.0; batch * CLASSES],
            conditioning: vec![vec![0.0; 2 * width * batch]; decoder.layers.len()],
            head_conditioning: vec![0.0; skip_width * batch],
            frame: vec![0.0; shape.bottleneck_width * batch],
            skip_bias,
        };
        generator.set_conditioning(&vec![0.0; batch * shape.bottleneck_width])?;
        Ok(generator)
    }

    /// Whether the decoder's weights fit in `format` (float16's range is ±65 504).
    pub fn check_weights(model: &Model, format: WeightFormat) -> Result<(), ModelError> {
        if model
            .decoder
            .linears()
            .all(|linear| format.holds(&linear.weight))
        {
            Ok(())
        } else {
            Err(ModelError::WeightRange {
                format: format.name(),
            })
        }
    }

    /// Notes in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Steps taken since creation or the last [`reset`](Self::reset).
    pub fn time(&self) -> usize {
        self.time
    }

    /// Back to time 0 with zero history (the conditioning is kept).
    pub fn reset(&mut self) {
        self.time = 0;
        self.start_history.clear();
        self.layer_histories.iter_mut().for_each(History::clear);
    }

    /// Sets the embedding frame used by the following steps: `[batch, bottleneck]`, one row
    /// per note (Magenta feeds `enc[:, t // 512, :]` at every step; it changes once per frame).
    pub fn set_conditioning(&mut self, frame: &[f32]) -> Result<(), ModelError> {
        let width = self.model.shape().bottleneck_width;
        self.check_rows(frame, width)?;
        let batch = self.batch;
        for (row, values) in frame.chunks_exact(width).enumerate() {
            for (channel, &value) in values.iter().enumerate() {
                self.frame[channel * batch + row] = value;
            }
        }
        let frame = [&self.frame[..]];
        let decoder = &self.model.decoder;
        let layers = decoder.layers.iter().zip(&self.weights.layers);
        for ((layer, packed), conditioning) in layers.zip(&mut self.conditioning) {
            product(&packed.cond, &frame[..], batch, conditioning, false);
            add_channel_bias(conditioning, &layer.cond.bias);
            add_channel_bias(conditioning, &layer.conv.bias);
        }
        let head = &mut self.head_conditioning;
        product(&self.weights.cond_out, &frame[..], batch, head, false);
        add_channel_bias(head, &decoder.cond_out.bias);
        add_channel_bias(head, &decoder.out1.bias);
        Ok(())
    }

    /// Advances every note by one sample. `audio` holds each note's previous sample (0 at the
    /// first step), which goes through mu-law as in Magenta's graph. Returns the logits of the
    /// next sample, `[batch, 256]`.
    ///
    /// Allocation-free when called on a rayon pool thread (inside `rayon::scope`, as
    /// [`generate`] does); from another thread rayon's global job queue allocates a block every
    /// 63 parallel products.
    pub fn step(&mut self, audio: &[f32]) -> Result<&[f32], ModelError> {
        self.check_rows(audio, 1)?;
        for (input, &x) in self.inputs.iter_mut().zip(audio) {
            *input = network_input(x);
        }
        self.start_conv();
        let Self {
            model,
            weights,
            batch,
            time,
            layer_histories,
            streams,
            z,
            gated,
            hidden,
            channel_logits,
            logits,
            conditioning,
            head_conditioning,
            skip_bias,
            ..
        } = self;
        let (batch, time) = (*batch, *time);
        let decoder = &model.decoder;
        let taps = model.shape().filter_length;
        let residual_len = model.shape().decoder_width * batch;
        let (residual, skip) = streams.split_at_mut(residual_len);
        product(
            &weights.skip_start,
            &[&residual[..]][..],
            batch,
            skip,
            false,
        );
        add_channel_bias(skip, skip_bias);

        for (index, (layer, packed)) in decoder.layers.iter().zip(&weights.layers).enumerate() {
            let (residual, skip) = streams.split_at_mut(residual_len);
            let history = &mut layer_histories[index];
            let inputs = LayerInputs {
                history,
                time,
                dilation: layer.dilation,
                taps,
                current: residual,
            };
            product(&packed.conv, &inputs, batch, z, false);
            // Only now: the slot it overwrites held x(t − (taps−1)·d), which the product read.
            history.record(time, residual);
            z.iter_mut()
                .zip(&conditioning[index])
                .for_each(|(z, c)| *z += c);
            let (sigmoid_in, tanh_in) = z.split_at(gated.len());
            gate_halves(sigmoid_in, tanh_in, gated);
            let gated_input = [&gated[..]];
            if packed.writes_residual {
                product(&packed.out, &gated_input[..], batch, streams, true);
                add_channel_bias(&mut streams[..residual_len], &layer.res.bias);
            } else {
                product(&packed.out, &gated_input[..], batch, skip, true);
            }
        }

        let skip = &mut streams[residual_len..];
        relu(skip);
        product(&weights.out1, &[&skip[..]][..], batch, hidden, false);
        hidden
            .iter_mut()
            .zip(head_conditioning.iter())
            .for_each(|(h, c)| *h = (*h + c).max(0.0));
        product(
            &weights.logits,
            &[&hidden[..]][..],
            batch,
            channel_logits,
            false,
        );
        add_channel_bias(channel_logits, &decoder.logits.bias);
        for (class, values) in channel_logits.chunks_exact(batch).enumerate() {
            for (row, &value) in values.iter().enumerate() {
                logits[row * CLASSES + class] = value;
            }
        }
        self.time += 1;
        Ok(&self.logits)
    }

    /// `residual[:, b] = startconv(inputs of row b)` over the current and past decoder inputs.
    fn start_conv(&mut self) {
        let start = &self.model.decoder.start;
        let batch = self.batch;
        let taps = start.inputs;
        let residual = &mut self.streams[..start.outputs * batch];
        for (channel, values) in residual.chunks_exact_mut(batch).enumerate() {
            values.fill(start.bias[channel]);
            for tap in 0..taps {
                let weight = start.weight[tap * start.outputs + channel];
                let lag = taps - 1 - tap;
                let inputs = if lag == 0 {
                    &self.inputs[..]
                } else {
                    self.start_history.past(self.time, lag)
                };
                values
                    .iter_mut()
                    .zip(inputs)
                    .for_each(|(value, x)| *value += weight * x);
            }
        }
        self.start_history.record(self.time, &self.inputs);
    }

    fn check_rows(&self, values: &[f32], per_row: usize) -> Result<(), ModelError> {
        if values.len() != self.batch * per_row {
            return Err(ModelError::BatchSize {
                expected: self.batch * per_row,
                per_row,
                found: values.len(),
            });
        }
        Ok(())
    }

    /// Multiply-adds of one step per note, as this generator runs it (conditioning, done once
    /// per frame, not counted): 58 983 936 for the released model, against 59 741 696 for
    /// Magenta's graph, which also projects the conditioning every sample and runs `res_30`.
    pub fn macs_per_step(shape: &ModelShape) -> u64 {
        let (k, r, s) = (shape.filter_length, shape.decoder_width, shape.skip_width);
        let layers = shape.decoder_layers;
        let per_layer = k * r * 2 * r + r * s;
        let residuals = layers.saturating_sub(1) * r * r;
        let total = k * r + r * s + layers * per_layer + residuals + s * s + s * CLASSES;
        total as u64
    }

    /// Multiply-adds per sample per note of Magenta's graph, which also projects the
    /// conditioning every sample and runs the last layer's residual: 59 741 696 for the
    /// released model. The figure throughputs are quoted against.
    pub fn graph_macs_per_step(shape: &ModelShape) -> u64 {
        let (r, s, e) = (
            shape.decoder_width,
            shape.skip_width,
            shape.bottleneck_width,
        );
        let conditioning = shape.decoder_layers * e * 2 * r + e * s;
        let last_residual = if shape.decoder_layers > 0 { r * r } else { 0 };
        Self::macs_per_step(shape) + (conditioning + last_residual) as u64
    }
}

/// Each note's samples (its frames × 512), after checking that its embedding is whole frames of
/// `width` and its prefix no longer than the note.
pub(crate) fn note_lengths(notes: &[Note<'_>], width: usize) -> Result<Vec<usize>, ModelError> {
    let mut lengths = Vec::with_capacity(notes.len());
    for (index, note) in notes.iter().enumerate() {
        let samples = embedding_frames(note.embedding, width, index)? * HOP_LENGTH;
        if note.prefix.len() > samples {
            return Err(ModelError::LongPrefix {
                index,
                prefix: note.prefix.len(),
                samples,
            });
        }
        lengths.push(samples);
    }
    Ok(lengths)
}

/// One note for [`generate`].
#[derive(Debug, Clone, Copy)]
pub struct Note<'a> {
    /// `[frames, bottleneck]` row-major; the note has `frames · 512` samples.
    pub embedding: &'a [f32],
    /// Seed of the note's draws (the pipeline derives it from the run seed and the sound name).
    pub seed: u64,
    /// Samples an interrupted run already made: replayed as the network's input (no draws) and
    /// kept unchanged, then generation goes on from there. Empty to start from silence.
    pub prefix: &'a [f32],
}

/// Generates every note as Magenta's `synthesize` does for a batch: each sample drawn from the
/// softmax of the logits and fed back as the next input. Notes may differ in length and prefix;
/// the batch runs in lock-step and a note that has finished idles.
///
/// Randomness: the draw of sample `t` of a note is the `t`-th value of the SplitMix64 stream of
/// its seed, a pure function of `(seed, t)`. A note's audio therefore depends on its embedding
/// and seed only, not on its batch, and a note resumed from a prefix continues exactly as an
/// uninterrupted run would.
///
/// Every `report_every` samples (and at the end) `on_progress(time, audio)` gets the samples
/// made so far: `audio[n][..time.min(len n)]` is final. It runs on the calling thread; when it
/// returns `false`, generation stops and `Ok(None)` is returned.
pub fn generate(
    model: &Model,
    notes: &[Note<'_>],
    report_every: usize,
    on_progress: impl FnMut(usize, &[Vec<f32>]) -> bool,
) -> Result<Option<Vec<Vec<f32>>>, ModelError> {
    generate_with(model, Decoding::default(), notes, report_every, on_progress)
}

/// How [`generate_with`] runs the decoder: its weights' format, and the threads that run its
/// steps (rayon's global pool, or another pool, e.g. one group of the CPU's threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoding<'p> {
    pub weights: WeightFormat,
    pub threads: Option<&'p rayon::ThreadPool>,
}

/// The logits the generator gives at each step when fed the samples of `audio` rather than
/// its own (teacher forcing), for each row: `[samples, 256]`, the next sample's logits after
/// each sample. Rows are equally long; each embedding covers its row's samples. For comparing
/// weight formats and checking the generator against the parallel decoder.
#[cfg(test)]
pub(crate) fn teacher_forced_steps(
    model: &Model,
    weights: WeightFormat,
    audio: &[&[f32]],
    embeddings: &[&[f32]],
) -> Result<Vec<Vec<f32>>, ModelError> {
    let width = model.shape().bottleneck_width;
    let samples = audio.first().map_or(0, |row| row.len());
    assert_eq!(
        embeddings.len(),
        audio.len(),
        "an embedding per row of audio"
    );
    for (index, (row, embedding)) in audio.iter().zip(embeddings).enumerate() {
        if row.len() != samples {
            return Err(ModelError::RaggedRows {
                index,
                samples: row.len(),
                expected: samples,
            });
        }
        super::decoder::teacher_forcing_frames(samples, embedding, width, index)?;
    }
    let mut generator = Generator::with_weights(model, audio.len(), weights)?;
    let mut rows = vec![Vec::with_capacity(samples * CLASSES); audio.len()];
    let mut frame = vec![0.0; audio.len() * width];
    let mut previous = vec![0.0; audio.len()];
    for time in 0..samples {
        if time % HOP_LENGTH == 0 {
            for (row, embedding) in frame.chunks_exact_mut(width).zip(embeddings) {
                row.copy_from_slice(&embedding[time / HOP_LENGTH * width..][..width]);
            }
            generator.set_conditioning(&frame)?;
        }
        let logits = generator.step(&previous)?;
        for (row, chunk) in rows.iter_mut().zip(logits.chunks_exact(CLASSES)) {
            row.extend_from_slice(chunk);
        }
        for (previous, row) in previous.iter_mut().zip(audio) {
            *previous = row[time];
        }
    }
    Ok(rows)
}

/// [`generate`] as `decoding` says.
pub fn generate_with(
    model: &Model,
    decoding: Decoding<'_>,
    notes: &[Note<'_>],
    report_every: usize,
    mut on_progress: impl FnMut(usize, &[Vec<f32>]) -> bool,
) -> Result<Option<Vec<Vec<f32>>>, ModelError> {
    let width = model.shape().bottleneck_width;
    let lengths = note_lengths(notes, width)?;
    let Some(&total) = lengths.iter().max() else {
        return Ok(Some(Vec::new()));
    };
    let mut generator = Generator::with_weights(model, notes.len(), decoding.weights)?;
    let mut audio: Vec<Vec<f32>> = notes
        .iter()
        .zip(&lengths)
        .map(|(note, &length)| {
            let mut track = vec![0.0f32; length];
            track[..note.prefix.len()].copy_from_slice(note.prefix);
            track
        })
        .collect();
    let mut previous = vec![0.0f32; notes.len()];
    let mut frame = vec![0.0f32; notes.len() * width];
    let step_chunk = report_every.max(1);
    let mut time = 0;
    while time < total {
        let end = (time + step_chunk).min(total);
        // On a pool thread, the products' parallel jobs go through that thread's own queue and
        // never allocate; from outside they would pass through rayon's global queue.
        let chunk = |_: &rayon::Scope<'_>| -> Result<(), ModelError> {
            for t in time..end {
                if t % HOP_LENGTH == 0 {
                    for ((row, note), &length) in
                        frame.chunks_exact_mut(width).zip(notes).zip(&lengths)
                    {
                        // A finished note keeps its last frame while it idles.
                        let index = t.min(length - 1) / HOP_LENGTH;
                        row.copy_from_slice(&note.embedding[index * width..(index + 1) * width]);
                    }
                    generator.set_conditioning(&frame)?;
                }
                let logits = generator.step(&previous)?;
                let rows = logits.chunks_exact(CLASSES).zip(notes);
                for ((row_logits, note), (track, previous)) in
                    rows.zip(audio.iter_mut().zip(&mut previous))
                {
                    if t >= track.len() {
                        continue;
                    }
                    if t >= note.prefix.len() {
                        let draw = SplitMix64::at(note.seed, t).next_f64();
                        track[t] = inv_mu_law(class_level(sample_class(row_logits, draw)));
                    }
                    *previous = track[t];
                }
            }
            Ok(())
        };
        match decoding.threads {
            Some(pool) => pool.scope(chunk)?,
            None => rayon::scope(chunk)?,
        }
        time = end;
        if !on_progress(time, &audio) {
            return Ok(None);
        }
    }
    Ok(Some(audio))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{max_relative_difference, test_audio, tiny_shape, MapSource};
    use super::*;

    fn tiny_model(seed: u64) -> Model {
        Model::load(&MapSource::random(&tiny_shape(), seed), tiny_shape().stages).unwrap()
    }

    #[test]
    fn only_the_weights_a_step_reads_must_fit_half_precision() {
        let shape = tiny_shape();
        let with_large = |name: &str| {
            let mut source = MapSource::random(&shape, 5);
            source.0.get_mut(name).unwrap().data[0] = 1e6;
            Model::load(&source, shape.stages).unwrap()
        };
        // The last layer's residual output is never read, so its weights do not count.
        let unread = with_large(&format!("res_{}/W", shape.decoder_layers));
        assert!(Generator::check_weights(&unread, WeightFormat::F16).is_ok());
        let read = with_large("res_1/W");
        assert!(matches!(
            Generator::check_weights(&read, WeightFormat::F16),
            Err(ModelError::WeightRange { format: "f16" })
        ));
        assert!(Generator::check_weights(&read, WeightFormat::Bf16).is_ok());
    }

    #[test]
    fn teacher_forced_steps_reproduce_the_parallel_decoder() {
        let model = tiny_model(31);
        // Long enough for every layer's history to wrap around several times and to cross a
        // frame boundary; two rows with different audio and embeddings.
        let audio = [
            test_audio(2 * HOP_LENGTH + 77, 1),
            test_audio(2 * HOP_LENGTH + 77, 2),
        ];
        let embeddings: Vec<Vec<f32>> = [3, 4]
            .iter()
            .map(|&seed| {
                model
                    .encode(&test_audio(3 * HOP_LENGTH, seed))
                    .unwrap()
                    .data
            })
            .collect();
        let rows: Vec<&[f32]> = audio.iter().map(Vec::as_slice).collect();
        let frames: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
        let incremental = teacher_forced_steps(&model, WeightFormat::F32, &rows, &frames).unwrap();
        for row in 0..2 {
            let parallel = model
                .teacher_forced_logits(&audio[row], &embeddings[row])
                .unwrap();
            let difference = max_relative_difference(&incremental[row], &parallel.data);
            assert!(difference < 1e-5, "row {row} differs by {difference}");
        }
    }

    #[test]
    fn reset_starts_again_from_silence() {
        let model = tiny_model(32);
        let mut generator = Generator::new(&model, 1).unwrap();
        let first = generator.step(&[0.0]).unwrap().to_vec();
        generator.step(&[0.3]).unwrap();
        generator.step(&[-0.7]).unwrap();
        assert_eq!(generator.time(), 3);
        generator.reset();
        assert_eq!(generator.time(), 0);
        assert_eq!(generator.step(&[0.0]).unwrap(), &first[..]);
    }

    /// Generates `embeddings` with `seeds` and no prefixes, reporting every sample.
    fn run(model: &Model, embeddings: &[&[f32]], seeds: &[u64]) -> Vec<Vec<f32>> {
        let notes: Vec<Note<'_>> = embeddings
            .iter()
            .zip(seeds)
            .map(|(&embedding, &seed)| Note {
                embedding,
                seed,
                prefix: &[],
            })
            .collect();
        generate(model, &notes, 1, |_, _| true).unwrap().unwrap()
    }

    #[test]
    fn generation_is_repeatable_and_independent_of_the_batch() {
        let model = tiny_model(33);
        let width = model.shape().bottleneck_width;
        let first: Vec<f32> = (0..2 * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let second: Vec<f32> = (0..2 * width).map(|i| (i as f32 * 0.71).cos()).collect();
        let together = run(&model, &[&first, &second], &[9, 5]);
        assert_eq!(together.len(), 2);
        assert_eq!(together[0].len(), 2 * HOP_LENGTH);
        assert_eq!(together, run(&model, &[&first, &second], &[9, 5]));
        assert_eq!(run(&model, &[&second], &[5])[0], together[1]);
        let swapped = run(&model, &[&second, &first], &[5, 9]);
        assert_eq!(swapped[1], together[0]);
        assert_ne!(run(&model, &[&first], &[10])[0], together[0]);
    }

    #[test]
    fn notes_of_different_lengths_share_a_batch() {
        let model = tiny_model(36);
        let width = model.shape().bottleneck_width;
        let long: Vec<f32> = (0..3 * width).map(|i| (i as f32 * 0.13).sin()).collect();
        let short = &long[..width];
        let together = run(&model, &[&long, short], &[1, 2]);
        assert_eq!(together[0].len(), 3 * HOP_LENGTH);
        assert_eq!(together[1].len(), HOP_LENGTH);
        assert_eq!(run(&model, &[short], &[2])[0], together[1]);
        assert_eq!(run(&model, &[&long], &[1])[0], together[0]);
    }

    #[test]
    fn a_resumed_note_continues_as_if_never_stopped() {
        let model = tiny_model(37);
        let width = model.shape().bottleneck_width;
        let embedding: Vec<f32> = (0..2 * width).map(|i| (i as f32 * 0.29).cos()).collect();
        let whole = run(&model, &[&embedding], &[4]).remove(0);

        // Stop after the first report past 300 samples, as a killed run would.
        let note = Note {
            embedding: &embedding,
            seed: 4,
            prefix: &[],
        };
        let mut reports = Vec::new();
        let stopped = generate(&model, &[note], 100, |time, audio| {
            reports.push(time);
            if time < 300 {
                return true;
            }
            assert_eq!(audio[0][..time], whole[..time]);
            false
        })
        .unwrap();
        assert!(stopped.is_none());
        assert_eq!(reports, [100, 200, 300]);

        let resumed = Note {
            prefix: &whole[..300],
            ..note
        };
        let finished = generate(&model, &[resumed], 64, |_, _| true)
            .unwrap()
            .unwrap();
        assert_eq!(finished[0], whole);
    }

    #[test]
    fn generated_samples_are_mu_law_levels() {
        let model = tiny_model(34);
        let embedding = vec![0.5; model.shape().bottleneck_width];
        let audio = run(&model, &[&embedding], &[1]);
        let levels: Vec<f32> = (-128..128).map(inv_mu_law).collect();
        assert!(audio[0].iter().all(|x| levels.contains(x)));
        let distinct: std::collections::BTreeSet<u32> =
            audio[0].iter().map(|x| x.to_bits()).collect();
        assert!(
            distinct.len() > 10,
            "a random model spreads over many levels"
        );
    }

    #[test]
    fn bad_batches_are_refused() {
        let model = tiny_model(35);
        let width = model.shape().bottleneck_width;
        let one = vec![0.0; width];
        let note = |embedding, prefix| Note {
            embedding,
            seed: 1,
            prefix,
        };
        assert!(matches!(
            generate(&model, &[note(&one[1..], &[])], 1, |_, _| true),
            Err(ModelError::EmbeddingWidth { index: 0, .. })
        ));
        let long_prefix = vec![0.0; HOP_LENGTH + 1];
        assert!(matches!(
            generate(&model, &[note(&one, &long_prefix)], 1, |_, _| true),
            Err(ModelError::LongPrefix { index: 0, .. })
        ));
        assert!(generate(&model, &[], 1, |_, _| true)
            .unwrap()
            .unwrap()
            .is_empty());
        assert!(matches!(
            Generator::new(&model, 0),
            Err(ModelError::ZeroParameter { .. })
        ));
        let mut generator = Generator::new(&model, 2).unwrap();
        assert!(matches!(
            generator.step(&[0.0]),
            Err(ModelError::BatchSize {
                expected: 2,
                per_row: 1,
                found: 1
            })
        ));
        assert!(generator.set_conditioning(&one).is_err());
    }

    #[test]
    fn the_released_model_does_58_983_936_multiply_adds_per_step() {
        assert_eq!(Generator::macs_per_step(&ModelShape::magenta()), 58_983_936);
        // Spec §8's count for Magenta's graph.
        assert_eq!(
            Generator::graph_macs_per_step(&ModelShape::magenta()),
            59_741_696
        );
    }
}
