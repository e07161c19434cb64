use super::*;

const SETTINGS: &str = r#"{"corners": [
    {"instruments": [{"name": "a0", "display": "Alpha 0", "abbr": "A0"},
                     {"name": "a1", "display": "Alpha 1", "abbr": "A1"},
                     {"name": "a2", "display": "Alpha 2", "abbr": "A2"}]},
    {"instruments": [{"name": "b0", "display": "Bravo 0", "abbr": "B0"},
                     {"name": "b1", "display": "Bravo 1", "abbr": "B1"}]},
    {"instruments": [{"name": "c0", "display": "Charlie 0", "abbr": "C0"},
                     {"name": "c1", "display": "Charlie 1", "abbr": "C1"}]},
    {"instruments": [{"name": "d0", "display": "Delta 0", "abbr": "D0"},
                     {"name": "d1", "display": "Delta 1", "abbr": "D1"}]}],
    "audio": {"sampleRate": 48000, "bufferSize": 128}}"#;

const NO_TOUCH: [u8; 2] = [0xFF, 0xFF];

/// A controller whose patch file lives in a fresh folder (kept alive by the returned guard).
fn controller() -> (Controller, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_json(SETTINGS, &dir.path().join("settings.json")).unwrap();
    let store = PatchStore::new(settings.patch_file.clone());
    (
        Controller::new(&settings, store, CcMap::general_midi()),
        dir,
    )
}

fn poll(pots: [u8; POTS], rotary: [u8; 4], touch: [u8; 2]) -> Input {
    Input::Poll(McuFrame {
        touch,
        rotary,
        pots,
    })
}

/// A controller after its first poll with every knob at `pot` and the encoders at 0.
fn started(pot: u8) -> (Controller, tempfile::TempDir) {
    let (mut controller, dir) = controller();
    send(&mut controller, poll([pot; POTS], [0; 4], NO_TOUCH));
    (controller, dir)
}

fn send(controller: &mut Controller, input: Input) -> Vec<Effect> {
    let mut effects = Vec::new();
    controller.handle(input, &mut effects);
    effects
}

fn tick(controller: &mut Controller, dt: f32) -> Vec<Effect> {
    let mut effects = Vec::new();
    controller.tick(dt, &mut effects);
    effects
}

fn actions(effects: &[Effect]) -> Vec<Action> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Engine(action) => Some(*action),
            _ => None,
        })
        .collect()
}

fn targets(effects: &[Effect]) -> Vec<Target> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Pad(target) => Some(target.clone()),
            _ => None,
        })
        .collect()
}

fn warnings(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Warning(warning) => Some(warning.to_string()),
            _ => None,
        })
        .collect()
}

fn set(param: Param, pot: u8) -> Action {
    Action::Set(param, f32::from(pot) / 255.0)
}

fn target(pad: &str, x: f32, y: f32) -> Target {
    Target {
        pad: pad.into(),
        x,
        y,
    }
}

fn selected(controller: &Controller) -> [usize; 4] {
    controller.model().corners.each_ref().map(|c| c.selected)
}

#[test]
fn power_on_state() {
    let (controller, _dir) = controller();
    let model = controller.model();
    assert_eq!(model.screen, Screen::Home);
    assert_eq!(model.cursor, (5, 5));
    assert_eq!(model.knobs, [0.5; POTS]);
    let abbrs: Vec<&str> = model.corners.iter().map(|c| c.abbr.as_str()).collect();
    assert_eq!(abbrs, ["A0", "B0", "C0", "D0"]);
    assert_eq!(model.corners[0].names, ["Alpha 0", "Alpha 1", "Alpha 2"]);
    assert_eq!(controller.pad_target(), target("a0_b0_c0_d0.bin", 0.5, 0.5));
    assert_eq!(controller.knobs(), Knobs::default());
}

