//! Pads: the file layout shared with the host tools, the pads a settings file can select, the
//! memory-mapped pad file, the loader that copies the rows that can sound into memory, the banks
//! it hands the engine, and the two ways requests reach it (streamed, or loaded on the spot).

mod bank;
mod feed;
mod file;
mod inventory;
mod layout;
mod loader;
mod stream;

pub use bank::{Bank, PointRows, Selection, Tap};
pub use feed::PadFeed;
pub use file::{PadError, PadFile, PadSource};
pub use inventory::{inventory, pad_state, PadEntry, PadState};
pub use layout::{
    pad_file_name, touch_fraction, validate_pitches, LayoutTooLarge, PadLayout, PitchError,
    BYTES_PER_SAMPLE, MAX_FILE_BYTES, MAX_RESOLUTION, TOUCH_GRID,
};
pub use loader::{Loader, Opener, Target};
pub use stream::{LoadEvent, PadStreamer};
