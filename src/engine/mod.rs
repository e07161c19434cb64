//! The sampler engine: the original Open NSynth Super sound (per-note voices, envelope, looping,
//! master volume) rendered from resident pad banks.
//!
//! Real-time contract: [`Engine::new`] and [`Engine::command_sender`] allocate and must run
//! before audio starts. [`Engine::process`] runs in the audio callback and never allocates,
//! frees, locks, logs or touches a file: commands arrive through wait-free rings, banks arrive
//! already resident and leave through a ring to be dropped by the loader. There are no recursive
//! filters, so no denormals can build up.

mod command;
mod envelope;
mod looping;
mod ramp;
mod voice;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

pub use command::{Action, Command, CommandSender, Param};
pub use envelope::{sqrt_curve, EnvelopeShape};
pub use looping::LoopRegion;

use crate::pad::{Bank, PadLayout};
use crate::settings::{EngineOptions, Settings};
use ramp::Ramp;
use voice::{Blend, Context, OneRow, Source, Voice};

/// Voices sounding at once before the oldest is quick-killed (the original's hard limit).
pub const HARD_LIMIT: usize = 40;
/// Held voices before the oldest held one is quick-killed (the original's soft limit).
pub const SOFT_LIMIT: usize = 32;
/// The largest voice limit an engine can be configured with.
pub const MAX_VOICES: usize = 64;
/// Voice slots: every voice can be handed over to a new pad (a twin fades out) while stolen
/// voices fade.
const VOICE_SLOTS: usize = 2 * MAX_VOICES + 16;
/// Resident banks the engine can hold at once (current, and older ones still read by voices).
const BANK_SLOTS: usize = 8;
/// Frames rendered per inner step; events split steps further.
const MAX_CHUNK: usize = 256;
/// Length of the fade when sounding voices move to a newly selected pad (5.3 ms at 48 kHz).
pub const HANDOVER_FRAMES: u32 = 256;
/// Knob value of a pot before the first reading, 127 of 255, where the original starts.
pub const STARTUP_KNOB: f32 = 127.0 / 255.0;
/// The widest pitch bend, in semitones each way.
pub const MAX_BEND: f32 = 24.0;
/// The widest transposition, in semitones each way.
pub const MAX_TRANSPOSE: i8 = 24;
/// The widest fine tuning, in cents each way.
pub const MAX_FINE_TUNE: f32 = 100.0;

/// What the engine needs to know about the pads and the output.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub output_rate: u32,
    pub source_rate: u32,
    pub layout: PadLayout,
    pub looping: bool,
    pub loop_start: f32,
    pub loop_end: f32,
    /// Frames over which a volume change ramps (the original's buffer size).
    pub ramp_frames: u32,
    pub options: EngineOptions,
    /// Held voices before the oldest held one is quick-killed, and sounding voices before the
    /// oldest is; at most [`MAX_VOICES`].
    pub soft_limit: usize,
    pub hard_limit: usize,
    /// Semitones added to every note's pitch, −24..24 (`midi.transpose`).
    pub transpose: i8,
    /// Cents added to every voice's pitch, −100..100 (`midi.fineTune`).
    pub fine_tune: f32,
}

impl EngineConfig {
    /// The original's defaults for pads of `layout`: looping with the shipped loop points,
    /// 128-frame volume ramps, the original's sound and voice limits.
    pub fn new(layout: PadLayout, source_rate: u32, output_rate: u32) -> Self {
        Self {
            output_rate,
            source_rate,
            layout,
            looping: true,
            loop_start: 0.2,
            loop_end: 0.41,
            ramp_frames: 128,
            options: EngineOptions::default(),
            soft_limit: SOFT_LIMIT,
            hard_limit: HARD_LIMIT,
            transpose: 0,
            fine_tune: 0.0,
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            output_rate: settings.audio.sample_rate,
            source_rate: settings.pad.sample_rate,
            layout: settings.pad.layout.clone(),
            looping: settings.pad.looping,
            loop_start: settings.pad.loop_start,
            loop_end: settings.pad.loop_end,
            ramp_frames: settings.audio.buffer_size as u32,
            options: settings.engine,
            soft_limit: SOFT_LIMIT,
            hard_limit: HARD_LIMIT,
            transpose: 0, // MERGE: settings.midi.transpose
            fine_tune: settings.midi.fine_tune,
        }
    }
}