#[test]
fn the_first_poll_initialises_the_knobs_silently() {
    let (mut controller, _dir) = controller();
    let pots = [10, 20, 127, 40, 50, 60];
    let effects = send(&mut controller, poll(pots, [9, 0, 0, 0], NO_TOUCH));
    assert_eq!(
        actions(&effects),
        [
            set(Param::Position, 10),
            set(Param::Attack, 20),
            set(Param::Sustain, 40),
            set(Param::Release, 50),
            set(Param::Volume, 60),
        ]
    );
    assert!(targets(&effects).is_empty(), "encoders are not compared");
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().knobs, [0.5; POTS]);
    assert_eq!(controller.knobs().attack, 20.0 / 255.0);

    // The second poll shows the live values without counting them as turns.
    let effects = send(&mut controller, poll(pots, [9, 0, 0, 0], NO_TOUCH));
    assert!(effects.is_empty());
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().knobs, pots.map(|p| f32::from(p) / 255.0));
}

#[test]
fn a_knob_turn_shows_its_screen_and_sets_the_engine() {
    let (mut controller, _dir) = started(100);
    let mut pots = [100; POTS];
    pots[2] = 110;
    let effects = send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
    assert_eq!(actions(&effects), [set(Param::Decay, 110)]);
    assert_eq!(controller.model().screen, Screen::Envelope);
    assert_eq!(controller.model().stage, 1);
    assert_eq!(controller.model().knobs[2], 110.0 / 255.0);

    pots[0] = 0;
    send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
    assert_eq!(controller.model().screen, Screen::Position);
    pots[5] = 255;
    let effects = send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
    assert_eq!(actions(&effects), [set(Param::Volume, 255)]);
    assert_eq!(controller.model().screen, Screen::Volume);
}

#[test]
fn a_slow_turn_registers() {
    let (mut controller, _dir) = started(100);
    let mut registered = Vec::new();
    for reading in 101..=106 {
        let mut pots = [100; POTS];
        pots[1] = reading;
        registered.extend(actions(&send(
            &mut controller,
            poll(pots, [0; 4], NO_TOUCH),
        )));
    }
    // One unit per poll never registered in the original.
    assert_eq!(
        registered,
        [set(Param::Attack, 103), set(Param::Attack, 106)]
    );
    assert_eq!(controller.model().screen, Screen::Envelope);
}

#[test]
fn a_slow_turn_reaches_the_end_stops() {
    let (mut controller, _dir) = started(250);
    for reading in 251..=255 {
        let mut pots = [250; POTS];
        pots[5] = reading;
        send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
    }
    assert_eq!(controller.knobs().volume, 1.0);
}

#[test]
fn jitter_within_the_dead_band_is_ignored() {
    let (mut controller, _dir) = started(100);
    for reading in [101, 100, 99, 101, 102, 100, 98] {
        let mut pots = [100; POTS];
        pots[3] = reading;
        let effects = send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
        assert!(effects.is_empty(), "{reading}: {effects:?}");
    }
    assert_eq!(controller.model().screen, Screen::Home);
}

#[test]
fn a_software_value_holds_until_the_knob_really_moves() {
    let (mut controller, _dir) = started(100);
    let effects = send(&mut controller, Input::Pot { pot: 4, value: 200 });
    assert_eq!(actions(&effects), [set(Param::Release, 200)]);
    assert_eq!(controller.model().screen, Screen::Envelope);
    assert_eq!(controller.model().knobs[4], 200.0 / 255.0);
    for reading in [100, 101, 102, 100] {
        let mut pots = [100; POTS];
        pots[4] = reading;
        send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
        assert_eq!(controller.knobs().release, 200.0 / 255.0);
    }
    let mut pots = [100; POTS];
    pots[4] = 97;
    let effects = send(&mut controller, poll(pots, [0; 4], NO_TOUCH));
    assert_eq!(actions(&effects), [set(Param::Release, 97)]);
}

#[test]
fn software_steps_start_from_the_shown_value_and_clamp() {
    let (mut controller, _dir) = started(253);
    let effects = send(&mut controller, Input::PotStep { pot: 0, delta: 5 });
    assert_eq!(actions(&effects), [set(Param::Position, 255)]);
    assert_eq!(controller.model().screen, Screen::Position);
    let effects = send(&mut controller, Input::PotStep { pot: 0, delta: 5 });
    assert!(effects.is_empty(), "no change, no engine update");
    send(
        &mut controller,
        Input::PotStep {
            pot: 1,
            delta: -255,
        },
    );
    assert_eq!(controller.knobs().attack, 0.0);
}

