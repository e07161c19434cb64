use super::*;
use crate::pad::{PointRows, Selection};
use crate::settings::{EnvelopeTimeBase, LoopMode};

const LENGTH: usize = 60000;

fn config() -> EngineConfig {
    let layout = PadLayout {
        resolution: 2,
        pitches: vec![48, 60],
        length: LENGTH,
    };
    EngineConfig::new(layout, 16000, 48000)
}

/// Full volume, instant attack (slew-limited), full sustain, position 0.
fn open_knobs() -> Knobs {
    Knobs {
        position: 0.0,
        attack: 0.0,
        decay: 0.0,
        sustain: 1.0,
        release: 0.0,
        volume: 1.0,
    }
}

/// A bank with every point resident, each sample given by `fill(point, pitch, index)`.
fn bank(
    config: &EngineConfig,
    generation: u64,
    fill: impl Fn(usize, usize, usize) -> i16,
) -> Arc<Bank> {
    let layout = &config.layout;
    let points = (0..layout.points())
        .map(|point| {
            let samples = (0..layout.point_samples())
                .map(|i| fill(point, i / layout.length, i % layout.length))
                .collect();
            Some(Arc::new(PointRows { samples }))
        })
        .collect();
    Arc::new(Bank {
        generation,
        points,
        selection: Selection::point(0),
    })
}

struct Rig {
    engine: Engine,
    link: BankLink,
    commands: CommandSender,
}

impl Rig {
    fn new(config: EngineConfig, knobs: Knobs, fill: impl Fn(usize, usize, usize) -> i16) -> Self {
        let first = bank(&config, 1, fill);
        let (mut engine, mut link) = Engine::new(config, knobs);
        let commands = engine.command_sender(256);
        link.banks.push(first).unwrap();
        Self {
            engine,
            link,
            commands,
        }
    }

    fn send(&mut self, at: u64, action: Action) {
        self.commands.push(Command { at, action }).unwrap();
    }

    fn run(&mut self, frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames];
        for block in out.chunks_mut(128) {
            self.engine.process(block);
        }
        out
    }

    fn voices(&self) -> u32 {
        self.engine.status().voices.load(Ordering::Relaxed)
    }
}

fn note_on(note: u8) -> Action {
    Action::NoteOn {
        note,
        velocity: 1.0,
    }
}

const DC: i16 = 16384;
const DC_LEVEL: f32 = DC as f32 / 32767.0;

#[test]
fn a_held_note_settles_at_velocity_times_sustain_times_volume() {
    let knobs = Knobs {
        sustain: 0.5,
        volume: 0.5,
        ..open_knobs()
    };
    let mut rig = Rig::new(config(), knobs, |_, _, _| DC);
    rig.send(
        0,
        Action::NoteOn {
            note: 60,
            velocity: 0.8,
        },
    );
    let out = rig.run(4800);
    let expected = DC_LEVEL * 0.8 * 0.5 * 0.5;
    assert!(
        (out[4799] - expected).abs() < 1e-5,
        "{} vs {expected}",
        out[4799]
    );
    assert_eq!(rig.voices(), 1);
}

#[test]
fn the_slew_limit_shapes_the_fastest_attack() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, note_on(60));
    let out = rig.run(1024);
    // The first frame is silent (the attack starts at 0), then it rises 0.00125 a frame.
    assert_eq!(out[0], 0.0);
    assert!((out[1] - DC_LEVEL * 0.00125).abs() < 1e-7, "{}", out[1]);
    assert!((out[400] - DC_LEVEL * 0.5).abs() < 1e-4, "{}", out[400]);
    assert!((out[900] - DC_LEVEL).abs() < 1e-5);
}

#[test]
fn events_land_on_their_frame_not_the_buffer_start() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(70, note_on(60));
    let out = rig.run(128);
    assert!(out[..=70].iter().all(|&s| s == 0.0));
    assert!(out[71] > 0.0);
}

#[test]
fn a_note_released_in_its_own_buffer_still_sounds() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, note_on(60));
    rig.send(0, Action::NoteOff { note: 60 });
    let out = rig.run(2048);
    assert!(out.iter().any(|&s| s > 0.0));
    assert_eq!(rig.voices(), 0, "the release still ends it");
}

