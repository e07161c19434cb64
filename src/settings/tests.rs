use super::*;

fn load(text: &str) -> Result<Settings, SettingsError> {
    Settings::from_json(text, Path::new("/sd/settings.json"))
}

fn error(text: &str) -> String {
    load(text).expect_err("should be refused").to_string()
}

const MINIMAL: &str = r#"{"corners": [
    {"instruments": [{"name": "a", "display": "A", "abbr": "AA"}]},
    {"instruments": [{"name": "b", "display": "B", "abbr": "BB"}]},
    {"instruments": [{"name": "c", "display": "C", "abbr": "CC"}]},
    {"instruments": [{"name": "d", "display": "D", "abbr": "DD"}]}],
    "audio": {"sampleRate": 48000, "bufferSize": 128}}"#;

#[test]
fn the_shipped_example_is_valid_and_complete() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("settings.json");
    let settings = Settings::from_file(&path).unwrap();
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    assert_eq!(settings.pad.layout.file_bytes(), 155_520_000);
    assert_eq!(settings.pad.data_directory, Path::new("/home/pi/pads"));
    assert_eq!(settings.midi.channel, Some(1));
    assert_eq!(settings.engine, EngineOptions::default());
}

#[test]
fn missing_keys_take_the_original_defaults() {
    let settings = load(MINIMAL).unwrap();
    assert_eq!(settings.pad.layout.resolution, 9);
    assert_eq!(settings.pad.layout.pitches, DEFAULT_PITCHES);
    assert_eq!(settings.pad.layout.length, 60000);
    assert_eq!(settings.pad.sample_rate, 16000);
    assert!(settings.pad.looping);
    assert_eq!(
        (settings.pad.loop_start, settings.pad.loop_end),
        (0.2, 0.41)
    );
    assert_eq!(settings.pad.data_directory, Path::new("/sd/"));
    assert_eq!(settings.midi.device, None, "the board's port");
    assert_eq!(settings.midi.channel, Some(7));
    assert_eq!(settings.osc_port, 8000);
    assert_eq!(settings.patch_file, Path::new("/sd/patches.json"));
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn null_counts_as_missing() {
    let text = MINIMAL.replace(
        r#""audio""#,
        r#""nsynth": {"resolution": null, "pitches": null}, "audio""#,
    );
    let settings = load(&text).unwrap();
    assert_eq!(settings.pad.layout.resolution, 9);
}

#[test]
fn keys_the_original_required_fall_back_with_a_warning() {
    let text = MINIMAL.replace(r#""sampleRate": 48000, "bufferSize": 128"#, "");
    let settings = load(&text).unwrap();
    assert_eq!(
        (settings.audio.sample_rate, settings.audio.buffer_size),
        (48000, 128)
    );
    assert_eq!(settings.warnings.len(), 2, "{:?}", settings.warnings);
    assert!(settings.warnings[0].contains("audio.sampleRate"));
}

#[test]
fn wrong_types_name_the_file_the_path_and_the_expectation() {
    let text = MINIMAL.replace(
        r#""audio""#,
        r#""nsynth": {"pitches": [24, 28, 32, "x"]}, "audio""#,
    );
    let message = error(&text);
    assert!(message.contains("/sd/settings.json"), "{message}");
    assert!(message.contains("nsynth.pitches[3]"), "{message}");
    assert!(message.contains("invalid type: string \"x\""), "{message}");
}

#[test]
fn syntax_errors_give_line_and_column() {
    let message = error("{\n  \"nsynth\": {,\n}");
    assert!(message.contains("/sd/settings.json"), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn unknown_keys_are_warned_about_not_fatal() {
    let text = MINIMAL.replace(
        r#""audio""#,
        r#""nsynth": {"colour": 3}, "extra": 1, "audio""#,
    );
    let settings = load(&text).unwrap();
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("`nsynth.colour`")),
        "{:?}",
        settings.warnings
    );
    assert!(
        settings.warnings.iter().any(|w| w.contains("`extra`")),
        "{:?}",
        settings.warnings
    );
}

#[test]
fn bad_pad_shapes_are_refused() {
    let with =
        |nsynth: &str| MINIMAL.replace(r#""audio""#, &format!(r#""nsynth": {nsynth}, "audio""#));
    assert!(error(&with(r#"{"pitches": []}"#)).contains("nsynth.pitches"));
    let unsorted = error(&with(r#"{"pitches": [24, 40, 32]}"#));
    assert!(
        unsorted.contains("nsynth.pitches[2]") && unsorted.contains("ascending"),
        "{unsorted}"
    );
    assert!(error(&with(r#"{"pitches": [200]}"#)).contains("0–127"));
    assert!(error(&with(r#"{"resolution": 0}"#)).contains("nsynth.resolution"));
    let backwards = error(&with(r#"{"loopStart": 0.5, "loopEnd": 0.4}"#));
    assert!(
        backwards.contains("nsynth.loopEnd") && backwards.contains("before it starts"),
        "{backwards}"
    );
    assert!(error(&with(r#"{"loopEnd": 1.5}"#)).contains("outside 0–1"));
    // The largest real layout still fits: 11×11 points, 16 pitches, 4 s rows.
    assert!(load(&with(r#"{"resolution": 11, "length": 64000}"#)).is_ok());
}

#[test]
fn a_file_larger_than_any_settings_file_is_refused_before_it_is_read() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("settings.json");
    let padding = " ".repeat(crate::limits::SETTINGS_FILE_BYTES as usize);
    std::fs::write(&path, format!("{MINIMAL}{padding}")).unwrap();
    let message = Settings::from_file(&path).unwrap_err().to_string();
    assert!(
        message.contains("settings.json") && message.contains("more than any settings file"),
        "{message}"
    );
}

#[test]
fn pads_too_large_to_map_are_refused() {
    let with =
        |nsynth: &str| MINIMAL.replace(r#""audio""#, &format!(r#""nsynth": {nsynth}, "audio""#));
    // From the `pad_file` fuzz target: the pad's size overflowed a u64.
    let overflowing = error(&with(
        r#"{"resolution": 3238002689, "length": 6656, "pitches": [0]}"#,
    ));
    assert!(
        overflowing.contains("`nsynth`")
            && overflowing.contains("at most 64 points per axis and 256 MiB"),
        "{overflowing}"
    );
    assert!(
        error(&with(r#"{"resolution": 65, "length": 2, "pitches": [60]}"#)).contains("`nsynth`")
    );
    // 256 MiB exactly fits; one row sample more does not.
    let largest = r#"{"resolution": 1, "length": 134217728, "pitches": [60]}"#;
    assert_eq!(
        load(&with(largest)).unwrap().pad.layout.file_bytes(),
        crate::pad::MAX_FILE_BYTES
    );
    assert!(error(&with(
        r#"{"resolution": 1, "length": 134217729, "pitches": [60]}"#
    ))
    .contains("`nsynth`"));
}

#[test]
fn corners_must_be_four_non_empty_lists() {
    assert!(error(r#"{"audio": {}}"#).contains("`corners`"));
    let three = MINIMAL.replacen(
        r#"{"instruments": [{"name": "a", "display": "A", "abbr": "AA"}]},"#,
        "",
        1,
    );
    assert!(error(&three).contains("found 3"));
    let empty = MINIMAL.replace(r#"[{"name": "a", "display": "A", "abbr": "AA"}]"#, "[]");
    assert!(error(&empty).contains("corners[0].instruments"));
    let nameless = MINIMAL.replace(r#""name": "b", "#, "");
    assert!(error(&nameless).contains("corners[1].instruments[0].name"));
}

#[test]
fn missing_labels_default_from_the_name() {
    let text = MINIMAL.replace(
        r#""name": "a", "display": "A", "abbr": "AA""#,
        r#""name": "flute""#,
    );
    let settings = load(&text).unwrap();
    let flute = &settings.corners[0][0];
    assert_eq!(
        (flute.display.as_str(), flute.abbr.as_str()),
        ("flute", "FL")
    );
    assert_eq!(settings.warnings.len(), 2);
}

#[test]
fn osc_port_reads_both_key_names_port_first() {
    let with = |osc: &str| {
        load(&MINIMAL.replace(r#""audio""#, &format!(r#""osc": {{"in": {osc}}}, "audio""#)))
    };
    assert_eq!(with(r#"{"portNumber": 9000}"#).unwrap().osc_port, 9000);
    assert_eq!(
        with(r#"{"port": 7000, "portNumber": 9000}"#)
            .unwrap()
            .osc_port,
        7000
    );
}

#[test]
fn midi_channel_outside_the_range_disables_midi_with_a_warning() {
    let settings =
        load(&MINIMAL.replace(r#""audio""#, r#""midi": {"channel": 0}, "audio""#)).unwrap();
    assert_eq!(settings.midi.channel, None);
    assert!(settings.warnings[0].contains("midi.channel"));
}

#[test]
fn engine_options_are_validated() {
    let with =
        |engine: &str| MINIMAL.replace(r#""audio""#, &format!(r#""engine": {engine}, "audio""#));
    let settings = load(&with(
        r#"{"envelopeTimeBase": "seconds", "loopMode": "forward"}"#,
    ))
    .unwrap();
    assert_eq!(
        settings.engine.envelope_time_base,
        EnvelopeTimeBase::Seconds
    );
    assert_eq!(settings.engine.loop_mode, LoopMode::Forward);
    assert!(error(&with(r#"{"loopMode": "pingpong"}"#)).contains("engine.loopMode"));
}

#[test]
fn local_settings_take_precedence_and_bad_json_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("settings.json"), MINIMAL).unwrap();
    let local = MINIMAL.replace("48000", "44100");
    std::fs::write(dir.path().join("localSettings.json"), &local).unwrap();
    let settings = Settings::find(None, dir.path()).unwrap();
    assert_eq!(settings.audio.sample_rate, 44100);
    assert!(settings.file.ends_with("localSettings.json"));

    std::fs::write(dir.path().join("localSettings.json"), "{ not json").unwrap();
    let settings = Settings::find(None, dir.path()).unwrap();
    assert_eq!(settings.audio.sample_rate, 48000);
    assert!(
        settings.warnings[0].contains("localSettings.json"),
        "{:?}",
        settings.warnings
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Settings::find(None, empty.path()),
        Err(SettingsError::NotFound { .. })
    ));
}

#[test]
fn relative_paths_resolve_against_the_settings_folder() {
    let text = MINIMAL.replace(
        r#""audio""#,
        r#""nsynth": {"dataDirectory": "pads"}, "patchFile": "p.json", "audio""#,
    );
    let settings = load(&text).unwrap();
    assert_eq!(settings.pad.data_directory, Path::new("/sd/pads"));
    assert_eq!(settings.patch_file, Path::new("/sd/p.json"));
}

#[test]
fn device_keys_have_defaults_and_are_checked() {
    let settings = load(MINIMAL).unwrap();
    assert_eq!(settings.board, "rpi3");
    assert!(!settings.midi.omni);
    assert_eq!(settings.midi.pitch_bend_range, 2.0);
    assert_eq!(settings.osc_address.to_string(), "0.0.0.0");
    let with = |extra: &str| MINIMAL.replace(r#""audio""#, &format!("{extra}, \"audio\""));
    let custom = load(&with(r#""board": "rpi4", "midi": {"omni": true, "pitchBendRange": 12}, "osc": {"in": {"address": "127.0.0.1"}}"#)).unwrap();
    assert_eq!(
        (
            custom.board.as_str(),
            custom.midi.omni,
            custom.midi.pitch_bend_range
        ),
        ("rpi4", true, 12.0)
    );
    assert_eq!(custom.osc_address.to_string(), "127.0.0.1");
    assert!(error(&with(r#""osc": {"in": {"address": "everywhere"}}"#)).contains("osc.in.address"));
    assert!(error(&with(r#""midi": {"pitchBendRange": 48}"#)).contains("midi.pitchBendRange"));
}

fn with_midi(midi: &str) -> String {
    MINIMAL.replace(r#""audio""#, &format!(r#""midi": {midi}, "audio""#))
}

#[test]
fn midi_additions_default_to_the_original_playing() {
    let midi = load(MINIMAL).unwrap().midi;
    assert_eq!(midi.cc, crate::midi::CcMap::general_midi());
    assert_eq!((midi.transpose, midi.fine_tune), (0, 0.0));
    assert_eq!(midi.velocity_curve, VelocityCurve::Linear);
    let nulls = load(&with_midi(
        r#"{"cc": null, "transpose": null, "fineTune": null, "velocityCurve": null}"#,
    ))
    .unwrap();
    assert_eq!(nulls.midi, midi);
}

#[test]
fn midi_additions_read_every_valid_form() {
    use crate::midi::Control;
    let midi = load(&with_midi(
        r#"{"cc": {"volume": 11, "position": null, "gridX": 0}, "transpose": -24, "fineTune": 99.5, "velocityCurve": "soft"}"#,
    ))
    .unwrap()
    .midi;
    assert_eq!(midi.cc.cc(Control::Volume), Some(11));
    assert_eq!(midi.cc.cc(Control::Position), None);
    assert_eq!(midi.cc.cc(Control::GridX), Some(0));
    assert_eq!(midi.cc.cc(Control::Attack), Some(73));
    assert_eq!((midi.transpose, midi.fine_tune), (-24, 99.5));
    assert_eq!(midi.velocity_curve, VelocityCurve::Soft);
    for (curve, expected) in [
        (r#""linear""#, VelocityCurve::Linear),
        (r#""hard""#, VelocityCurve::Hard),
        ("1", VelocityCurve::Fixed(1)),
        ("127", VelocityCurve::Fixed(127)),
    ] {
        let midi = load(&with_midi(&format!(r#"{{"velocityCurve": {curve}}}"#)))
            .unwrap()
            .midi;
        assert_eq!(midi.velocity_curve, expected, "{curve}");
    }
    let edges = load(&with_midi(r#"{"transpose": 24, "fineTune": -100}"#)).unwrap();
    assert_eq!((edges.midi.transpose, edges.midi.fine_tune), (24, -100.0));
}

#[test]
fn bad_cc_maps_name_the_control_and_the_expectation() {
    let cc = |map: &str| error(&with_midi(&format!(r#"{{"cc": {map}}}"#)));
    let top = cc("[7]");
    assert!(
        top.contains("key `midi.cc`:") && top.contains("expected an object"),
        "{top}"
    );
    let unknown = cc(r#"{"cutoff": 74}"#);
    assert!(
        unknown.contains("midi.cc.cutoff") && unknown.contains("gridX, gridY, corner1"),
        "{unknown}"
    );
    for bad in ["128", "-1", "7.5", r#""seven""#] {
        let message = cc(&format!(r#"{{"volume": {bad}}}"#));
        assert!(
            message.contains("/sd/settings.json")
                && message.contains("`midi.cc.volume`")
                && message.contains("whole number 0–127"),
            "{message}"
        );
    }
    let pedal = cc(r#"{"attack": 64}"#);
    assert!(
        pedal.contains("midi.cc.attack") && pedal.contains("sustain pedal"),
        "{pedal}"
    );
    let mode = cc(r#"{"attack": 120}"#);
    assert!(
        mode.contains("midi.cc.attack") && mode.contains("channel mode"),
        "{mode}"
    );
    let twice = cc(r#"{"attack": 1, "decay": 1}"#);
    assert!(
        twice.contains("midi.cc.decay") && twice.contains("CC 1 is also attack's;"),
        "{twice}"
    );
    let with_default = cc(r#"{"position": 7}"#);
    assert!(
        with_default.contains("midi.cc.position")
            && with_default.contains("CC 7 is also volume's (a default); set `volume`"),
        "{with_default}"
    );
    let fine_half = cc(r#"{"gridX": 16, "volume": 48}"#);
    assert!(
        fine_half.contains("midi.cc.gridX")
            && fine_half.contains("fine half")
            && fine_half.contains("volume"),
        "{fine_half}"
    );
}

#[test]
fn bad_tuning_and_velocity_curves_name_their_key() {
    let transpose = error(&with_midi(r#"{"transpose": 25}"#));
    assert!(
        transpose.contains("midi.transpose")
            && transpose.contains("whole number of semitones −24–24"),
        "{transpose}"
    );
    for transpose in ["-300", "2.5"] {
        let message = error(&with_midi(&format!(r#"{{"transpose": {transpose}}}"#)));
        assert!(message.contains("midi.transpose"), "{message}");
    }
    let fine_tune = error(&with_midi(r#"{"fineTune": 101}"#));
    assert!(
        fine_tune.contains("midi.fineTune") && fine_tune.contains("−100–100 cents"),
        "{fine_tune}"
    );
    for curve in [r#""medium""#, "0", "128", "64.5", "true"] {
        let message = error(&with_midi(&format!(r#"{{"velocityCurve": {curve}}}"#)));
        assert!(
            message.contains("midi.velocityCurve")
                && message.contains(r#""linear", "soft", "hard" or a whole number 1–127"#),
            "{message}"
        );
    }
}
