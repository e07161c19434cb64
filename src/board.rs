//! Board descriptions: which I2C bus, addresses, GPIO pins, serial port and sound card the
//! instrument's hardware uses on one kind of computer, and which boot configuration lines it
//! needs. The descriptions in `boards/*.toml` are built into the binary; a user's own file loads
//! the same way. A file is parsed into a raw serde schema, then validated into [`Board`]; every
//! error names the file and the key. This module only reads descriptions: it never touches the
//! hardware, and no pin or address is written here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The built-in descriptions as (name, file text), the default first.
const BUILT_IN: [(&str, &str); 6] = [
    ("rpi3", include_str!("../boards/rpi3.toml")),
    ("rpi3bplus", include_str!("../boards/rpi3bplus.toml")),
    ("rpi4", include_str!("../boards/rpi4.toml")),
    ("rpizero2w", include_str!("../boards/rpizero2w.toml")),
    ("rpi5", include_str!("../boards/rpi5.toml")),
    ("desktop", include_str!("../boards/desktop.toml")),
];

/// Lowest and highest 7-bit I2C addresses a device may use; the others are reserved by the
/// I2C specification (general call, CBUS, high-speed and 10-bit prefixes).
const I2C_ADDRESSES: std::ops::RangeInclusive<i64> = 0x03..=0x77;

/// Most GPIO lines a supported chip has (BCM2835 to 2837: 54; BCM2711: 58; the Pi 5's RP1: 54).
const MAX_GPIO_LINES: i64 = 58;

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("cannot read board file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}{}: not valid TOML: {message}", line_suffix(*line))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{path}{}: key `{key}`: {message}", line_suffix(*line))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
    #[error(
        "unknown board `{name}`: the built-in boards are {}; for a board file of your own, give \
         its path (ending in .toml)",
        known.join(", ")
    )]
    Unknown {
        name: String,
        known: Vec<&'static str>,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|line| format!(", line {line}"))
        .unwrap_or_default()
}

/// Where a description came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardOrigin {
    /// One of the files built into the binary.
    BuiltIn,
    /// A user's file, with the text it held when it was read (so an installer can copy exactly
    /// what was validated).
    File { path: PathBuf, text: String },
}

/// The bus shared by the input microcontroller and the OLED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2cBus {
    /// The bus's device node, such as `/dev/i2c-1`.
    pub device: PathBuf,
    /// 7-bit address of the input microcontroller.
    pub mcu_address: u8,
    /// 7-bit address of the OLED.
    pub oled_address: u8,
}

/// Which resistor holds an input pin at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    Up,
    Down,
    /// The board has its own resistors.
    None,
}

/// A logic level on a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    High,
}

impl Level {
    /// Whether a pin reading `high` is at this level.
    pub fn matches(self, high: bool) -> bool {
        high == (self == Level::High)
    }
}

/// The four patch buttons (the corner encoders' push switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchButtons {
    /// BCM pins of patch slots 1 to 4, all different.
    pub pins: [u8; 4],
    pub pull: Pull,
    /// The level that means pressed.
    pub active: Level,
}

/// The header pins the instrument uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioPins {
    /// Label of the GPIO chip that owns the header pins, as `gpiodetect` lists it; stable where
    /// the `/dev/gpiochipN` number is not.
    pub chip: String,
    /// Highest BCM number on the header; every pin here is at most this.
    pub highest_pin: u8,
    /// The OLED's reset line, if the board wires one.
    pub oled_reset: Option<u8>,
    pub patch_buttons: PatchButtons,
}

/// A validated board description. A missing part means the board has none: no `i2c`, no
/// controls or screen; no `midi_serial`, no DIN MIDI; no `boot_config`, nothing to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// Short name (letters, digits, `-`, `_`), as `--board` takes it.
    pub name: String,
    pub description: String,
    pub origin: BoardOrigin,
    pub i2c: Option<I2cBus>,
    pub gpio: Option<GpioPins>,
    /// Serial port of the DIN MIDI input.
    pub midi_serial: Option<PathBuf>,
    /// ALSA card name of the sound output; `None` means the system's default device.
    pub audio_card: Option<String>,
    /// Lines the boot partition's `config.txt` needs, in order; empty for boards with no boot
    /// configuration.
    pub boot_config: Vec<String>,
}