#[test]
fn a_note_off_and_its_note_on_a_few_frames_apart_sound_for_that_long() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(10, note_on(60));
    rig.send(60, Action::NoteOff { note: 60 });
    let out = rig.run(256);
    // Release 0 lasts 0.001 s of envelope time: 48 frames at the original time base.
    assert!(out[59] > 0.0 && out[60] > 0.0);
    assert_eq!(out[120], 0.0);
}

#[test]
fn velocity_zero_is_a_note_off() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, note_on(60));
    rig.send(
        1000,
        Action::NoteOn {
            note: 60,
            velocity: 0.0,
        },
    );
    rig.run(2048);
    assert_eq!(rig.voices(), 0);
}

#[test]
fn note_offs_release_the_oldest_voice_of_the_note() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, note_on(60));
    rig.send(
        500,
        Action::NoteOn {
            note: 60,
            velocity: 0.5,
        },
    );
    rig.send(1000, Action::NoteOff { note: 60 });
    let out = rig.run(4096);
    assert_eq!(rig.voices(), 1);
    assert!(
        (out[4095] - DC_LEVEL * 0.5).abs() < 1e-5,
        "the newer, quieter voice is left"
    );
}

#[test]
fn more_than_32_held_notes_quick_kill_the_oldest() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    for note in 0..36 {
        rig.send(0, note_on(note));
    }
    rig.run(1024);
    assert_eq!(rig.voices(), 32);
    let held: Vec<u8> = rig
        .engine
        .voices
        .iter()
        .filter(|v| v.is_held())
        .map(|v| v.note)
        .collect();
    assert_eq!(held, (4..36).collect::<Vec<u8>>());
}

#[test]
fn no_more_than_40_voices_sound_and_new_notes_are_never_dropped() {
    let knobs = Knobs {
        release: 1.0,
        ..open_knobs()
    };
    let mut rig = Rig::new(config(), knobs, |_, _, _| DC);
    for note in 0..60 {
        rig.send(u64::from(note) * 10, note_on(note));
        rig.send(u64::from(note) * 10 + 5, Action::NoteOff { note });
    }
    rig.run(1024);
    assert_eq!(rig.voices(), 40);
    assert_eq!(rig.engine.status.dropped_notes.load(Ordering::Relaxed), 0);
    assert!(rig.engine.voices.iter().any(|v| v.note == 59 && v.counts()));
}

#[test]
fn the_original_loop_cycle_turns_where_measured() {
    // Each sample holds half its index, so a lone playhead reads back as position / 2.
    let mut rig = Rig::new(config(), open_knobs(), |_, _, i| (i / 2) as i16);
    rig.send(0, note_on(60));
    let out = rig.run(200_000);
    let position = |frame: usize| out[frame] / (1.0 / 32767.0) * 2.0;
    // Forward at a third of a sample per frame until XE = 20600 (frame 61800)...
    assert!(
        (position(61_799) - 20_599.67).abs() < 2.0,
        "{}",
        position(61_799)
    );
    // ...then backwards from LE − 1 = 24599 once the 4001-frame crossfade is over...
    let after_fade = 61_800 + 4_001 + 3;
    let expected = 24_599.0 - (after_fade - 61_800) as f32 / 3.0;
    assert!(
        (position(after_fade) - expected).abs() < 2.0,
        "{} vs {expected}",
        position(after_fade)
    );
    // ...down to XS = 8000, then forwards again from LS = 12000.
    let turn = 61_800 + (24_599 - 8_000) * 3 + 1;
    let forward = turn + 4_001 + 30;
    let expected = 12_000.0 + (forward - turn) as f32 / 3.0;
    assert!(
        (position(forward) - expected).abs() < 2.0,
        "{} vs {expected}",
        position(forward)
    );
}

#[test]
fn one_shot_voices_end_at_the_row_end_with_a_taper() {
    let config = EngineConfig {
        looping: false,
        ..config()
    };
    let knobs = Knobs {
        position: 0.99,
        ..open_knobs()
    };
    let mut rig = Rig::new(config, knobs, |_, _, _| DC);
    rig.send(0, note_on(60));
    // 600 samples left at a third of a sample per frame: 1800 frames.
    let out = rig.run(2048);
    assert!(out[1000] > out[1750] && out[1750] > 0.0);
    assert_eq!(out[1800], 0.0);
    assert_eq!(rig.voices(), 0);
}