#[test]
fn encoder_counters_wrap_as_signed_bytes() {
    let (mut controller, _dir) = controller();
    send(&mut controller, poll([0; POTS], [255, 0, 0, 0], NO_TOUCH));
    let effects = send(&mut controller, poll([0; POTS], [0, 0, 0, 0], NO_TOUCH));
    assert_eq!(selected(&controller), [1, 0, 0, 0]);
    assert_eq!(controller.model().corners[0].direction, 1);
    assert_eq!(controller.model().corners[0].abbr, "A1");
    assert_eq!(controller.model().screen, Screen::Instrument(0));
    assert_eq!(targets(&effects), [target("a1_b0_c0_d0.bin", 0.5, 0.5)]);

    // 0 → 254 is two detents back: 1 − 2 wraps to the last of three.
    send(&mut controller, poll([0; POTS], [254, 0, 0, 0], NO_TOUCH));
    assert_eq!(selected(&controller), [2, 0, 0, 0]);
    assert_eq!(controller.model().corners[0].direction, -1);
}

#[test]
fn stepping_back_wraps_for_any_list_length() {
    let (mut controller, _dir) = controller();
    // With three instruments the original's unsigned modulo stayed at 0.
    send(
        &mut controller,
        Input::Rotary {
            encoder: 0,
            delta: -1,
        },
    );
    assert_eq!(selected(&controller), [2, 0, 0, 0]);
    send(
        &mut controller,
        Input::Rotary {
            encoder: 0,
            delta: -7,
        },
    );
    assert_eq!(selected(&controller), [1, 0, 0, 0]);
    let effects = send(
        &mut controller,
        Input::Rotary {
            encoder: 1,
            delta: 2,
        },
    );
    assert_eq!(selected(&controller), [1, 0, 0, 0]);
    assert!(targets(&effects).is_empty(), "a full turn keeps the pad");
    assert_eq!(controller.model().screen, Screen::Instrument(1));
}

#[test]
fn a_touch_selects_home_and_moves_the_pad() {
    let (mut controller, _dir) = started(100);
    send(&mut controller, Input::Pot { pot: 0, value: 3 });
    let effects = send(&mut controller, poll([100; POTS], [0; 4], [3, 7]));
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().cursor, (3, 7));
    assert_eq!(
        targets(&effects),
        [target("a0_b0_c0_d0.bin", 3.0 / 10.0, 7.0 / 10.0)]
    );
    // One axis out of range is no touch.
    let effects = send(&mut controller, poll([100; POTS], [0; 4], [4, 0xFF]));
    assert!(effects.is_empty());
    assert_eq!(controller.model().cursor, (3, 7));
}

#[test]
fn a_resting_finger_neither_preempts_screens_nor_cancels_a_gesture() {
    let (mut controller, _dir) = started(100);
    send(&mut controller, poll([100; POTS], [0; 4], [3, 3]));
    send(&mut controller, Input::Pot { pot: 5, value: 50 });
    send(&mut controller, poll([100; POTS], [0; 4], [3, 3]));
    assert_eq!(controller.model().screen, Screen::Volume);

    send(
        &mut controller,
        Input::Button {
            button: 1,
            pressed: true,
        },
    );
    for _ in 0..3 {
        send(&mut controller, poll([100; POTS], [0; 4], [3, 3]));
        tick(&mut controller, 0.25);
    }
    assert_eq!(controller.model().patch.phase, PatchPhase::Saved);
    assert_eq!(controller.model().screen, Screen::Patch);
    // Moving the finger to another cell is a screen change, and it ends the gesture.
    send(&mut controller, poll([100; POTS], [0; 4], [4, 3]));
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().patch.phase, PatchPhase::Idle);
    // Lifting and touching the same cell again counts as a new touch.
    send(&mut controller, Input::Pot { pot: 5, value: 60 });
    send(&mut controller, poll([100; POTS], [0; 4], NO_TOUCH));
    assert_eq!(controller.model().screen, Screen::Volume);
    send(&mut controller, poll([100; POTS], [0; 4], [4, 3]));
    assert_eq!(controller.model().screen, Screen::Home);
}

