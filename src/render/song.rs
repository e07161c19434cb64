//! The instrument's controls while a song plays: the same controller as the device's, started
//! where the song's options say, moved by the song's control and program changes through the CC
//! map in force and the patch store. Shared by `render` and `play`; it never saves a patch or a
//! learned map, since nothing in a song asks for either.

use anyhow::bail;

use super::SongOptions;
use crate::control::{Controller, Effect};
use crate::engine::{Action, Knobs};
use crate::input::Input;
use crate::pad::Target;
use crate::patch::{PatchError, PatchStore};
use crate::settings::Settings;

/// The controller a song moves.
pub struct SongControls {
    controller: Controller,
    effects: Vec<Effect>,
}

/// What one control input changed.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// For the engine, at the input's frame.
    pub actions: Vec<Action>,
    /// The pad and position to play from, if they changed.
    pub pad: Option<Target>,
}

impl SongControls {
    /// The device's controller with the settings' patches and CC map, set to the options'
    /// instruments, grid position and knobs.
    pub fn new(settings: &Settings, options: &SongOptions) -> anyhow::Result<Self> {
        let (patches, problems) = PatchStore::open(settings.patch_file.clone());
        for problem in problems {
            match problem {
                PatchError::Missing { .. } => tracing::debug!("{problem}"),
                _ => tracing::warn!("{problem}"),
            }
        }
        let (cc_map, problem) = crate::midi::cc_map_in_force(settings);
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        let mut controls = Self {
            controller: Controller::new(settings, patches, cc_map),
            effects: Vec::new(),
        };
        if let Some(names) = &options.instruments {
            for (corner, name) in names.iter().enumerate() {
                let list = &settings.corners[corner];
                let Some(index) = list.iter().position(|i| &i.name == name) else {
                    let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
                    bail!(
                        "corner {} has no instrument named `{name}`; its instruments: {}",
                        corner + 1,
                        names.join(", ")
                    );
                };
                controls.handle(Input::Instrument { corner, index });
            }
        }
        let (x, y) = options.grid;
        controls.handle(Input::Grid { x, y });
        for (pot, value) in options.knobs.in_pot_order().into_iter().enumerate() {
            let value = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
            controls.handle(Input::Pot { pot, value });
        }
        Ok(controls)
    }

    /// The pad and position the controls select.
    pub fn target(&self) -> Target {
        self.controller.pad_target()
    }

    /// The knob values in effect.
    pub fn knobs(&self) -> Knobs {
        self.controller.knobs()
    }

    /// Moves the controls as `input` does on the device; warnings go to the log.
    pub fn handle(&mut self, input: Input) -> Changes {
        self.controller.handle(input, &mut self.effects);
        let mut changes = Changes::default();
        for effect in self.effects.drain(..) {
            match effect {
                Effect::Engine(action) => changes.actions.push(action),
                Effect::Pad(target) => changes.pad = Some(target),
                Effect::Warning(warning) => tracing::warn!("{warning}"),
                Effect::Notice(notice) => tracing::info!("{notice}"),
            }
        }
        changes
    }
}