#[test]
fn control_values_are_clamped() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, Action::Set(Param::Volume, 7.0));
    rig.send(
        0,
        Action::NoteOn {
            note: 60,
            velocity: 3.0,
        },
    );
    rig.send(
        0,
        Action::NoteOn {
            note: 200,
            velocity: 1.0,
        },
    );
    let out = rig.run(2048);
    assert!((out[2047] - DC_LEVEL).abs() < 1e-5);
    rig.send(0, Action::Set(Param::Volume, f32::NAN));
    let out = rig.run(512);
    assert_eq!(out[511], 0.0);
}

#[test]
fn volume_starts_at_the_knob_and_ramps_over_one_buffer() {
    let knobs = Knobs {
        volume: 0.0,
        ..open_knobs()
    };
    let mut rig = Rig::new(config(), knobs, |_, _, _| DC);
    rig.send(0, note_on(60));
    let out = rig.run(1024);
    assert!(out.iter().all(|&s| s == 0.0), "no full-volume first buffer");
    rig.send(0, Action::Set(Param::Volume, 1.0));
    let out = rig.run(256);
    assert!((out[64] / out[127] - 0.5).abs() < 0.02);
    assert!((out[200] - DC_LEVEL).abs() < 1e-5);
}

#[test]
fn a_new_pad_takes_over_sounding_voices_without_a_click_and_the_old_bank_is_retired() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, note_on(60));
    let mut out = rig.run(2048);
    let second = bank(&rig.engine.config, 2, |_, _, _| -DC);
    rig.link.banks.push(second).unwrap();
    out.extend(rig.run(2048));
    let largest_step = out
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max);
    assert!(
        (out.last().unwrap() + DC_LEVEL).abs() < 1e-5,
        "now plays the new pad"
    );
    assert!(
        largest_step < 2.0 * DC_LEVEL / HANDOVER_FRAMES as f32 + 1e-4,
        "{largest_step}"
    );
    assert_eq!(rig.voices(), 1);
    let retired = rig.link.retired.pop().expect("old bank handed back");
    assert_eq!(retired.generation, 1);
}

#[test]
fn notes_without_a_pad_are_dropped_and_counted() {
    let (mut engine, _link) = Engine::new(config(), open_knobs());
    let mut commands = engine.command_sender(4);
    commands.push(Command::now(note_on(60))).unwrap();
    let mut out = [1.0; 64];
    engine.process(&mut out);
    assert_eq!(out, [0.0; 64]);
    assert_eq!(engine.status().dropped_notes.load(Ordering::Relaxed), 1);
}

#[test]
fn grid_interpolation_blends_the_selected_points() {
    let mut rig = Rig::new(
        config(),
        open_knobs(),
        |point, _, _| if point == 0 { DC } else { 0 },
    );
    let mut blended = bank(
        &rig.engine.config,
        1,
        |point, _, _| if point == 0 { DC } else { 0 },
    );
    Arc::get_mut(&mut blended).unwrap().selection = Selection::blend(&[(0, 0.25), (1, 0.75)]);
    rig.link.banks.push(blended).unwrap();
    rig.send(0, note_on(60));
    let out = rig.run(2048);
    assert!((out[2047] - DC_LEVEL * 0.25).abs() < 1e-5, "{}", out[2047]);
}

#[test]
fn seconds_time_base_and_forward_loop_are_options() {
    let mut config = config();
    config.options.envelope_time_base = EnvelopeTimeBase::Seconds;
    config.options.loop_mode = LoopMode::Forward;
    let mut rig = Rig::new(config, open_knobs(), |_, _, i| (i / 2) as i16);
    rig.send(0, note_on(60));
    let out = rig.run(120_000);
    // The slew limit is now 50 ms at 48 kHz: 2400 frames to full level.
    let level = |frame: usize| out[frame] / ((frame as f32 / 3.0) / 2.0 / 32767.0);
    assert!((level(1199) - 0.5).abs() < 0.01, "{}", level(1199));
    // Forward only: past LE = 24600 (frame 73800) it continues near LS = 12000, never backwards.
    let position = |frame: usize| out[frame] * 32767.0 * 2.0;
    let later = 73_800 + 3 * 1334 + 300;
    let expected = 12_000.0 + (later - 73_800) as f32 / 3.0;
    assert!(
        (position(later) - expected).abs() < 2.0,
        "{} vs {expected}",
        position(later)
    );
}

