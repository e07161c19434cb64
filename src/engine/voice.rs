//! One sounding note: where it reads (its rows), how it moves (playhead, direction, loop
//! crossfade), and how loud it is (velocity, envelope, quick-kill, handover fade). Renders into a
//! mix buffer with no allocation and no access to anything but the rows it is given.

use super::envelope::{sqrt_curve, EnvelopeShape};
use super::looping::LoopRegion;
use crate::pad::Tap;
use crate::settings::LoopMode;

/// The original's normalisation of 16-bit samples, folded into the velocity gain.
const SAMPLE_SCALE: f32 = 1.0 / 32767.0;

/// Quick-kill multiplies the level by this every frame (about 3 ms from full level at 48 kHz).
const KILL_DECAY: f32 = 0.97;
/// Quick-kill ends the voice below this level.
const KILL_FLOOR: f32 = 0.01;

/// Linear interpolation in a row at a fractional position, clamped to the row: positions before
/// the start or past the end read the first or last sample instead of a neighbouring row.
#[inline(always)]
fn lerp(row: &[i16], position: f64) -> f32 {
    let last = row.len() - 1;
    let p = position.clamp(0.0, last as f64);
    let a = (p as usize).min(last - 1);
    let m = (p - a as f64) as f32;
    let (sa, sb) = (f32::from(row[a]), f32::from(row[a + 1]));
    sa + (sb - sa) * m
}

/// Interpolation at a position known to lie in `0 ..= len − 2`.
#[inline(always)]
fn lerp_inside(row: &[i16], position: f64) -> f32 {
    // Rows are far shorter than 2³¹ samples; the narrower conversion is the cheaper one.
    let a = position as i32;
    let m = (position - f64::from(a)) as f32;
    let pair = &row[a as usize..a as usize + 2];
    let (sa, sb) = (f32::from(pair[0]), f32::from(pair[1]));
    sa + (sb - sa) * m
}

/// One sample in 32.32 fixed point.
const FIXED_ONE: f64 = (1u64 << 32) as f64;

fn to_fixed(position: f64) -> i64 {
    (position * FIXED_ONE).round() as i64
}

/// Interpolation at a 32.32 fixed-point position known to lie in `0 ..= len − 2`.
#[inline(always)]
fn lerp_fixed(row: &[i16], position: i64) -> f32 {
    let a = (position >> 32) as usize;
    let m = (position as u32) as f32 * (1.0 / FIXED_ONE as f32);
    let pair = &row[a..a + 2];
    let (sa, sb) = (f32::from(pair[0]), f32::from(pair[1]));
    sa + (sb - sa) * m
}

/// Where a voice's samples come from at a given playhead.
pub trait Taps {
    /// The sample at any position (clamped to the row).
    fn read(&self, position: f64) -> f32;
    /// The sample at a position inside the row (`0 ..= len − 2`), without clamping.
    fn read_inside(&self, position: f64) -> f32;
    /// The same at a 32.32 fixed-point position.
    fn read_fixed(&self, position: i64) -> f32;
}

/// A single row: every voice unless grid interpolation blends neighbours.
pub struct OneRow<'a>(pub &'a [i16]);

impl Taps for OneRow<'_> {
    #[inline(always)]
    fn read(&self, position: f64) -> f32 {
        lerp(self.0, position)
    }

    #[inline(always)]
    fn read_inside(&self, position: f64) -> f32 {
        lerp_inside(self.0, position)
    }

    #[inline(always)]
    fn read_fixed(&self, position: i64) -> f32 {
        lerp_fixed(self.0, position)
    }
}

/// Up to four rows blended with fixed weights (grid interpolation).
pub struct Blend<'a> {
    pub rows: [&'a [i16]; 4],
    pub weights: [f32; 4],
    pub count: usize,
}

impl Taps for Blend<'_> {
    #[inline(always)]
    fn read(&self, position: f64) -> f32 {
        (0..self.count)
            .map(|i| lerp(self.rows[i], position) * self.weights[i])
            .sum()
    }

    #[inline(always)]
    fn read_inside(&self, position: f64) -> f32 {
        (0..self.count)
            .map(|i| lerp_inside(self.rows[i], position) * self.weights[i])
            .sum()
    }

    #[inline(always)]
    fn read_fixed(&self, position: i64) -> f32 {
        (0..self.count)
            .map(|i| lerp_fixed(self.rows[i], position) * self.weights[i])
            .sum()
    }
}

