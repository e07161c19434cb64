//! `open-nsynth run --check`: what the instrument would use, found without playing: the settings
//! and their problems, the board, whether each piece of its hardware answers, the USB MIDI ports
//! and sound devices there are, and every pad the corners can select. Probes change nothing the
//! running instrument relies on (the screen gets a no-operation command, the microcontroller one
//! snapshot request), so it can run beside the service.

use std::fmt;
use std::path::Path;

use crate::board::Board;
use crate::pad::{inventory, PadState};
use crate::settings::Settings;

/// How one finding bears on playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Present and answering.
    Ok,
    /// Something to know that does not stop the instrument (the board has no such part, a
    /// settings default was applied).
    Note,
    /// Missing or broken: that part will not work.
    Problem,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub text: String,
}

/// Everything the check found, in the order it looked.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub findings: Vec<Finding>,
}

impl CheckReport {
    fn push(&mut self, verdict: Verdict, text: impl Into<String>) {
        self.findings.push(Finding {
            verdict,
            text: text.into(),
        });
    }

    fn outcome<E: fmt::Display>(&mut self, result: Result<String, E>) {
        match result {
            Ok(text) => self.push(Verdict::Ok, text),
            Err(error) => self.push(Verdict::Problem, error.to_string()),
        }
    }

    /// How many findings are problems.
    pub fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.verdict == Verdict::Problem)
            .count()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            let mark = match finding.verdict {
                Verdict::Ok => "ok",
                Verdict::Note => "note",
                Verdict::Problem => "PROBLEM",
            };
            writeln!(f, "{mark:<8} {}", finding.text)?;
        }
        match self.problems() {
            0 => write!(f, "Everything the settings and the board name is there."),
            n => write!(f, "{n} problem(s) found."),
        }
    }
}

/// Checks the settings, then the hardware `board` describes, the MIDI ports, the sound devices
/// and the pads.
pub fn check(settings: &Settings, board: &Board) -> CheckReport {
    let mut report = CheckReport::default();
    report.push(Verdict::Ok, format!("settings {}", settings.file.display()));
    for warning in &settings.warnings {
        report.push(Verdict::Note, format!("settings: {warning}"));
    }
    report.push(
        Verdict::Ok,
        format!("board {}: {}", board.name, board.description),
    );
    hardware(&mut report, board);
    serial_midi(&mut report, settings, board);
    usb_midi(&mut report);
    sound(&mut report, settings, board);
    pads(&mut report, settings);
    report
}

fn hardware(report: &mut CheckReport, board: &Board) {
    use crate::io::{buttons, mcu, oled};

    match &board.i2c {
        None => report.push(
            Verdict::Note,
            "no I2C bus on this board: the controls and screen are simulated",
        ),
        Some(i2c) => {
            let bus = i2c.device.display();
            report.outcome(
                mcu::open(&i2c.device, i2c.mcu_address)
                    .map_err(|error| format!("input microcontroller: {error}"))
                    .and_then(|mut mcu| mcu.poll().map_err(|error| error.to_string()))
                    .map(|frame| {
                        format!(
                            "input microcontroller at {:#04x} on {bus} answers: touch {:?}, \
                             encoders {:?}, knobs {:?}",
                            i2c.mcu_address, frame.touch, frame.rotary, frame.pots
                        )
                    }),
            );
            report.outcome(
                oled::open(&i2c.device, i2c.oled_address, None)
                    .map_err(|error| format!("OLED: {error}"))
                    .and_then(|mut panel| panel.probe().map_err(|error| error.to_string()))
                    .map(|()| format!("OLED at {:#04x} on {bus} answers", i2c.oled_address)),
            );
        }
    }
    if let Some(gpio) = &board.gpio {
        let patch = &gpio.patch_buttons;
        report.outcome(
            buttons::open(patch.pins, patch.pull, patch.active)
                .map(|_| format!("patch buttons on GPIO {:?} can be read", patch.pins))
                .map_err(|error| format!("patch buttons: {error}")),
        );
    }
}

fn serial_midi(report: &mut CheckReport, settings: &Settings, board: &Board) {
    let Some(port) = serial_port(settings, board) else {
        report.push(Verdict::Note, "no serial MIDI port on this board");
        return;
    };
    report.outcome(
        crate::midi::SerialMidi::open(port, Box::new(|_| {}))
            .map(|_| format!("serial MIDI port {} opens", port.display()))
            .map_err(|error| format!("serial MIDI: {error}")),
    );
}

/// The serial MIDI port: the settings' `midi.device`, else the board's.
pub fn serial_port<'a>(settings: &'a Settings, board: &'a Board) -> Option<&'a Path> {
    settings
        .midi
        .device
        .as_deref()
        .or(board.midi_serial.as_deref())
}

fn usb_midi(report: &mut CheckReport) {
    match crate::midi::input_ports(crate::app::remotes::MIDI_CLIENT) {
        Ok(ports) if ports.is_empty() => report.push(
            Verdict::Note,
            "no USB MIDI keyboard plugged in (one plugged in later is picked up)",
        ),
        Ok(ports) => {
            for port in ports {
                report.push(Verdict::Ok, format!("USB MIDI: {port}"));
            }
        }
        Err(error) => report.push(Verdict::Problem, format!("USB MIDI: {error}")),
    }
}

fn sound(report: &mut CheckReport, settings: &Settings, board: &Board) {
    let names = match crate::audio::output_device_names() {
        Ok(names) => names,
        Err(error) => return report.push(Verdict::Problem, format!("{error:#}")),
    };
    if names.is_empty() {
        report.push(Verdict::Problem, "no sound output device");
    }
    for (index, name) in names.iter().enumerate() {
        report.push(Verdict::Ok, format!("sound output {index}: {name}"));
    }
    if let Some(index) = settings.audio.device_id {
        if index >= names.len() {
            report.push(
                Verdict::Problem,
                format!("audio.deviceId {index}: there is no output device with that index"),
            );
        }
    } else if let Some(card) = &board.audio_card {
        if !names
            .iter()
            .any(|name| crate::audio::card_matches(name, card))
        {
            report.push(
                Verdict::Problem,
                format!("the board's sound card {card} is not among the sound outputs"),
            );
        }
    }
}

fn pads(report: &mut CheckReport, settings: &Settings) {
    let pads = inventory(settings);
    let present = pads
        .iter()
        .filter(|pad| pad.state == PadState::Present)
        .count();
    for pad in &pads {
        let verdict = match pad.state {
            PadState::Present => Verdict::Ok,
            _ => Verdict::Problem,
        };
        report.push(
            verdict,
            format!("pad {}: {}", pad.path.display(), pad.state),
        );
    }
    // Each missing pad is a problem of its own; the total is for reading.
    let verdict = if present == pads.len() {
        Verdict::Ok
    } else {
        Verdict::Note
    };
    report.push(
        verdict,
        format!(
            "{present} of {} pads for the corner combinations are there",
            pads.len()
        ),
    );
}