/// Normalised knob values 0–1, the original's pots divided by 255.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    pub position: f32,
    pub attack: f32,
    pub decay: f32,
    pub sustain: f32,
    pub release: f32,
    pub volume: f32,
}

impl Default for Knobs {
    /// Every pot at 127, as the original starts before the first reading.
    fn default() -> Self {
        Self {
            position: STARTUP_KNOB,
            attack: STARTUP_KNOB,
            decay: STARTUP_KNOB,
            sustain: STARTUP_KNOB,
            release: STARTUP_KNOB,
            volume: STARTUP_KNOB,
        }
    }
}

impl Knobs {
    /// The values in pot order: position, attack, decay, sustain, release, volume.
    pub fn in_pot_order(&self) -> [f32; 6] {
        [
            self.position,
            self.attack,
            self.decay,
            self.sustain,
            self.release,
            self.volume,
        ]
    }

    fn set(&mut self, param: Param, value: f32) {
        let value = if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        };
        match param {
            Param::Position => self.position = value,
            Param::Attack => self.attack = value,
            Param::Decay => self.decay = value,
            Param::Sustain => self.sustain = value,
            Param::Release => self.release = value,
            Param::Volume => self.volume = value,
        }
    }
}

/// What the engine tells other threads; written once per `process` call.
#[derive(Debug)]
pub struct EngineStatus {
    /// Frames rendered so far.
    pub frame: AtomicU64,
    /// Voices sounding (not counting voices fading out after a handover).
    pub voices: AtomicU32,
    /// Generation of the bank new notes play from.
    pub generation: AtomicU64,
    /// Note-ons dropped because no pad was loaded or every voice slot was busy.
    pub dropped_notes: AtomicU64,
    /// One bit per grid point that any voice reads, so the loader keeps them resident.
    in_use: Box<[AtomicU64]>,
}

impl EngineStatus {
    /// The grid points voices are reading from.
    pub fn points_in_use(&self) -> Vec<usize> {
        let mut points = Vec::new();
        for (w, word) in self.in_use.iter().enumerate() {
            let bits = word.load(Ordering::Relaxed);
            points.extend((0..64).filter(|b| bits & (1 << b) != 0).map(|b| w * 64 + b));
        }
        points
    }
}

/// The loader's ends of the engine's bank rings, and the engine's status.
pub struct BankLink {
    /// New banks for the engine.
    pub banks: rtrb::Producer<Arc<Bank>>,
    /// Banks the engine no longer reads, to be dropped off the audio thread.
    pub retired: rtrb::Consumer<Arc<Bank>>,
    pub status: Arc<EngineStatus>,
}

pub struct Engine {
    config: EngineConfig,
    /// Pitch index and speed (source samples per output frame) of each MIDI note.
    notes: [(usize, f64); 128],
    queues: Vec<rtrb::Consumer<Command>>,
    banks_in: rtrb::Consumer<Arc<Bank>>,
    retired: rtrb::Producer<Arc<Bank>>,
    slots: [Option<Arc<Bank>>; BANK_SLOTS],
    current: Option<usize>,
    voices: Vec<Voice>,
    mix: Vec<f32>,
    /// Per-frame gains of the voice being rendered.
    gains: Vec<f32>,
    knobs: Knobs,
    shape: EnvelopeShape,
    region: LoopRegion,
    volume: Ramp,
    frame: u64,
    next_id: u64,
    /// Sustain pedal down.
    sustain: bool,
    /// The pitch wheel, in semitones.
    bend: f32,
    /// Fine tuning, in cents.
    fine_tune: f32,
    /// Semitones added to the pitch of notes started from now on.
    transpose: i8,
    /// Speed factor of bend and fine tuning together, applied to every voice.
    pitch_factor: f64,
    status: Arc<EngineStatus>,
}