fn press(controller: &mut Controller, button: usize) -> Vec<Effect> {
    send(
        controller,
        Input::Button {
            button,
            pressed: true,
        },
    )
}

fn release(controller: &mut Controller, button: usize) -> Vec<Effect> {
    send(
        controller,
        Input::Button {
            button,
            pressed: false,
        },
    )
}

#[test]
fn holding_a_button_saves_exactly_at_three_quarters_of_a_second() {
    let (mut controller, dir) = started(100);
    send(&mut controller, poll([100; POTS], [0; 4], [2, 8]));
    press(&mut controller, 2);
    assert_eq!(controller.model().screen, Screen::Patch);
    assert_eq!(controller.model().patch.slot, 2);
    let file = dir.path().join("patches.json");
    tick(&mut controller, 0.5);
    assert_eq!(controller.model().patch.phase, PatchPhase::Started);
    assert_eq!(controller.model().patch.elapsed, 0.5);
    assert!(!file.exists());
    let effects = tick(&mut controller, 0.25);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(controller.model().patch.phase, PatchPhase::Saved);
    assert_eq!(controller.model().patch.elapsed, 0.0);
    let (store, problems) = PatchStore::open(&file);
    assert!(problems.is_empty(), "{problems:?}");
    let saved = store.slots[2].as_ref().unwrap();
    assert_eq!(saved.instruments, ["a0", "b0", "c0", "d0"]);
    assert_eq!(saved.grid, [0.2, 0.8]);
    assert_eq!(saved.attack, 100.0 / 255.0);
    // The band stays up while the button is held, and release goes home.
    tick(&mut controller, 2.0);
    assert_eq!(controller.model().screen, Screen::Patch);
    release(&mut controller, 2);
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().patch.phase, PatchPhase::Idle);
}

#[test]
fn a_short_press_loads_at_release() {
    let (mut controller, _dir) = started(100);
    send(
        &mut controller,
        Input::Instrument {
            corner: 3,
            index: 1,
        },
    );
    send(&mut controller, poll([100; POTS], [0; 4], [10, 0]));
    send(&mut controller, Input::Pot { pot: 2, value: 30 });
    send(&mut controller, Input::PatchSave(0));

    send(
        &mut controller,
        Input::Instrument {
            corner: 3,
            index: 0,
        },
    );
    send(&mut controller, poll([100; POTS], [0; 4], [5, 5]));
    send(&mut controller, Input::Pot { pot: 2, value: 90 });
    tick(&mut controller, 1.0);
    assert_eq!(controller.model().screen, Screen::Home);

    press(&mut controller, 0);
    let effects = tick(&mut controller, 0.125);
    assert!(effects.is_empty(), "nothing happens until release");
    let effects = release(&mut controller, 0);
    assert_eq!(actions(&effects), [set(Param::Decay, 30)]);
    assert_eq!(targets(&effects), [target("a0_b0_c0_d1.bin", 1.0, 0.0)]);
    // The loaded values are on the screen at once, without a knob screen.
    assert_eq!(controller.model().knobs[2], 30.0 / 255.0);
    assert_eq!(controller.model().cursor, (10, 0));
    assert_eq!(controller.model().corners[3].abbr, "D1");
    assert_eq!(controller.model().screen, Screen::Patch);
    assert_eq!(controller.model().patch.phase, PatchPhase::Loaded);
    tick(&mut controller, 0.125);
    assert_eq!(controller.model().screen, Screen::Patch);
    tick(&mut controller, 0.125);
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().patch.phase, PatchPhase::Idle);
}

#[test]
fn a_release_between_load_and_save_cancels() {
    let (mut controller, dir) = started(100);
    press(&mut controller, 1);
    tick(&mut controller, 0.5);
    let effects = release(&mut controller, 1);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(controller.model().screen, Screen::Home);
    assert_eq!(controller.model().patch.phase, PatchPhase::Idle);
    tick(&mut controller, 1.0);
    assert!(!dir.path().join("patches.json").exists());
}