/// The rows a voice plays: which resident bank, which grid points, which pitch row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Source {
    /// Engine bank slot holding the rows.
    pub slot: usize,
    /// Pad generation of that bank; the same generation means the same sample data.
    pub generation: u64,
    pub taps: [Tap; 4],
    pub count: usize,
    /// Pitch index within each grid point.
    pub pitch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Held,
    /// Released at envelope frame `at` with the level `frozen` it had then.
    Released {
        at: u32,
        frozen: f32,
    },
    /// Being quick-killed; `level` shrinks every frame.
    Killed {
        level: f32,
    },
}

/// The second playhead that fades out across a loop jump.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LoopCrossfade {
    playhead: f64,
    direction: f64,
    /// Progress so far and the length it ends after (output frames, or source samples in forward mode).
    progress: f64,
    length: f64,
}

/// A linear gain ramp used to hand a voice over from one pad to another.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fade {
    gain: f32,
    step: f32,
    left: u32,
}

/// Everything a voice needs from the engine to render a block.
pub struct Context<'a> {
    pub shape: &'a EnvelopeShape,
    pub region: &'a LoopRegion,
    pub looping: bool,
    /// Samples per row.
    pub length: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// Start order: a smaller id is an older voice.
    pub id: u64,
    pub note: u8,
    pub source: Source,
    /// Source samples per output frame without pitch bend, and with it.
    base_speed: f64,
    speed: f64,
    playhead: f64,
    direction: f64,
    /// Output frames rendered (the envelope clock).
    time: u32,
    stage: Stage,
    /// Last held envelope level (frozen at release).
    env: f32,
    /// Last envelope level of any stage, where a quick-kill starts from.
    last: f32,
    /// Velocity times the sample scale.
    gain: f32,
    crossfade: Option<LoopCrossfade>,
    fade: Option<Fade>,
    /// A release that arrived before the voice sounded, applied once it has rendered this many frames.
    deferred_release: Option<u32>,
    /// Fading out after a handover to another pad: neither counted nor released by note-offs.
    pub leaving: bool,
    /// Its note-off came while the sustain pedal was down: released when the pedal comes up.
    pub pedal_held: bool,
    pub done: bool,
}

impl Voice {
    pub fn new(id: u64, note: u8, velocity: f32, source: Source, speed: f64, offset: f64) -> Self {
        Self {
            id,
            note,
            source,
            base_speed: speed,
            speed,
            playhead: offset,
            direction: 1.0,
            time: 0,
            stage: Stage::Held,
            env: 0.0,
            last: 0.0,
            gain: velocity * SAMPLE_SCALE,
            crossfade: None,
            fade: None,
            deferred_release: None,
            leaving: false,
            pedal_held: false,
            done: false,
        }
    }

    /// Scales the voice's speed by `factor` (pitch bend and fine tuning together).
    pub fn set_pitch_factor(&mut self, factor: f64) {
        self.speed = self.base_speed * factor;
    }

    /// Held (not released, not being killed).
    pub fn is_held(&self) -> bool {
        self.stage == Stage::Held && self.deferred_release.is_none() && !self.leaving
    }

    /// Counts towards the voice limits: not being killed and not fading out after a handover.
    pub fn counts(&self) -> bool {
        !self.leaving && !matches!(self.stage, Stage::Killed { .. })
    }

    /// Starts the release. A voice that has not sounded yet keeps playing for `min_frames` first,
    /// so a note-off in the same instant as its note-on still sounds.
    pub fn release(&mut self, min_frames: u32) {
        if self.stage != Stage::Held || self.deferred_release.is_some() {
            return;
        }
        if self.time == 0 {
            self.deferred_release = Some(min_frames.max(1));
            return;
        }
        self.stage = Stage::Released {
            at: self.time,
            frozen: self.env,
        };
    }

