//! Pads: the file layout shared with the host tools, the memory-mapped pad file, and the banks of
//! resident rows that a loader builds before the engine may read them.

mod bank;
mod layout;

pub use bank::{Bank, PointRows, Selection, Tap};
pub use layout::{pad_file_name, touch_fraction, PadLayout, BYTES_PER_SAMPLE, TOUCH_GRID};