#[test]
fn another_screen_cancels_a_gesture_until_the_button_is_pressed_again() {
    let (mut controller, dir) = started(100);
    press(&mut controller, 0);
    tick(&mut controller, 0.25);
    send(&mut controller, Input::Pot { pot: 0, value: 10 });
    assert_eq!(controller.model().patch.phase, PatchPhase::Idle);
    // Still held: pressing again is the same button, so nothing restarts, nothing saves.
    press(&mut controller, 0);
    tick(&mut controller, 1.0);
    assert_eq!(controller.model().screen, Screen::Home);
    assert!(!dir.path().join("patches.json").exists());
    release(&mut controller, 0);
    press(&mut controller, 0);
    assert_eq!(controller.model().patch.phase, PatchPhase::Started);
}

#[test]
fn a_failed_save_is_reported_not_shown_as_saved() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_json(SETTINGS, &dir.path().join("settings.json")).unwrap();
    let file = dir.path().join("absent").join("patches.json");
    let mut controller = Controller::new(&settings, PatchStore::new(&file), CcMap::general_midi());
    press(&mut controller, 3);
    let effects = tick(&mut controller, 0.75);
    let warnings = warnings(&effects);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("patch 4"), "{warnings:?}");
    assert!(
        warnings[0].contains(&file.display().to_string()),
        "{warnings:?}"
    );
    assert_eq!(controller.model().patch.phase, PatchPhase::Idle);
    assert_eq!(controller.model().screen, Screen::Home);
    // Kept in memory for this session.
    let effects = send(&mut controller, Input::PatchLoad(3));
    assert!(self::warnings(&effects).is_empty(), "{effects:?}");
}

#[test]
fn the_screen_times_out_after_a_second_and_rearms() {
    let (mut controller, _dir) = started(100);
    send(&mut controller, Input::Pot { pot: 5, value: 1 });
    tick(&mut controller, 0.5);
    assert_eq!(controller.model().screen, Screen::Volume);
    send(&mut controller, Input::Pot { pot: 5, value: 2 });
    tick(&mut controller, 0.75);
    assert_eq!(controller.model().screen, Screen::Volume);
    tick(&mut controller, 0.25);
    assert_eq!(controller.model().screen, Screen::Home);
}

#[test]
fn a_short_press_on_an_empty_slot_shows_empty_and_changes_nothing() {
    let (mut controller, _dir) = started(100);
    let before = (controller.knobs(), controller.pad_target());
    press(&mut controller, 1);
    let effects = release(&mut controller, 1);
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(controller.model().screen, Screen::Patch);
    assert_eq!(controller.model().patch.phase, PatchPhase::Empty);
    assert_eq!(controller.model().patch.slot, 1);
    assert_eq!((controller.knobs(), controller.pad_target()), before);
    tick(&mut controller, 1.0);
    assert_eq!(controller.model().screen, Screen::Home);
}

#[test]
fn loading_a_patch_with_an_unknown_instrument_changes_nothing() {
    let (controller, dir) = started(100);
    let before = controller.model().clone();
    let mut store = PatchStore::new(dir.path().join("patches.json"));
    store.slots[1] = Some(Patch {
        attack: 0.0,
        instruments: ["a1", "b1", "gone", "d0"].map(String::from),
        ..Patch::default()
    });
    store.save().unwrap();
    let settings = Settings::from_json(SETTINGS, &dir.path().join("settings.json")).unwrap();
    let (store, _) = PatchStore::open(&settings.patch_file);
    let mut controller = Controller::new(&settings, store, CcMap::general_midi());
    let effects = send(&mut controller, Input::PatchLoad(1));
    assert_eq!(
        warnings(&effects),
        ["patch 2: corner 2 has no instrument named `gone`; nothing changed"]
    );
    assert!(actions(&effects).is_empty() && targets(&effects).is_empty());
    assert_eq!(controller.model(), &before);
    assert_eq!(controller.knobs(), Knobs::default());
}

#[test]
fn every_touch_cell_survives_a_save_and_load() {
    let (mut controller, _dir) = started(100);
    for cell in 0..=LAST_CELL {
        send(
            &mut controller,
            Input::Touch {
                x: cell,
                y: 10 - cell,
            },
        );
        send(&mut controller, Input::PatchSave(0));
        send(&mut controller, Input::Touch { x: 5, y: 5 });
        send(&mut controller, Input::PatchLoad(0));
        assert_eq!(controller.model().cursor, (cell, 10 - cell));
    }
}

