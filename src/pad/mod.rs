//! Pads: the file layout shared with the host tools, the memory-mapped pad file, and the loader
//! that makes rows resident before the engine may read them.

mod layout;

pub use layout::{pad_file_name, touch_fraction, PadLayout, BYTES_PER_SAMPLE, TOUCH_GRID};