impl Engine {
    /// An engine with no pad yet, and the link its loader uses to hand it banks.
    pub fn new(config: EngineConfig, knobs: Knobs) -> (Self, BankLink) {
        let speed_base = f64::from(config.source_rate) / f64::from(config.output_rate);
        let notes = std::array::from_fn(|note| {
            let (pitch, rate) = config.layout.pitch_for_note(note as u8);
            (pitch, f64::from(rate) * speed_base)
        });
        let (banks, banks_in) = rtrb::RingBuffer::new(BANK_SLOTS);
        let (retired, retired_out) = rtrb::RingBuffer::new(2 * BANK_SLOTS);
        let words = config.layout.points().div_ceil(64);
        let status = Arc::new(EngineStatus {
            frame: AtomicU64::new(0),
            voices: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            dropped_notes: AtomicU64::new(0),
            in_use: (0..words).map(|_| AtomicU64::new(0)).collect(),
        });
        let region = LoopRegion::new(
            config.options.loop_mode,
            config.loop_start,
            config.loop_end,
            config.layout.length,
            speed_base,
        );
        let mut engine = Self {
            shape: shape_for(&config, &knobs),
            volume: Ramp::new(knobs.volume, config.ramp_frames),
            notes,
            queues: Vec::new(),
            banks_in,
            retired,
            slots: Default::default(),
            current: None,
            voices: Vec::with_capacity(VOICE_SLOTS),
            mix: vec![0.0; MAX_CHUNK],
            gains: vec![0.0; MAX_CHUNK],
            knobs,
            region,
            frame: 0,
            next_id: 0,
            sustain: false,
            bend: 0.0,
            fine_tune: clamp_or_zero(config.fine_tune, MAX_FINE_TUNE),
            transpose: config.transpose.clamp(-MAX_TRANSPOSE, MAX_TRANSPOSE),
            pitch_factor: 1.0,
            status: Arc::clone(&status),
            config,
        };
        engine.retune();
        let link = BankLink {
            banks,
            retired: retired_out,
            status,
        };
        (engine, link)
    }

    /// A new command ring into the engine, one per producing thread. Call before audio starts.
    pub fn command_sender(&mut self, capacity: usize) -> CommandSender {
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        self.queues.push(consumer);
        producer
    }

    pub fn status(&self) -> &Arc<EngineStatus> {
        &self.status
    }

    /// Renders `out.len()` mono frames, applying each command at its frame.
    pub fn process(&mut self, out: &mut [f32]) {
        let mut start = 0;
        while start < out.len() {
            self.accept_banks();
            self.apply_due_commands();
            let until_next = self
                .next_command_frame()
                .map_or(u64::MAX, |at| at - self.frame);
            let frames = (out.len() - start)
                .min(MAX_CHUNK)
                .min(usize::try_from(until_next).unwrap_or(usize::MAX));
            self.render(&mut out[start..start + frames]);
            start += frames;
            self.frame += frames as u64;
        }
        self.retire_banks();
        self.publish_status();
    }

    fn apply_due_commands(&mut self) {
        for q in 0..self.queues.len() {
            while let Ok(command) = self.queues[q].peek() {
                if command.at > self.frame {
                    break;
                }
                let action = command.action;
                let _ = self.queues[q].pop();
                self.apply(action);
            }
        }
    }

