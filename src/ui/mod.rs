//! The screens of the 128×64 OLED, drawn with embedded-graphics from a [`ScreenModel`].

mod model;

pub use model::{CornerView, PatchPhase, PatchView, Screen, ScreenModel};
