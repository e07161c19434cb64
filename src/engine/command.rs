//! What reaches the engine from other threads: small `Copy` commands with the frame they are due
//! at, through wait-free single-producer rings. Producers never block; a full ring drops the
//! command and says so to the producer.

/// A knob-like engine parameter, each a normalised value 0–1 like the original's pots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// Start offset into the row, as a fraction of its length.
    Position,
    Attack,
    Decay,
    Sustain,
    Release,
    /// Master volume, a linear gain.
    Volume,
}

/// One thing for the engine to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Start a voice; `velocity` 0–1 (0 acts as a note-off, as in the original).
    NoteOn { note: u8, velocity: f32 },
    /// Release the oldest held voice of this note.
    NoteOff { note: u8 },
    /// Set a parameter to a value 0–1 (clamped).
    Set(Param, f32),
    /// Release every held voice.
    AllNotesOff,
    /// Sustain pedal: while down, note-offs leave their voices held until it comes up.
    Sustain(bool),
    /// Pitch bend of every voice, in semitones (clamped to ±24).
    PitchBend(f32),
    /// Transpose notes started from now on, in semitones (clamped to ±24); sounding notes keep
    /// their pitch, and note-offs still match the note numbers that started them.
    Transpose(i8),
    /// Fine tuning of every voice, in cents (clamped to ±100).
    FineTune(f32),
    /// New loop points as fractions of the row (clamped to 0–1; swapped if reversed).
    Loop { start: f32, end: f32 },
    /// Fade every voice out at once (about 3 ms).
    AllSoundOff,
}

/// An action and the engine frame it is due at; frame 0 (or any past frame) means "at once".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Command {
    pub at: u64,
    pub action: Action,
}

impl Command {
    /// An action to apply at the start of the next block the engine renders.
    pub fn now(action: Action) -> Self {
        Self { at: 0, action }
    }
}

/// The producing end of a command ring.
pub type CommandSender = rtrb::Producer<Command>;