impl Board {
    /// Names of the built-in boards, the default first.
    pub fn built_in_names() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(name, _)| *name)
    }

    /// One of the built-in boards.
    pub fn named(name: &str) -> Result<Self, BoardError> {
        let (_, text) = BUILT_IN
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| BoardError::Unknown {
                name: name.to_owned(),
                known: Self::built_in_names().collect(),
            })?;
        Self::from_toml(text, &built_in_path(name), BoardOrigin::BuiltIn)
    }

    /// Reads and validates a board file.
    pub fn from_file(path: &Path) -> Result<Self, BoardError> {
        let text = crate::limits::read_text(path, crate::limits::BOARD_FILE_BYTES, "board file")
            .map_err(|cause| BoardError::Read {
                path: path.to_path_buf(),
                cause,
            })?;
        Self::from_text(&text, path)
    }

    /// Validates the text of a user's board file; `path` names the file in messages.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, BoardError> {
        let origin = BoardOrigin::File {
            path: path.to_path_buf(),
            text: text.to_owned(),
        };
        Self::from_toml(text, path, origin)
    }

    /// The board `spec` names: a built-in name, or a path to a board file (anything with a `/`
    /// or ending in `.toml`), relative paths taken from `base_dir`. This is how both `--board`
    /// and settings.json's `board` are read.
    pub fn select(spec: &str, base_dir: &Path) -> Result<Self, BoardError> {
        if spec.contains('/') || spec.ends_with(".toml") {
            Self::from_file(&base_dir.join(spec))
        } else {
            Self::named(spec)
        }
    }

    /// Validates board file text; `path` names the file in messages.
    fn from_toml(text: &str, path: &Path, origin: BoardOrigin) -> Result<Self, BoardError> {
        let raw = parse(text, path)?;
        Validator { path }.board(raw, origin)
    }
}

/// How built-in files are named in messages: as they sit in the source tree.
fn built_in_path(name: &str) -> PathBuf {
    Path::new("boards").join(format!("{name}.toml"))
}

/// The board file as written: every section optional, numbers wide so that range errors can
/// say what the range is.
mod raw {
    use serde::Deserialize;