#[test]
fn a_fine_grid_position_moves_the_pad_and_the_nearest_cell() {
    let (mut controller, _dir) = started(100);
    let effects = send(&mut controller, Input::Grid { x: 0.36, y: 2.0 });
    assert_eq!(targets(&effects), [target("a0_b0_c0_d0.bin", 0.36, 1.0)]);
    assert_eq!(controller.model().cursor, (4, 10));
    let effects = send(
        &mut controller,
        Input::Grid {
            x: f32::NAN,
            y: 0.0,
        },
    );
    assert!(effects.is_empty());
}

#[test]
fn direct_selections_check_their_range() {
    let (mut controller, _dir) = started(100);
    for input in [
        Input::Instrument {
            corner: 0,
            index: 3,
        },
        Input::Instrument {
            corner: 4,
            index: 0,
        },
        Input::PatchLoad(4),
        Input::PatchSave(4),
    ] {
        let effects = send(&mut controller, input);
        assert_eq!(warnings(&effects).len(), 1, "{input:?}: {effects:?}");
        assert!(targets(&effects).is_empty());
    }
    let effects = send(
        &mut controller,
        Input::Instrument {
            corner: 0,
            index: 2,
        },
    );
    assert_eq!(targets(&effects), [target("a2_b0_c0_d0.bin", 0.5, 0.5)]);
    assert_eq!(controller.model().corners[0].direction, 1);
    assert_eq!(controller.model().screen, Screen::Instrument(0));
}

/// What a scripted session is checked against: effects with their time, warnings as text.
#[derive(Debug, PartialEq)]
enum Seen {
    Engine(Action),
    Pad(Target),
    Warning(String),
    Notice(String),
}

/// Runs `script` at 32 frames a second until `end`: each frame handles the inputs due by then,
/// then ticks, as the app's frame loop does.
fn play(controller: &mut Controller, script: &[(f32, Input)], end: f32) -> Vec<(f32, Seen)> {
    const DT: f32 = 1.0 / 32.0;
    let mut seen = Vec::new();
    let mut pending = script.iter().peekable();
    let mut now = 0.0;
    while now <= end {
        let mut effects = Vec::new();
        while let Some((_, input)) = pending.next_if(|(at, _)| *at <= now) {
            controller.handle(*input, &mut effects);
        }
        controller.tick(DT, &mut effects);
        seen.extend(effects.into_iter().map(|effect| {
            let effect = match effect {
                Effect::Engine(action) => Seen::Engine(action),
                Effect::Pad(target) => Seen::Pad(target),
                Effect::Warning(warning) => Seen::Warning(warning.to_string()),
                Effect::Notice(notice) => Seen::Notice(notice.to_string()),
            };
            (now, effect)
        }));
        now += DT;
    }
    seen
}