    /// Fades the voice out quickly from its current level (voice stealing, all sound off).
    pub fn kill(&mut self) {
        if !matches!(self.stage, Stage::Killed { .. }) {
            self.stage = Stage::Killed { level: self.last };
            self.deferred_release = None;
        }
    }

    /// Splits the voice for a handover to `source` (another pad's rows): `self` fades in on the
    /// new rows and the returned twin fades out on the old ones, both over `frames`.
    pub fn hand_over(&mut self, source: Source, frames: u32) -> Voice {
        let frames = frames.max(1);
        let mut leaving = self.clone();
        leaving.leaving = true;
        leaving.fade = Some(Fade {
            gain: self.fade.map_or(1.0, |f| f.gain),
            step: -1.0 / frames as f32,
            left: frames,
        });
        self.source = source;
        self.fade = Some(Fade {
            gain: 0.0,
            step: 1.0 / frames as f32,
            left: frames,
        });
        leaving
    }

    /// The level for the next frame, or `None` when the voice has ended.
    #[inline(always)]
    fn level(&mut self, shape: &EnvelopeShape) -> Option<f32> {
        let level = match self.stage {
            Stage::Held => {
                if self
                    .deferred_release
                    .is_some_and(|frames| self.time >= frames)
                {
                    self.deferred_release = None;
                    self.stage = Stage::Released {
                        at: self.time,
                        frozen: self.env,
                    };
                    return self.level(shape);
                }
                self.env = shape.held(self.time, self.env);
                self.env
            }
            Stage::Released { at, frozen } => {
                let level = shape.released(self.time.wrapping_sub(at), frozen);
                if level <= 0.0 {
                    return None;
                }
                level
            }
            Stage::Killed { level } => {
                if level < KILL_FLOOR {
                    return None;
                }
                self.stage = Stage::Killed {
                    level: level * KILL_DECAY,
                };
                level
            }
        };
        self.last = level;
        let fade = match &mut self.fade {
            None => 1.0,
            Some(fade) => {
                let gain = fade.gain;
                fade.gain += fade.step;
                fade.left -= 1;
                if fade.left == 0 {
                    if self.leaving {
                        self.done = true;
                    }
                    self.fade = None;
                }
                gain
            }
        };
        Some(self.gain * level * fade)
    }

    /// Adds this voice's next `mix.len()` frames to `mix`, using `gains` (same length) as
    /// scratch. Sets `done` when it ends.
    ///
    /// Two passes: the envelope fills one gain per frame, then playback walks the row in runs
    /// between loop events. Inside a run nothing can turn or jump and every read is inside the
    /// row, so the inner loops carry no branches; each event frame is taken by a per-frame step
    /// that follows the original's order of checks exactly.
    pub fn render<T: Taps>(&mut self, taps: &T, ctx: &Context, mix: &mut [f32], gains: &mut [f32]) {
        let wanted = mix.len();
        let (frames, held_until) = self.fill_gains(ctx.shape, &mut gains[..wanted]);
        let (gains, mix) = (&gains[..frames], &mut mix[..frames]);
        match (ctx.looping, ctx.region.mode) {
            (false, _) => self.play_one_shot(taps, ctx, gains, mix),
            (true, LoopMode::Original) => {
                self.play_original_loop(taps, ctx, gains, held_until, mix)
            }
            (true, LoopMode::Forward) => self.play_forward_loop(taps, ctx, gains, mix),
        }
        if frames < wanted {
            self.done = true;
        }
    }

    /// The envelope pass: one gain per frame until the voice ends. Returns the frames that sound
    /// and the first frame at which the voice is no longer held.
    fn fill_gains(&mut self, shape: &EnvelopeShape, gains: &mut [f32]) -> (usize, usize) {
        let frames = gains.len();
        if self.stage == Stage::Held
            && self.fade.is_none()
            && self.deferred_release.is_none()
            && shape.settled(self.time, self.env)
        {
            gains.fill(self.gain * self.env);
            self.last = self.env;
            self.time = self.time.wrapping_add(frames as u32);
            return (frames, frames);
        }
        let mut held_until = if self.stage == Stage::Held { frames } else { 0 };
        for (i, gain) in gains.iter_mut().enumerate() {
            let was_held = self.stage == Stage::Held;
            let Some(level) = self.level(shape) else {
                return (i, held_until.min(i));
            };
            if was_held && self.stage != Stage::Held {
                held_until = i;
            }
            *gain = level;
            self.time = self.time.wrapping_add(1);
        }
        (frames, held_until)
    }