    use super::{Level, Pull};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Board {
        pub name: String,
        pub description: String,
        pub i2c: Option<I2c>,
        pub gpio: Option<Gpio>,
        pub midi: Option<Midi>,
        pub audio: Option<Audio>,
        pub boot: Option<Boot>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct I2c {
        pub device: String,
        pub mcu_address: i64,
        pub oled_address: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Gpio {
        pub chip: String,
        pub highest_pin: i64,
        pub oled_reset: Option<i64>,
        pub patch_buttons: PatchButtons,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PatchButtons {
        pub pins: Vec<i64>,
        pub pull: Pull,
        pub active: Level,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Midi {
        pub device: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Audio {
        pub card: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Boot {
        pub config: Vec<String>,
    }
}

/// Parses the TOML into the raw schema; a type error or unknown key names its key path.
fn parse(text: &str, path: &Path) -> Result<raw::Board, BoardError> {
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
    };
    let document = toml::Deserializer::parse(text).map_err(|error| BoardError::Syntax {
        path: path.to_path_buf(),
        line: line_of(error.span()),
        message: error.message().to_owned(),
    })?;
    serde_path_to_error::deserialize(document).map_err(|error| {
        let mut key = error.path().to_string();
        let inner = error.into_inner();
        let mut message = inner
            .message()
            .replace("expected i64", "expected an integer");
        // serde names a missing key in the message and points at its section; point at the key.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_owned);
        if let Some(field) = missing {
            key = if key == "." {
                field
            } else {
                format!("{key}.{field}")
            };
            message = "required, and missing".to_owned();
        }
        BoardError::Invalid {
            path: path.to_path_buf(),
            line: line_of(inner.span()),
            key,
            message,
        }
    })
}

/// Turns the raw schema into a [`Board`], checking ranges and conflicts.
struct Validator<'a> {
    path: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> BoardError {
        BoardError::Invalid {
            path: self.path.to_path_buf(),
            line: None,
            key: key.into(),
            message: message.into(),
        }
    }

    fn board(&self, raw: raw::Board, origin: BoardOrigin) -> Result<Board, BoardError> {
        let name_is_plain = !raw.name.is_empty()
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_is_plain {
            return Err(self.invalid(
                "name",
                format!(
                    "`{}` is not a plain name: use letters, digits, `-` and `_`",
                    raw.name
                ),
            ));
        }
        if raw.description.trim().is_empty() {
            return Err(self.invalid("description", "must say which computer this is"));
        }
        let i2c = raw.i2c.map(|i2c| self.i2c(i2c)).transpose()?;
        let gpio = raw.gpio.map(|gpio| self.gpio(gpio)).transpose()?;
        let midi_serial = raw
            .midi
            .map(|midi| self.device_path("midi.device", midi.device))
            .transpose()?;
        let audio_card = match raw.audio {
            Some(audio) if audio.card.trim().is_empty() => {
                return Err(self.invalid(
                    "audio.card",
                    "must name an ALSA card (leave out [audio] for the default device)",
                ))
            }
            Some(audio) => Some(audio.card),
            None => None,
        };
        let boot_config = match raw.boot {
            Some(boot) => self.boot_lines(boot.config)?,
            None => Vec::new(),
        };
        Ok(Board {
            name: raw.name,
            description: raw.description,
            origin,
            i2c,
            gpio,
            midi_serial,
            audio_card,
            boot_config,
        })
    }

    fn device_path(&self, key: &str, text: String) -> Result<PathBuf, BoardError> {
        if text.starts_with('/') {
            Ok(PathBuf::from(text))
        } else {
            Err(self.invalid(
                key,
                format!("`{text}` is not an absolute device path such as /dev/ttyAMA0"),
            ))
        }
    }

    fn i2c(&self, raw: raw::I2c) -> Result<I2cBus, BoardError> {
        let device = self.device_path("i2c.device", raw.device)?;
        let mcu_address = self.address("i2c.mcu_address", raw.mcu_address)?;
        let oled_address = self.address("i2c.oled_address", raw.oled_address)?;
        if mcu_address == oled_address {
            return Err(self.invalid(
                "i2c.oled_address",
                format!(
                    "{oled_address:#04x} is also i2c.mcu_address; the two devices share the bus \
                     and need different addresses"
                ),
            ));
        }
        Ok(I2cBus {
            device,
            mcu_address,
            oled_address,
        })
    }

    fn address(&self, key: &str, value: i64) -> Result<u8, BoardError> {
        if I2C_ADDRESSES.contains(&value) {
            // The range check makes the narrowing exact.
            Ok(value as u8)
        } else {
            Err(self.invalid(
                key,
                format!(
                    "{} is not a usable 7-bit I2C address (0x03 to 0x77; write it in hex, such \
                     as 0x47)",
                    if value < 0 {
                        value.to_string()
                    } else {
                        format!("{value:#04x}")
                    }
                ),
            ))
        }
    }

    fn gpio(&self, raw: raw::Gpio) -> Result<GpioPins, BoardError> {
        if raw.chip.trim().is_empty() {
            return Err(self.invalid(
                "gpio.chip",
                "must be the GPIO chip's label, as gpiodetect shows it (pinctrl-bcm2835 on a Pi 3)",
            ));
        }
        if !(0..MAX_GPIO_LINES).contains(&raw.highest_pin) {
            return Err(self.invalid(
                "gpio.highest_pin",
                format!(
                    "{} is not a GPIO number (0 to {})",
                    raw.highest_pin,
                    MAX_GPIO_LINES - 1
                ),
            ));
        }
        let highest_pin = raw.highest_pin as u8;
        let pin = |key: &str, value: i64| -> Result<u8, BoardError> {
            if (0..=i64::from(highest_pin)).contains(&value) {
                Ok(value as u8)
            } else {
                Err(self.invalid(
                    key,
                    format!("{value} is not a header pin (0 to gpio.highest_pin, {highest_pin})"),
                ))
            }
        };
        let oled_reset = raw
            .oled_reset
            .map(|value| pin("gpio.oled_reset", value))
            .transpose()?;
        let list: &[i64] = &raw.patch_buttons.pins;
        let Ok(listed) = <[i64; 4]>::try_from(list) else {
            return Err(self.invalid(
                "gpio.patch_buttons.pins",
                format!(
                    "expected 4 pins, for patch slots 1 to 4; found {}",
                    raw.patch_buttons.pins.len()
                ),
            ));
        };
        let mut pins = [0u8; 4];
        for (slot, value) in listed.into_iter().enumerate() {
            let key = format!("gpio.patch_buttons.pins[{slot}]");
            let number = pin(&key, value)?;
            if let Some(earlier) = pins[..slot].iter().position(|&other| other == number) {
                return Err(self.invalid(
                    key,
                    format!(
                        "pin {number} is also patch slot {}'s; each slot needs its own pin",
                        earlier + 1
                    ),
                ));
            }
            if oled_reset == Some(number) {
                return Err(self.invalid(key, format!("pin {number} is also gpio.oled_reset")));
            }
            pins[slot] = number;
        }
        Ok(GpioPins {
            chip: raw.chip,
            highest_pin,
            oled_reset,
            patch_buttons: PatchButtons {
                pins,
                pull: raw.patch_buttons.pull,
                active: raw.patch_buttons.active,
            },
        })
    }

    fn boot_lines(&self, lines: Vec<String>) -> Result<Vec<String>, BoardError> {
        for (index, line) in lines.iter().enumerate() {
            let key = format!("boot.config[{index}]");
            if line.contains(['\n', '\r']) {
                return Err(
                    self.invalid(key, "must be a single line; give each line its own entry")
                );
            }
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                // Comments belong in the board file, next to the line they explain; keeping them
                // out of config.txt also keeps the installer's block markers unambiguous.
                return Err(self.invalid(
                    key,
                    "must be a config.txt setting, not empty and not a comment (comment the board \
                     file instead)",
                ));
            }
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(text: &str) -> (String, String) {
        match Board::from_toml(text, Path::new("my.toml"), BoardOrigin::BuiltIn) {
            Err(BoardError::Invalid { key, message, .. }) => (key, message),
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    /// rpi3.toml with one line replaced, for breaking one key at a time.
    fn rpi3_with(old: &str, new: &str) -> String {
        let text = BUILT_IN[0].1;
        assert!(text.contains(old), "rpi3.toml has no `{old}`");
        text.replacen(old, new, 1)
    }

    #[test]
    fn every_built_in_board_loads_under_its_own_name() {
        for name in Board::built_in_names() {
            let board = Board::named(name).unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(board.name, name);
            assert_eq!(board.origin, BoardOrigin::BuiltIn);
        }
        assert_eq!(Board::built_in_names().next(), Some("rpi3"));
    }

    #[test]
    fn every_pi_has_the_instruments_wiring() {
        for name in Board::built_in_names().filter(|name| name.starts_with("rpi")) {
            let board = Board::named(name).unwrap();
            let i2c = board.i2c.as_ref().unwrap();
            assert_eq!(i2c.device, Path::new("/dev/i2c-1"), "{name}");
            assert_eq!((i2c.mcu_address, i2c.oled_address), (0x47, 0x3D), "{name}");
            let gpio = board.gpio.as_ref().unwrap();
            assert_eq!(gpio.oled_reset, Some(4), "{name}");
            assert_eq!(
                gpio.patch_buttons,
                PatchButtons {
                    pins: [5, 6, 13, 26],
                    pull: Pull::Up,
                    active: Level::Low
                },
                "{name}"
            );
            assert_eq!(
                board.midi_serial.as_deref(),
                Some(Path::new("/dev/ttyAMA0"))
            );
            assert_eq!(board.audio_card.as_deref(), Some("IQaudIODAC"));
            for line in [
                "dtoverlay=iqaudio-dac",
                "dtparam=i2c_arm=on",
                "dtparam=i2c_arm_baudrate=640000",
            ] {
                assert!(
                    board.boot_config.iter().any(|l| l == line),
                    "{name}: {line}"
                );
            }
        }
    }

    #[test]
    fn each_model_frees_the_uart_its_own_way() {
        let config = |name| Board::named(name).unwrap().boot_config;
        let rpi3 = config("rpi3");
        assert!(rpi3.contains(&"dtoverlay=pi3-miniuart-bt".to_owned()));
        assert!(rpi3.contains(&"dtoverlay=midi-uart0".to_owned()));
        assert!(config("rpi4").contains(&"dtoverlay=miniuart-bt".to_owned()));
        let rpi5 = config("rpi5");
        assert!(rpi5.contains(&"dtparam=uart0=on".to_owned()));
        assert!(rpi5.contains(&"dtoverlay=midi-uart0-pi5".to_owned()));
        assert!(!rpi5.iter().any(|line| line == "dtoverlay=midi-uart0"
            || line.contains("-bt")
            || line.starts_with("dtparam=audio")));
        assert_eq!(
            Board::named("rpi5").unwrap().gpio.unwrap().chip,
            "pinctrl-rp1"
        );
        assert_eq!(
            Board::named("rpi4").unwrap().gpio.unwrap().chip,
            "pinctrl-bcm2711"
        );
    }

    #[test]
    fn the_desktop_has_no_hardware_and_nothing_to_install() {
        let desktop = Board::named("desktop").unwrap();
        assert_eq!(desktop.i2c, None);
        assert_eq!(desktop.gpio, None);
        assert_eq!(desktop.midi_serial, None);
        assert_eq!(desktop.audio_card, None);
        assert!(desktop.boot_config.is_empty());
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let error = Board::named("rpi6").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, BoardError::Unknown { .. }));
        for name in ["rpi3", "rpi3bplus", "rpi4", "rpizero2w", "rpi5", "desktop"] {
            assert!(message.contains(name), "{message}");
        }
        assert!(message.contains("`rpi6`"), "{message}");
    }

    #[test]
    fn select_takes_names_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let text = rpi3_with("name = \"rpi3\"", "name = \"mine\"");
        std::fs::write(dir.path().join("mine.toml"), &text).unwrap();
        let board = Board::select("mine.toml", dir.path()).unwrap();
        assert_eq!(board.name, "mine");
        assert_eq!(
            board.origin,
            BoardOrigin::File {
                path: dir.path().join("mine.toml"),
                text
            }
        );
        assert_eq!(Board::select("rpi4", dir.path()).unwrap().name, "rpi4");
        let missing = Board::select("./absent.toml", dir.path()).unwrap_err();
        assert!(matches!(missing, BoardError::Read { .. }), "{missing}");
        assert!(missing.to_string().contains("absent.toml"));
    }

    #[test]
    fn a_broken_file_names_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.toml");
        std::fs::write(
            &path,
            rpi3_with("mcu_address = 0x47", "mcu_address = \"0x47\""),
        )
        .unwrap();
        let message = Board::from_file(&path).unwrap_err().to_string();
        assert!(message.contains("broken.toml"), "{message}");
        assert!(message.contains("`i2c.mcu_address`"), "{message}");
        assert!(message.contains("line "), "{message}");
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_named() {
        let (key, message) = invalid(&rpi3_with("pull = \"up\"", "pull = \"sideways\""));
        assert_eq!(key, "gpio.patch_buttons.pull");
        assert!(message.contains("sideways"), "{message}");
        let (key, message) = invalid(&rpi3_with("oled_reset = 4", "oled_rest = 4"));
        assert_eq!(key, "gpio.oled_rest");
        assert!(
            message.contains("oled_reset"),
            "the known keys are listed: {message}"
        );
        let (key, _) = invalid(&rpi3_with("\n[audio]\n", "\n[audoi]\n"));
        assert_eq!(key, "audoi");
        let (key, message) = invalid(&rpi3_with("mcu_address = 0x47\n", ""));
        assert_eq!(key, "i2c.mcu_address");
        assert!(message.contains("missing"), "{message}");
        let (key, message) = invalid(&rpi3_with("highest_pin = 27", "highest_pin = 27.5"));
        assert_eq!(key, "gpio.highest_pin");
        assert!(message.contains("expected an integer"), "{message}");
    }

    #[test]
    fn a_syntax_error_gives_the_line() {
        let text = rpi3_with("highest_pin = 27", "highest_pin = = 27");
        let line = text
            .lines()
            .position(|line| line.contains("= = 27"))
            .unwrap()
            + 1;
        match Board::from_toml(&text, Path::new("my.toml"), BoardOrigin::BuiltIn) {
            Err(BoardError::Syntax { line: found, .. }) => assert_eq!(found, Some(line)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn addresses_must_be_usable_and_distinct() {
        for bad in ["0x02", "0x78", "-1", "300"] {
            let (key, message) = invalid(&rpi3_with(
                "mcu_address = 0x47",
                &format!("mcu_address = {bad}"),
            ));
            assert_eq!(key, "i2c.mcu_address");
            assert!(message.contains("0x03 to 0x77"), "{message}");
        }
        let lowest = rpi3_with("mcu_address = 0x47", "mcu_address = 0x03");
        assert_eq!(
            Board::from_toml(&lowest, Path::new("x"), BoardOrigin::BuiltIn)
                .unwrap()
                .i2c
                .unwrap()
                .mcu_address,
            3
        );
        let (key, message) = invalid(&rpi3_with("oled_address = 0x3D", "oled_address = 0x47"));
        assert_eq!(key, "i2c.oled_address");
        assert!(message.contains("0x47"), "{message}");
    }

    #[test]
    fn pins_must_be_on_the_header_and_distinct() {
        let (key, message) = invalid(&rpi3_with("[5, 6, 13, 26]", "[5, 6, 13, 28]"));
        assert_eq!(key, "gpio.patch_buttons.pins[3]");
        assert!(message.contains("27"), "{message}");
        let (key, message) = invalid(&rpi3_with("[5, 6, 13, 26]", "[5, 6, 5, 26]"));
        assert_eq!(key, "gpio.patch_buttons.pins[2]");
        assert!(message.contains("slot 1"), "{message}");
        let (key, _) = invalid(&rpi3_with("[5, 6, 13, 26]", "[5, 6, 13]"));
        assert_eq!(key, "gpio.patch_buttons.pins");
        let (key, message) = invalid(&rpi3_with("[5, 6, 13, 26]", "[5, 6, 13, 4]"));
        assert_eq!(key, "gpio.patch_buttons.pins[3]");
        assert!(message.contains("oled_reset"), "{message}");
        let (key, _) = invalid(&rpi3_with("oled_reset = 4", "oled_reset = -4"));
        assert_eq!(key, "gpio.oled_reset");
        let (key, _) = invalid(&rpi3_with("highest_pin = 27", "highest_pin = 58"));
        assert_eq!(key, "gpio.highest_pin");
        // A model with fewer header pins narrows the range.
        let (key, _) = invalid(&rpi3_with("highest_pin = 27", "highest_pin = 20"));
        assert_eq!(key, "gpio.patch_buttons.pins[3]");
    }

    #[test]
    fn names_paths_and_boot_lines_are_checked() {
        let (key, _) = invalid(&rpi3_with("name = \"rpi3\"", "name = \"my board\""));
        assert_eq!(key, "name");
        let description =
            "description = \"Raspberry Pi 3 Model B (the original Open NSynth Super)\"";
        let (key, message) = invalid(&rpi3_with(description, ""));
        assert_eq!(
            (key.as_str(), message.as_str()),
            ("description", "required, and missing")
        );
        let (key, _) = invalid(&rpi3_with("device = \"/dev/i2c-1\"", "device = \"i2c-1\""));
        assert_eq!(key, "i2c.device");
        let (key, _) = invalid(&rpi3_with(
            "device = \"/dev/ttyAMA0\"",
            "device = \"ttyAMA0\"",
        ));
        assert_eq!(key, "midi.device");
        let (key, _) = invalid(&rpi3_with("card = \"IQaudIODAC\"", "card = \" \""));
        assert_eq!(key, "audio.card");
        let (key, _) = invalid(&rpi3_with(
            "\"enable_uart=1\",",
            "\"enable_uart=1\",\n    \"# a comment\",",
        ));
        assert_eq!(key, "boot.config[5]");
        let (key, _) = invalid(&rpi3_with(
            "\"enable_uart=1\",",
            "\"enable_uart=1\\n[pi4]\",",
        ));
        assert_eq!(key, "boot.config[4]");
    }

    #[test]
    fn a_missing_section_means_none_of_it() {
        let start = BUILT_IN[0].1.find("\n[midi]\n").unwrap();
        let end = BUILT_IN[0].1.find("\n[audio]\n").unwrap();
        let mut text = BUILT_IN[0].1.to_owned();
        text.replace_range(start..end, "");
        let board = Board::from_toml(&text, Path::new("x"), BoardOrigin::BuiltIn).unwrap();
        assert_eq!(board.midi_serial, None);
        assert!(board.i2c.is_some());
    }

    #[test]
    fn active_level_reads_pins() {
        assert!(Level::Low.matches(false));
        assert!(!Level::Low.matches(true));
        assert!(Level::High.matches(true));
        assert!(!Level::High.matches(false));
    }
}