#[test]
fn a_scripted_session() {
    let (mut controller, dir) = controller();
    let mut pots = [120, 60, 60, 128, 60, 200];
    let first = poll(pots, [7, 0, 0, 0], NO_TOUCH);
    pots[1] = 80;
    let attack = poll(pots, [7, 0, 0, 0], NO_TOUCH);
    let corner = poll(pots, [8, 0, 0, 0], NO_TOUCH);
    let touch = poll(pots, [8, 0, 0, 0], [1, 9]);
    let lifted = poll(pots, [8, 0, 0, 0], NO_TOUCH);
    let back = poll(pots, [7, 0, 0, 0], NO_TOUCH);
    let button = |pressed| Input::Button { button: 0, pressed };
    let script = [
        (0.0, first),
        (0.25, attack),
        (0.5, corner),
        (0.75, touch),
        (0.875, lifted),
        (1.0, button(true)),
        (2.0, button(false)),
        (2.5, back),
        (2.5, Input::Pot { pot: 1, value: 10 }),
        (3.0, button(true)),
        (3.125, button(false)),
        (3.5, Input::PatchLoad(2)),
    ];
    let seen = play(&mut controller, &script, 4.0);
    let expected = vec![
        (0.0, Seen::Engine(set(Param::Position, 120))),
        (0.0, Seen::Engine(set(Param::Attack, 60))),
        (0.0, Seen::Engine(set(Param::Decay, 60))),
        (0.0, Seen::Engine(set(Param::Sustain, 128))),
        (0.0, Seen::Engine(set(Param::Release, 60))),
        (0.0, Seen::Engine(set(Param::Volume, 200))),
        (0.25, Seen::Engine(set(Param::Attack, 80))),
        (0.5, Seen::Pad(target("a1_b0_c0_d0.bin", 0.5, 0.5))),
        (0.75, Seen::Pad(target("a1_b0_c0_d0.bin", 0.1, 0.9))),
        // Saved about 0.75 s into the hold: no effect, only the file.
        (2.5, Seen::Pad(target("a0_b0_c0_d0.bin", 0.1, 0.9))),
        (2.5, Seen::Engine(set(Param::Attack, 10))),
        (3.125, Seen::Engine(set(Param::Attack, 80))),
        (3.125, Seen::Pad(target("a1_b0_c0_d0.bin", 0.1, 0.9))),
    ];
    assert_eq!(seen, expected);
    // Slot 3 was never saved: "EMPTY" shows for a second, then the home screen.
    assert_eq!(controller.model().screen, Screen::Patch);
    assert_eq!(controller.model().patch.phase, PatchPhase::Empty);
    play(&mut controller, &[], 1.0);
    assert_eq!(controller.model().screen, Screen::Home);
    let (store, _) = PatchStore::open(dir.path().join("patches.json"));
    let saved = store.slots[0].as_ref().unwrap();
    assert_eq!(saved.instruments, ["a1", "b0", "c0", "d0"]);
    assert_eq!(saved.attack, 80.0 / 255.0);
    assert_eq!(store.slots[1], None);
}

fn cc(controller: u8, value: u8) -> Input {
    Input::Cc { controller, value }
}