    /// The original's looping: forward to XE, jump to LE−1 and play backwards to XS, jump to LS,
    /// and so on, each jump smoothed by a second playhead fading out over CD+1 frames.
    fn play_original_loop<T: Taps>(
        &mut self,
        taps: &T,
        ctx: &Context,
        gains: &[f32],
        held_until: usize,
        mix: &mut [f32],
    ) {
        let region = ctx.region;
        let mut i = 0;
        while i < mix.len() {
            let held = i < held_until;
            let limit = if held { held_until - i } else { mix.len() - i };
            let run = self.original_run(ctx, held).min(limit).min(mix.len() - i);
            if run > 0 {
                self.run(taps, 1.0, &gains[i..i + run], &mut mix[i..i + run]);
                i += run;
                continue;
            }
            let position = self.playhead;
            if self.direction > 0.0 && held && position.trunc() >= region.end {
                self.direction = -1.0;
            }
            if self.direction > 0.0 && position >= region.forward_at {
                self.start_crossfade(position, f64::from(region.crossfade.max(1)));
                self.direction = -1.0;
                self.playhead = region.end - 1.0;
            } else if self.direction < 0.0 && position <= region.back_at {
                self.start_crossfade(position, f64::from(region.crossfade.max(1)));
                self.direction = 1.0;
                self.playhead = region.start;
            }
            mix[i] += self.crossfaded(taps, position, 1.0) * gains[i];
            self.playhead += self.speed * self.direction;
            i += 1;
        }
    }

    /// Frames from here with no loop event and every read (both playheads) inside the row.
    fn original_run(&self, ctx: &Context, held: bool) -> usize {
        let region = ctx.region;
        let inside = ctx.length - 2.0;
        let position = self.playhead;
        if !(0.0..=inside).contains(&position) {
            return 0;
        }
        let room = if self.direction > 0.0 {
            let turn = if held { region.end } else { f64::INFINITY };
            region.forward_at.min(turn).min(inside) - position
        } else {
            position - region.back_at.max(0.0)
        };
        self.crossfade_room(ctx, 1.0)
            .min(steps_within(room, self.speed))
    }

    /// Forward-only looping: at LE, continue from LS, crossfading over a length in source samples.
    fn play_forward_loop<T: Taps>(
        &mut self,
        taps: &T,
        ctx: &Context,
        gains: &[f32],
        mix: &mut [f32],
    ) {
        let region = ctx.region;
        let loop_length = region.end - region.start;
        let inside = ctx.length - 2.0;
        let mut i = 0;
        while i < mix.len() {
            let room = region.end.min(inside) - self.playhead;
            let run = if self.playhead >= 0.0 {
                self.crossfade_room(ctx, self.speed)
                    .min(steps_within(room, self.speed))
            } else {
                0
            };
            let run = run.min(mix.len() - i);
            if run > 0 {
                self.run(taps, self.speed, &gains[i..i + run], &mut mix[i..i + run]);
                i += run;
                continue;
            }
            if self.playhead >= region.end {
                let overshoot = (self.playhead - region.end) % loop_length;
                self.crossfade = Some(LoopCrossfade {
                    playhead: self.playhead,
                    direction: 1.0,
                    progress: 0.0,
                    length: region.forward_crossfade,
                });
                self.playhead = region.start + overshoot;
            }
            mix[i] += self.crossfaded(taps, self.playhead, self.speed) * gains[i];
            self.playhead += self.speed;
            i += 1;
        }
    }