#[test]
fn the_sustain_pedal_holds_released_notes_until_it_comes_up() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    rig.send(0, Action::Sustain(true));
    rig.send(0, note_on(60));
    rig.send(1000, Action::NoteOff { note: 60 });
    rig.run(4096);
    assert_eq!(rig.voices(), 1, "held by the pedal");
    rig.send(0, Action::Sustain(false));
    rig.run(2048);
    assert_eq!(rig.voices(), 0);
}

#[test]
fn pitch_bend_changes_the_speed_of_sounding_voices() {
    // A row holding half its index reads back the playhead; a bend of +12 doubles its speed.
    let mut rig = Rig::new(config(), open_knobs(), |_, _, i| (i / 2) as i16);
    rig.send(0, note_on(60));
    rig.send(3000, Action::PitchBend(12.0));
    let out = rig.run(6000);
    let position = |frame: usize| out[frame] * 32767.0 * 2.0;
    let expected = 1000.0 + 2000.0 * 2.0 / 3.0;
    assert!(
        (position(5000) - expected).abs() < 2.0,
        "{} vs {expected}",
        position(5000)
    );
}

#[test]
fn loop_points_can_move_while_playing() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, _| DC);
    let before = rig.engine.region;
    rig.send(
        0,
        Action::Loop {
            start: 0.5,
            end: 0.3,
        },
    );
    rig.run(128);
    assert_eq!(
        (rig.engine.region.start, rig.engine.region.end),
        (18000.0, 30000.0)
    );
    assert_ne!(rig.engine.region, before);
}

/// The playhead a voice reading rows that hold half their index has reached at `frame`.
fn playhead(out: &[f32], frame: usize) -> f32 {
    out[frame] * 32767.0 * 2.0
}

#[test]
fn a_bend_before_the_note_applies_to_it() {
    let mut rig = Rig::new(config(), open_knobs(), |_, _, i| (i / 2) as i16);
    rig.send(0, Action::PitchBend(12.0));
    rig.send(0, note_on(60));
    let out = rig.run(3000);
    // 1/3 of a source sample per frame (16 kHz into 48 kHz), doubled by the octave.
    let expected = 2999.0 * 2.0 / 3.0;
    assert!((playhead(&out, 2999) - expected).abs() < 2.0);
}

#[test]
fn fine_tuning_scales_the_speed_of_every_voice() {
    let tuned = EngineConfig {
        fine_tune: 100.0,
        ..config()
    };
    let mut rig = Rig::new(tuned, open_knobs(), |_, _, i| (i / 2) as i16);
    rig.send(0, note_on(60));
    rig.send(3000, Action::FineTune(0.0));
    let out = rig.run(6000);
    let semitone = 2f32.powf(1.0 / 12.0);
    let at_3000 = 3000.0 / 3.0 * semitone;
    assert!((playhead(&out, 2999) - at_3000).abs() < 2.0);
    let at_6000 = at_3000 + 3000.0 / 3.0;
    assert!(
        (playhead(&out, 5999) - at_6000).abs() < 2.0,
        "back at pitch"
    );
}

#[test]
fn transposition_picks_the_row_of_the_moved_note_and_note_offs_still_match() {
    // Row 0 (pitch 48) at half the level of row 1 (pitch 60).
    let mut rig = Rig::new(config(), open_knobs(), |_, pitch, _| {
        DC / 2 * (pitch as i16 + 1)
    });
    rig.send(0, Action::Transpose(12));
    rig.send(0, note_on(48));
    let out = rig.run(4800);
    assert!((out[4799] - DC_LEVEL).abs() < 1e-3, "{}", out[4799]);
    rig.send(0, Action::Transpose(0));
    rig.send(0, Action::NoteOff { note: 48 });
    rig.run(48000);
    assert_eq!(rig.voices(), 0, "the note-off found the transposed voice");
    rig.send(0, Action::Transpose(-24));
    rig.send(0, note_on(10));
    rig.run(128);
    assert_eq!(
        rig.voices(),
        0,
        "a note moved off the keyboard does not sound"
    );
    assert_eq!(rig.engine.status().dropped_notes.load(Ordering::Relaxed), 1);
}