    fn next_command_frame(&self) -> Option<u64> {
        self.queues
            .iter()
            .filter_map(|queue| queue.peek().ok().map(|command| command.at))
            .min()
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::NoteOn { note, velocity } if velocity > 0.0 => {
                self.note_on(note, velocity.min(1.0))
            }
            Action::NoteOn { note, .. } | Action::NoteOff { note } => self.note_off(note),
            Action::Set(param, value) => {
                self.knobs.set(param, value);
                self.shape = shape_for(&self.config, &self.knobs);
                self.volume.set_target(self.knobs.volume);
            }
            Action::AllNotesOff => {
                let min_frames = self.config.ramp_frames;
                self.voices
                    .iter_mut()
                    .filter(|v| !v.leaving)
                    .for_each(|v| v.release(min_frames));
            }
            Action::AllSoundOff => self.voices.iter_mut().for_each(Voice::kill),
            Action::Sustain(down) => {
                self.sustain = down;
                if !down {
                    let min_frames = self.config.ramp_frames;
                    self.voices
                        .iter_mut()
                        .filter(|v| v.pedal_held)
                        .for_each(|v| {
                            v.pedal_held = false;
                            v.release(min_frames);
                        });
                }
            }
            Action::PitchBend(semitones) => {
                self.bend = clamp_or_zero(semitones, MAX_BEND);
                self.retune();
            }
            Action::FineTune(cents) => {
                self.fine_tune = clamp_or_zero(cents, MAX_FINE_TUNE);
                self.retune();
            }
            Action::Transpose(semitones) => {
                self.transpose = semitones.clamp(-MAX_TRANSPOSE, MAX_TRANSPOSE);
            }
            Action::Loop { start, end } => {
                let clamp = |v: f32| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
                let speed_base =
                    f64::from(self.config.source_rate) / f64::from(self.config.output_rate);
                self.region.adjust(
                    clamp(start),
                    clamp(end),
                    self.config.layout.length,
                    speed_base,
                );
            }
        }
    }

    /// Applies the wheel and the fine tuning to every voice's speed.
    fn retune(&mut self) {
        let semitones = f64::from(self.bend) + f64::from(self.fine_tune) / 100.0;
        self.pitch_factor = 2f64.powf(semitones / 12.0);
        let factor = self.pitch_factor;
        self.voices
            .iter_mut()
            .for_each(|v| v.set_pitch_factor(factor));
    }

    fn note_on(&mut self, note: u8, velocity: f32) {
        // A note transposed off the keyboard has no row to play.
        let sounding = usize::try_from(i16::from(note) + i16::from(self.transpose)).ok();
        let (Some(slot), Some(&(pitch, speed))) =
            (self.current, sounding.and_then(|n| self.notes.get(n)))
        else {
            self.status.dropped_notes.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(bank) = &self.slots[slot] else {
            return;
        };
        let (selection, generation) = (bank.selection, bank.generation);
        if selection.count == 0 {
            self.status.dropped_notes.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sounding = self.voices.iter().filter(|v| v.counts()).count();
        if sounding >= self.config.hard_limit.min(MAX_VOICES) {
            self.kill_oldest(|v| v.counts());
        }
        if self.voices.len() == self.voices.capacity() {
            self.status.dropped_notes.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let source = Source {
            slot,
            generation,
            taps: selection.taps,
            count: selection.count,
            pitch,
        };
        let offset = (self.knobs.position * self.config.layout.length as f32).trunc();
        let mut voice = Voice::new(
            self.next_id,
            note,
            velocity,
            source,
            speed,
            f64::from(offset),
        );
        voice.set_pitch_factor(self.pitch_factor);
        self.voices.push(voice);
        self.next_id += 1;
        while self.voices.iter().filter(|v| v.is_held()).count() > self.config.soft_limit {
            self.kill_oldest(Voice::is_held);
        }
    }

    fn note_off(&mut self, note: u8) {
        let (min_frames, sustain) = (self.config.ramp_frames, self.sustain);
        if let Some(voice) = self
            .voices
            .iter_mut()
            .filter(|v| v.note == note && v.is_held() && !v.pedal_held)
            .min_by_key(|v| v.id)
        {
            if sustain {
                voice.pedal_held = true;
            } else {
                voice.release(min_frames);
            }
        }
    }

    fn kill_oldest(&mut self, eligible: impl Fn(&Voice) -> bool) {
        if let Some(voice) = self
            .voices
            .iter_mut()
            .filter(|v| eligible(v))
            .min_by_key(|v| v.id)
        {
            voice.kill();
        }
    }

    /// Takes new banks while a slot is free; sounding voices follow them: onto the same samples
    /// in the new slot, or with a short fade onto another pad's rows for the same point.
    fn accept_banks(&mut self) {
        while !self.banks_in.is_empty() {
            let Some(slot) = self.slots.iter().position(Option::is_none) else {
                return;
            };
            let Ok(bank) = self.banks_in.pop() else {
                return;
            };
            for i in 0..self.voices.len() {
                let voice = &mut self.voices[i];
                let source = voice.source;
                if voice.leaving || !bank.holds(&source.taps[..source.count]) {
                    continue;
                }
                let moved = Source {
                    slot,
                    generation: bank.generation,
                    ..source
                };
                if source.generation == bank.generation {
                    voice.source = moved;
                } else if self.voices.len() < self.voices.capacity() {
                    let twin = self.voices[i].hand_over(moved, HANDOVER_FRAMES);
                    self.voices.push(twin);
                }
            }
            self.status
                .generation
                .store(bank.generation, Ordering::Relaxed);
            self.slots[slot] = Some(bank);
            self.current = Some(slot);
        }
    }

    /// Hands banks that no voice reads any more back to the loader to drop.
    fn retire_banks(&mut self) {
        for slot in 0..BANK_SLOTS {
            let in_use =
                Some(slot) == self.current || self.voices.iter().any(|v| v.source.slot == slot);
            if in_use || self.retired.is_full() {
                continue;
            }
            if let Some(bank) = self.slots[slot].take() {
                let _ = self.retired.push(bank);
            }
        }
    }

    fn publish_status(&self) {
        self.status.frame.store(self.frame, Ordering::Relaxed);
        let counted = self.voices.iter().filter(|v| v.counts()).count();
        self.status.voices.store(counted as u32, Ordering::Relaxed);
        for (w, word) in self.status.in_use.iter().enumerate() {
            let mut bits = 0u64;
            for voice in &self.voices {
                for tap in &voice.source.taps[..voice.source.count] {
                    let point = tap.point as usize;
                    if point / 64 == w {
                        bits |= 1 << (point % 64);
                    }
                }
            }
            word.store(bits, Ordering::Relaxed);
        }
    }

    fn render(&mut self, out: &mut [f32]) {
        let mix = &mut self.mix[..out.len()];
        mix.fill(0.0);
        let ctx = Context {
            shape: &self.shape,
            region: &self.region,
            looping: self.config.looping,
            length: self.config.layout.length as f64,
        };
        let row_length = self.config.layout.length;
        for voice in self.voices.iter_mut() {
            let source = voice.source;
            let Some(bank) = &self.slots[source.slot] else {
                voice.done = true;
                continue;
            };
            let rows = source.pitch * row_length..(source.pitch + 1) * row_length;
            let mut blend = Blend {
                rows: [&[]; 4],
                weights: [0.0; 4],
                count: source.count,
            };
            for (i, tap) in source.taps[..source.count].iter().enumerate() {
                match bank.points.get(tap.point as usize) {
                    Some(Some(point)) => blend.rows[i] = &point.samples[rows.clone()],
                    _ => voice.done = true,
                }
                blend.weights[i] = tap.weight;
            }
            if voice.done {
                continue;
            }
            if source.count == 1 && blend.weights[0] == 1.0 {
                voice.render(&OneRow(blend.rows[0]), &ctx, mix, &mut self.gains);
            } else {
                voice.render(&blend, &ctx, mix, &mut self.gains);
            }
        }
        self.voices.retain(|v| !v.done);
        self.volume.apply(mix);
        if self.config.options.limiter {
            mix.iter_mut().for_each(|s| *s = soft_limit(*s));
        }
        out.copy_from_slice(mix);
    }
}

fn shape_for(config: &EngineConfig, knobs: &Knobs) -> EnvelopeShape {
    EnvelopeShape::new(
        [knobs.attack, knobs.decay, knobs.sustain, knobs.release],
        config.options.envelope_time_base,
        config.source_rate,
        config.output_rate,
    )
}

/// `value` within ±`limit`; NaN reads as 0.
fn clamp_or_zero(value: f32, limit: f32) -> f32 {
    if value.is_nan() {
        0.0
    } else {
        value.clamp(-limit, limit)
    }
}

/// Transparent below 0.9 of full scale, then bends smoothly towards ±1 (the optional limiter).
fn soft_limit(sample: f32) -> f32 {
    const KNEE: f32 = 0.9;
    let magnitude = sample.abs();
    if magnitude <= KNEE {
        sample
    } else {
        let bent = KNEE + (1.0 - KNEE) * ((magnitude - KNEE) / (1.0 - KNEE)).tanh();
        bent.copysign(sample)
    }
}

#[cfg(test)]
mod tests;