    /// One-shot playback to the end of the row, tapered over its last 100 samples.
    fn play_one_shot<T: Taps>(&mut self, taps: &T, ctx: &Context, gains: &[f32], mix: &mut [f32]) {
        let length = ctx.length;
        let mut i = 0;
        while i < mix.len() {
            let run = steps_within(length - 101.0 - self.playhead, self.speed).min(mix.len() - i);
            if run > 0 {
                self.run(taps, 1.0, &gains[i..i + run], &mut mix[i..i + run]);
                i += run;
                continue;
            }
            let b = self.playhead.trunc() + 1.0;
            let taper = if b >= length - 100.0 {
                ((length - 1.0 - b) / 99.0).clamp(0.0, 1.0) as f32
            } else {
                1.0
            };
            if b >= length {
                self.done = true;
                return;
            }
            mix[i] += taps.read(self.playhead) * gains[i] * taper;
            self.playhead += self.speed;
            i += 1;
        }
    }

    /// Frames the loop crossfade (if any) can run without its playhead leaving the row, stopping
    /// one short of its end so the ending frame is taken by the per-frame step. `per_frame` is its
    /// progress per frame.
    fn crossfade_room(&self, ctx: &Context, per_frame: f64) -> usize {
        let Some(fade) = &self.crossfade else {
            return usize::MAX;
        };
        let inside = ctx.length - 2.0;
        if !(0.0..=inside).contains(&fade.playhead) {
            return 0;
        }
        let room = if fade.direction > 0.0 {
            inside - fade.playhead
        } else {
            fade.playhead
        };
        steps_within(room, self.speed).min(steps_within(fade.length - fade.progress, per_frame))
    }

    /// A branch-free run: every frame reads inside the row and no loop event falls in it.
    fn run<T: Taps>(&mut self, taps: &T, per_frame: f64, gains: &[f32], mix: &mut [f32]) {
        let step = self.speed * self.direction;
        let mut position = self.playhead;
        match &mut self.crossfade {
            None => {
                // 32.32 fixed point: the index is a shift and the fraction a mask, cheaper than
                // converting a float position twice per frame.
                let (mut fixed, fixed_step) = (to_fixed(position), to_fixed(step));
                for (out, &gain) in mix.iter_mut().zip(gains) {
                    *out += taps.read_fixed(fixed) * gain;
                    fixed += fixed_step;
                }
                position = fixed as f64 / FIXED_ONE;
            }
            Some(fade) => {
                let fade_step = self.speed * fade.direction;
                let (mut other, mut progress) = (fade.playhead, fade.progress);
                for (out, &gain) in mix.iter_mut().zip(gains) {
                    let pos = (progress / fade.length) as f32;
                    let sample = taps.read_inside(position) * sqrt_curve(pos)
                        + taps.read_inside(other) * sqrt_curve(1.0 - pos);
                    *out += sample * gain;
                    progress += per_frame;
                    other += fade_step;
                    position += step;
                }
                fade.playhead = other;
                fade.progress = progress;
            }
        }
        self.playhead = position;
    }

    /// The sample at `position`, mixed with the loop crossfade's playhead if one is running, which
    /// then advances (`per_frame` progress) and ends once past its length.
    fn crossfaded<T: Taps>(&mut self, taps: &T, position: f64, per_frame: f64) -> f32 {
        let sample = taps.read(position);
        let Some(fade) = &mut self.crossfade else {
            return sample;
        };
        let pos = (fade.progress / fade.length).min(1.0) as f32;
        let mixed = sample * sqrt_curve(pos) + taps.read(fade.playhead) * sqrt_curve(1.0 - pos);
        fade.progress += per_frame;
        fade.playhead += self.speed * fade.direction;
        if fade.progress > fade.length {
            self.crossfade = None;
        }
        mixed
    }

    fn start_crossfade(&mut self, position: f64, frames: f64) {
        self.crossfade = Some(LoopCrossfade {
            playhead: position,
            direction: self.direction,
            progress: 0.0,
            length: frames,
        });
    }
}

/// Whole steps of `step` that surely stay short of `room`, keeping one step of margin for the
/// rounding of repeated additions.
fn steps_within(room: f64, step: f64) -> usize {
    if room <= 0.0 || step <= 0.0 {
        return 0;
    }
    ((room / step).floor() as usize).saturating_sub(1)
}
