//! Device settings: finds and reads `settings.json` in the original schema, applies the
//! original's defaults, and validates into types the rest of the program trusts. Every error
//! names the file, the JSON path of the key and what was expected; unknown keys and keys that fall
//! back to a default become warnings, never failures. `template` writes new settings files for
//! pads this project makes.

mod raw;
mod template;

use std::path::{Path, PathBuf};

use crate::midi::{CcMap, VelocityCurve};
use crate::pad::{validate_pitches, PadLayout};
use raw::RawSettings;
pub use template::settings_for_pads;

/// File names tried, in order, when no settings file is named: the original's rule.
pub const SEARCH_ORDER: [&str; 2] = ["localSettings.json", "settings.json"];

/// The original's pitch list when `nsynth.pitches` is missing (13 pitches, 36 to 84 in fours).
const DEFAULT_PITCHES: [u8; 13] = [36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84];

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not valid JSON: {cause}")]
    Syntax {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("no settings file found: looked for {} in {}", SEARCH_ORDER.join(" and "), dir.display())]
    NotFound { dir: PathBuf },
}

/// How envelope times are counted. The original counts output samples against the pad rate, so at
/// 48 kHz every time runs 3× faster than its formula; that is the sound users know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeTimeBase {
    /// Times run at `output rate / pad rate` speed, as the original sounds (default).
    Original,
    /// Times in real seconds at the output rate.
    Seconds,
}

/// How a looping voice cycles through the loop region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopMode {
    /// The original's forward-then-backward cycle with its crossfade quirks (default).
    Original,
    /// Forward only: at the loop end, crossfade back to the loop start, with the crossfade
    /// length measured in source samples so it does not depend on pitch.
    Forward,
}

/// Sound-changing corrections and additions; each defaults to the original's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    pub envelope_time_base: EnvelopeTimeBase,
    pub loop_mode: LoopMode,
    /// Blend the four nearest grid points' rows when the position lies between them.
    pub grid_interpolation: bool,
    /// A soft limiter on the summed output instead of passing it on unclipped.
    pub limiter: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            envelope_time_base: EnvelopeTimeBase::Original,
            loop_mode: LoopMode::Original,
            grid_interpolation: false,
            limiter: false,
        }
    }
}

/// One selectable instrument of a corner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    /// File-name component of the pad, and the identity stored in patches.
    pub name: String,
    /// Text in the instrument scroller.
    pub display: String,
    /// Two-letter label in the home-screen corner.
    pub abbr: String,
}

impl Instrument {
    /// The corner label the original derives when `abbr` is missing: the name's first two
    /// characters, upper-cased.
    pub fn default_abbr(name: &str) -> String {
        name.chars().take(2).collect::<String>().to_uppercase()
    }
}