fn notices(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Notice(notice) => Some(notice.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn mapped_controllers_move_knobs_as_turns_do_and_show_their_screens() {
    let (mut controller, _dir) = controller();
    // General MIDI 2: 7 volume, 73 attack; 127 is the knob's top.
    let effects = send(&mut controller, cc(7, 127));
    assert_eq!(actions(&effects), [set(Param::Volume, 255)]);
    assert_eq!(controller.model().screen, Screen::Volume);
    let effects = send(&mut controller, cc(73, 64));
    assert_eq!(actions(&effects), [set(Param::Attack, 129)]);
    assert_eq!(controller.model().screen, Screen::Envelope);
    assert_eq!(controller.model().stage, 0);
    assert!(send(&mut controller, cc(1, 100)).is_empty(), "unmapped");
}

#[test]
fn grid_controllers_move_one_axis_and_take_14_bit_pairs() {
    let (mut controller, _dir) = controller();
    // gridX is CC 16 (fine half 48), gridY CC 17 (fine half 49).
    let effects = send(&mut controller, cc(16, 127));
    assert_eq!(targets(&effects), [target("a0_b0_c0_d0.bin", 1.0, 0.5)]);
    assert_eq!(controller.model().cursor, (10, 5));
    send(&mut controller, cc(17, 0));
    assert_eq!(controller.pad_target(), target("a0_b0_c0_d0.bin", 1.0, 0.0));
    send(&mut controller, cc(17, 64));
    send(&mut controller, cc(49, 0));
    let y = controller.pad_target().y;
    assert_eq!(y, 8192.0 / 16383.0, "coarse 64, fine 0");
    send(&mut controller, cc(49, 127));
    let finer = controller.pad_target().y;
    assert_eq!(finer, (64.0 * 128.0 + 127.0) / 16383.0);
}

#[test]
fn corner_controllers_spread_their_range_over_the_corner_list() {
    let (mut controller, _dir) = controller();
    // corner1 is CC 80; the first corner has three instruments.
    for (value, index) in [(0, 0), (42, 0), (43, 1), (85, 1), (86, 2), (127, 2)] {
        send(&mut controller, cc(80, value));
        assert_eq!(selected(&controller)[0], index, "CC 80 = {value}");
    }
    assert_eq!(controller.model().screen, Screen::Instrument(0));
    let effects = send(&mut controller, cc(81, 127));
    assert_eq!(targets(&effects), [target("a2_b1_c0_d0.bin", 0.5, 0.5)]);
}

#[test]
fn program_changes_load_patches_as_short_presses_do() {
    let (mut controller, _dir) = started(10);
    send(&mut controller, Input::PatchSave(2));
    send(&mut controller, Input::Pot { pot: 0, value: 200 });
    assert_eq!(controller.last_patch(), Some(2));
    let effects = send(&mut controller, Input::Program(2));
    assert_eq!(actions(&effects), [set(Param::Position, 10)]);
    assert_eq!(controller.model().screen, Screen::Patch);
    assert_eq!(controller.model().patch.phase, PatchPhase::Loaded);
    assert_eq!(controller.model().patch.slot, 2);
    send(&mut controller, Input::Program(0));
    assert_eq!(controller.model().patch.phase, PatchPhase::Empty);
    assert_eq!(
        controller.last_patch(),
        Some(2),
        "an empty slot loads nothing"
    );
}

#[test]
fn learning_maps_the_next_controller_saves_the_map_and_a_new_controller_reads_it() {
    let (mut controller, dir) = controller();
    let effects = send(&mut controller, Input::Learn(Control::Volume));
    assert_eq!(
        notices(&effects),
        ["MIDI learn: move the MIDI control that should set volume"]
    );
    assert_eq!(controller.learning(), Some(Control::Volume));
    let effects = send(&mut controller, cc(21, 90));
    assert!(
        actions(&effects).is_empty(),
        "the learning value moves nothing"
    );
    let file = dir.path().join("midi-map.json");
    assert_eq!(
        notices(&effects),
        [format!(
            "MIDI learn: CC 21 now sets volume; saved to {}",
            file.display()
        )]
    );
    assert_eq!(controller.learning(), None);
    assert_eq!(
        actions(&send(&mut controller, cc(21, 0))),
        [set(Param::Volume, 0)]
    );
    assert!(
        send(&mut controller, cc(7, 127)).is_empty(),
        "CC 7 left volume"
    );

    // Taking another control's CC unmaps that control.
    send(&mut controller, Input::Learn(Control::Attack));
    let effects = send(&mut controller, cc(21, 5));
    assert!(notices(&effects)[0].contains("(and no longer sets volume)"));

    let settings = Settings::from_json(SETTINGS, &dir.path().join("settings.json")).unwrap();
    let (map, problem) = crate::midi::cc_map_in_force(&settings);
    assert!(problem.is_none());
    let mut restarted = Controller::new(&settings, PatchStore::new(&settings.patch_file), map);
    assert_eq!(
        actions(&send(&mut restarted, cc(21, 0))),
        [set(Param::Attack, 0)]
    );
    assert!(send(&mut restarted, cc(7, 0)).is_empty());
}

#[test]
fn a_learned_map_that_cannot_be_saved_is_kept_and_reported() {
    let (mut controller, dir) = controller();
    // A folder where the map's file should be: the save fails.
    std::fs::create_dir(dir.path().join("midi-map.json")).unwrap();
    send(&mut controller, Input::Learn(Control::GridX));
    let effects = send(&mut controller, cc(22, 0));
    let warning = &warnings(&effects)[0];
    assert!(
        warning.starts_with("MIDI learn: CC 22 sets gridX until power-off but was not saved"),
        "{warning}"
    );
    assert_eq!(targets(&send(&mut controller, cc(22, 127))).len(), 1);
}

#[test]
fn tuning_is_clamped_and_sent_to_the_engine() {
    let (mut controller, _dir) = controller();
    let effects = send(&mut controller, Input::Transpose(30));
    assert_eq!(actions(&effects), [Action::Transpose(24)]);
    let effects = send(&mut controller, Input::FineTune(-150.0));
    assert_eq!(actions(&effects), [Action::FineTune(-100.0)]);
    assert!(send(&mut controller, Input::FineTune(f32::NAN)).is_empty());
    assert_eq!(
        controller.tuning(),
        Tuning {
            transpose: 24,
            fine_tune: -100.0
        }
    );
}