/// The pad side of the settings (`nsynth.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct PadSettings {
    /// Directory holding the pads, resolved against the settings file's folder.
    pub data_directory: PathBuf,
    pub layout: PadLayout,
    /// Pad sample rate in Hz (`nsynth.sampleRate`).
    pub sample_rate: u32,
    pub looping: bool,
    /// Loop start and end as fractions of the row length.
    pub loop_start: f32,
    pub loop_end: f32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSettings {
    /// Output rate in Hz (`audio.sampleRate`).
    pub sample_rate: u32,
    /// Frames per callback (`audio.bufferSize`); also the master-volume ramp length.
    pub buffer_size: usize,
    /// Index into the audio device list, or the default device.
    pub device_id: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MidiSettings {
    /// Serial MIDI device, when the settings name one; otherwise the board's (the original's
    /// default, `/dev/ttyAMA0`, on every Pi board).
    pub device: Option<PathBuf>,
    /// MIDI channel 1–16, or `None` when the configured value matches no channel (as in the
    /// original, MIDI notes are then ignored).
    pub channel: Option<u8>,
    /// Listen on every channel regardless of `channel`.
    pub omni: bool,
    /// Pitch-bend range in semitones each way.
    pub pitch_bend_range: f32,
    /// Which CC moves which control (`midi.cc`, over the General MIDI defaults).
    pub cc: CcMap,
    /// Whole semitones every note is shifted, −24–24 (`midi.transpose`).
    pub transpose: i8,
    /// Cents every note is shifted, −100–100 (`midi.fineTune`).
    pub fine_tune: f32,
    /// How note velocity becomes loudness (`midi.velocityCurve`).
    pub velocity_curve: VelocityCurve,
}

/// Validated settings; every field holds a usable value.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The file these settings came from.
    pub file: PathBuf,
    pub pad: PadSettings,
    /// Instrument lists of the four corners: top-left, top-right, bottom-left, bottom-right.
    pub corners: [Vec<Instrument>; 4],
    pub audio: AudioSettings,
    pub midi: MidiSettings,
    /// UDP port and address for OSC input.
    pub osc_port: u16,
    pub osc_address: std::net::IpAddr,
    /// Board description name (`boards/NAME.toml`).
    pub board: String,
    /// The patch store, resolved against the settings file's folder.
    pub patch_file: PathBuf,
    pub engine: EngineOptions,
    /// Unknown keys and defaults applied to keys the original required, for the log.
    pub warnings: Vec<String>,
}

impl Settings {
    /// Reads the named file, or with `None` the first of [`SEARCH_ORDER`] in `dir` that parses
    /// (a `localSettings.json` that is not valid JSON falls back to `settings.json`, as the
    /// original does, with a warning).
    pub fn find(explicit: Option<&Path>, dir: &Path) -> Result<Self, SettingsError> {
        if let Some(path) = explicit {
            return Self::from_file(path);
        }
        let mut skipped = Vec::new();
        for name in SEARCH_ORDER {
            let path = dir.join(name);
            if !path.exists() {
                continue;
            }
            match Self::from_file(&path) {
                Err(error @ SettingsError::Syntax { .. }) if name != "settings.json" => {
                    skipped.push(format!("ignored {error}; using settings.json"));
                }
                Ok(mut settings) => {
                    settings.warnings.splice(0..0, skipped);
                    return Ok(settings);
                }
                Err(error) => return Err(error),
            }
        }
        Err(SettingsError::NotFound {
            dir: dir.to_path_buf(),
        })
    }

    /// Reads and validates one settings file.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text =
            crate::limits::read_text(path, crate::limits::SETTINGS_FILE_BYTES, "settings file")
                .map_err(|cause| SettingsError::Read {
                    path: path.to_path_buf(),
                    cause,
                })?;
        Self::from_json(&text, path)
    }

    /// Validates settings text; `path` names the file in messages and anchors relative paths.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, SettingsError> {
        let mut warnings = Vec::new();
        let raw = parse(text, path, &mut warnings)?;
        Validator {
            path,
            warnings: &mut warnings,
        }
        .settings(raw)
        .map(|mut settings| {
            settings.warnings = warnings;
            settings
        })
    }
}

/// Parses the JSON into the raw schema, recording unknown keys as warnings.
fn parse(
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<RawSettings, SettingsError> {
    // A syntax error is reported with its line and column; a type error with its key path.
    serde_json::from_str::<serde_json::Value>(text).map_err(|cause| SettingsError::Syntax {
        path: path.to_path_buf(),
        cause,
    })?;
    let mut json = serde_json::Deserializer::from_str(text);
    let mut unknown = |key: serde_ignored::Path| {
        // serde_ignored writes an `Option` layer as `?`; users know only the JSON path.
        let key = key.to_string();
        let key: Vec<&str> = key.split('.').filter(|part| *part != "?").collect();
        warnings.push(format!(
            "{}: unknown key `{}` ignored",
            path.display(),
            key.join(".")
        ));
    };
    let tracked = serde_ignored::Deserializer::new(&mut json, &mut unknown);
    serde_path_to_error::deserialize(tracked).map_err(|error| SettingsError::Invalid {
        path: path.to_path_buf(),
        key: error.path().to_string(),
        message: error.into_inner().to_string(),
    })
}

/// Turns the raw schema into [`Settings`], applying defaults and checking ranges.
struct Validator<'a> {
    path: &'a Path,
    warnings: &'a mut Vec<String>,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> SettingsError {
        SettingsError::Invalid {
            path: self.path.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn defaulted<T: std::fmt::Display>(&mut self, key: &str, value: T) -> T {
        self.warnings.push(format!(
            "{}: `{key}` is missing; using {value}",
            self.path.display()
        ));
        value
    }

    /// The folder relative paths in the settings resolve against.
    fn folder(&self) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn settings(mut self, raw: RawSettings) -> Result<Settings, SettingsError> {
        let pad = self.pad(raw.nsynth.unwrap_or_default())?;
        let corners = self.corners(raw.corners)?;
        let audio = self.audio(raw.audio.unwrap_or_default())?;
        let midi = self.midi(raw.midi.unwrap_or_default())?;
        let osc_in = raw.osc.unwrap_or_default().input.unwrap_or_default();
        let osc_port = osc_in.port.or(osc_in.port_number).unwrap_or(8000);
        let osc_address = match osc_in.address {
            None => std::net::IpAddr::from([0, 0, 0, 0]),
            Some(text) => text.parse().map_err(|_| {
                self.invalid(
                    "osc.in.address",
                    format!("`{text}` is not an IP address such as 0.0.0.0 or 127.0.0.1"),
                )
            })?,
        };
        let board = raw.board.unwrap_or_else(|| "rpi3".into());
        let patch_file = self.folder().join(
            raw.patch_file
                .filter(|file| !file.is_empty())
                .unwrap_or_else(|| "patches.json".into()),
        );
        let engine = self.engine(raw.engine.unwrap_or_default())?;
        Ok(Settings {
            file: self.path.to_path_buf(),
            pad,
            corners,
            audio,
            midi,
            osc_port,
            osc_address,
            board,
            patch_file,
            engine,
            warnings: Vec::new(),
        })
    }

    fn pad(&mut self, raw: raw::RawNsynth) -> Result<PadSettings, SettingsError> {
        let resolution = raw.resolution.unwrap_or(9);
        if resolution == 0 {
            return Err(self.invalid(
                "nsynth.resolution",
                "must be at least 1 grid point per axis",
            ));
        }
        let pitches = match raw.pitches {
            None => DEFAULT_PITCHES.to_vec(),
            Some(list) => validate_pitches(list)
                .map_err(|error| self.invalid(error.key("nsynth.pitches"), error.to_string()))?,
        };
        let length = raw.length.unwrap_or(60000);
        if length < 2 {
            return Err(self.invalid("nsynth.length", "must be at least 2 samples per row"));
        }
        let sample_rate = raw.sample_rate.unwrap_or(16000);
        if sample_rate == 0 {
            return Err(self.invalid("nsynth.sampleRate", "must be a rate in Hz above 0"));
        }
        let loop_start = self.fraction("nsynth.loopStart", raw.loop_start.unwrap_or(0.2))?;
        let loop_end = self.fraction("nsynth.loopEnd", raw.loop_end.unwrap_or(0.41))?;
        if loop_end < loop_start {
            return Err(self.invalid(
                "nsynth.loopEnd",
                format!(
                    "the loop ends ({loop_end}) before it starts (nsynth.loopStart {loop_start})"
                ),
            ));
        }
        let layout = PadLayout {
            resolution: resolution as usize,
            pitches,
            length: length as usize,
        };
        layout
            .check_size()
            .map_err(|error| self.invalid("nsynth", error.to_string()))?;
        let directory = raw.data_directory.unwrap_or_default();
        Ok(PadSettings {
            data_directory: self.folder().join(directory),
            layout,
            sample_rate,
            looping: raw.looping.unwrap_or(true),
            loop_start,
            loop_end,
        })
    }

    fn fraction(&self, key: &str, value: f64) -> Result<f32, SettingsError> {
        if (0.0..=1.0).contains(&value) {
            Ok(value as f32)
        } else {
            Err(self.invalid(
                key,
                format!("{value} is outside 0–1 (a fraction of the row)"),
            ))
        }
    }

    fn corners(
        &mut self,
        raw: Option<Vec<raw::RawCorner>>,
    ) -> Result<[Vec<Instrument>; 4], SettingsError> {
        let raw = raw.ok_or_else(|| {
            self.invalid(
                "corners",
                "is required: four corners, each with a list of instruments",
            )
        })?;
        if raw.len() < 4 {
            return Err(self.invalid(
                "corners",
                format!(
                    "needs 4 corners (top-left, top-right, bottom-left, bottom-right), found {}",
                    raw.len()
                ),
            ));
        }
        if raw.len() > 4 {
            self.warnings.push(format!(
                "{}: `corners` has {} entries; only the first 4 are used",
                self.path.display(),
                raw.len()
            ));
        }
        let mut corners: [Vec<Instrument>; 4] = Default::default();
        for (c, corner) in raw.into_iter().take(4).enumerate() {
            let list = corner.instruments.unwrap_or_default();
            if list.is_empty() {
                return Err(self.invalid(
                    format!("corners[{c}].instruments"),
                    "needs at least one instrument",
                ));
            }
            for (i, instrument) in list.into_iter().enumerate() {
                corners[c]
                    .push(self.instrument(&format!("corners[{c}].instruments[{i}]"), instrument)?);
            }
        }
        Ok(corners)
    }

    fn instrument(
        &mut self,
        key: &str,
        raw: raw::RawInstrument,
    ) -> Result<Instrument, SettingsError> {
        let name = raw.name.filter(|name| !name.is_empty()).ok_or_else(|| {
            self.invalid(format!("{key}.name"), "is required: the pad file-name part")
        })?;
        if name.contains(['/', '\\']) {
            return Err(self.invalid(
                format!("{key}.name"),
                format!("`{name}` must not contain a path separator"),
            ));
        }
        let display = match raw.display {
            Some(display) => display,
            None => self.defaulted(&format!("{key}.display"), name.clone()),
        };
        let abbr = match raw.abbr {
            Some(abbr) => abbr,
            None => self.defaulted(&format!("{key}.abbr"), Instrument::default_abbr(&name)),
        };
        Ok(Instrument {
            name,
            display,
            abbr,
        })
    }

    /// One of the named `choices`; a missing key takes the first.
    fn choice<T: Copy>(
        &self,
        key: &str,
        value: Option<String>,
        choices: &[(&str, T)],
    ) -> Result<T, SettingsError> {
        let Some(value) = value else {
            return Ok(choices[0].1);
        };
        choices
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<String> = choices
                    .iter()
                    .map(|(name, _)| format!("\"{name}\""))
                    .collect();
                self.invalid(key, format!("`{value}` is not one of {}", names.join(", ")))
            })
    }

    fn audio(&mut self, raw: raw::RawAudio) -> Result<AudioSettings, SettingsError> {
        let sample_rate = match raw.sample_rate {
            Some(rate) => rate,
            None => self.defaulted("audio.sampleRate", 48000),
        };
        if sample_rate == 0 {
            return Err(self.invalid("audio.sampleRate", "must be a rate in Hz above 0"));
        }
        let buffer_size = match raw.buffer_size {
            Some(size) => size,
            None => self.defaulted("audio.bufferSize", 128),
        };
        if buffer_size == 0 {
            return Err(self.invalid("audio.bufferSize", "must be at least 1 frame"));
        }
        Ok(AudioSettings {
            sample_rate,
            buffer_size: buffer_size as usize,
            device_id: raw.device_id.map(|id| id as usize),
        })
    }

    fn midi(&mut self, raw: raw::RawMidi) -> Result<MidiSettings, SettingsError> {
        let channel = raw.channel.unwrap_or(7);
        let channel = match u8::try_from(channel) {
            Ok(channel @ 1..=16) => Some(channel),
            _ => {
                self.warnings.push(format!(
                    "{}: `midi.channel` {channel} is outside 1–16, so no MIDI channel matches (as in the original)",
                    self.path.display()
                ));
                None
            }
        };
        let pitch_bend_range = raw.pitch_bend_range.unwrap_or(2.0);
        if !(0.0..=24.0).contains(&pitch_bend_range) {
            return Err(self.invalid(
                "midi.pitchBendRange",
                format!("{pitch_bend_range} is outside 0–24 semitones"),
            ));
        }
        let cc = match raw.cc {
            None | Some(serde_json::Value::Null) => CcMap::general_midi(),
            Some(json) => CcMap::from_json(&json)
                .map_err(|error| self.invalid(error.key_under("midi.cc"), error.message))?,
        };
        let transpose = raw.transpose.unwrap_or(0.0);
        if !(transpose.fract() == 0.0 && (-24.0..=24.0).contains(&transpose)) {
            return Err(self.invalid(
                "midi.transpose",
                format!("{transpose} is not a whole number of semitones −24–24"),
            ));
        }
        let fine_tune = raw.fine_tune.unwrap_or(0.0);
        if !(-100.0..=100.0).contains(&fine_tune) {
            return Err(self.invalid(
                "midi.fineTune",
                format!("{fine_tune} is outside −100–100 cents"),
            ));
        }
        Ok(MidiSettings {
            device: raw.device.map(PathBuf::from),
            channel,
            omni: raw.omni.unwrap_or(false),
            pitch_bend_range: pitch_bend_range as f32,
            cc,
            transpose: transpose as i8,
            fine_tune: fine_tune as f32,
            velocity_curve: self.velocity_curve(raw.velocity_curve)?,
        })
    }

    /// `"linear"`, `"soft"`, `"hard"`, or a whole number 1–127 for one fixed velocity.
    fn velocity_curve(
        &self,
        value: Option<serde_json::Value>,
    ) -> Result<VelocityCurve, SettingsError> {
        use serde_json::Value;
        let curve = match &value {
            None | Some(Value::Null) => Some(VelocityCurve::Linear),
            Some(Value::String(name)) => match name.as_str() {
                "linear" => Some(VelocityCurve::Linear),
                "soft" => Some(VelocityCurve::Soft),
                "hard" => Some(VelocityCurve::Hard),
                _ => None,
            },
            Some(Value::Number(number)) => number
                .as_f64()
                .filter(|fixed| fixed.fract() == 0.0 && (1.0..=127.0).contains(fixed))
                .map(|fixed| VelocityCurve::Fixed(fixed as u8)),
            Some(_) => None,
        };
        curve.ok_or_else(|| {
            let value = value.unwrap_or_default();
            self.invalid(
                "midi.velocityCurve",
                format!(
                    "{value} is not one of \"linear\", \"soft\", \"hard\" or a whole number \
                     1–127 (every note at that velocity)"
                ),
            )
        })
    }

    fn engine(&self, raw: raw::RawEngine) -> Result<EngineOptions, SettingsError> {
        use EnvelopeTimeBase::{Original, Seconds};
        let envelope_time_base = self.choice(
            "engine.envelopeTimeBase",
            raw.envelope_time_base,
            &[("original", Original), ("seconds", Seconds)],
        )?;
        let loop_mode = self.choice(
            "engine.loopMode",
            raw.loop_mode,
            &[
                ("original", LoopMode::Original),
                ("forward", LoopMode::Forward),
            ],
        )?;
        Ok(EngineOptions {
            envelope_time_base,
            loop_mode,
            grid_interpolation: raw.grid_interpolation.unwrap_or(false),
            limiter: raw.limiter.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests;
