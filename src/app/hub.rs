//! A command ring into the engine that can be plugged into a rebuilt engine: MIDI, OSC and the
//! UI thread keep one hub each for the life of the program, while the engine behind it is
//! replaced when the audio device fails and comes back. Only non-real-time threads lock the hub;
//! the audio thread only ever sees the ring behind it.

use std::sync::{Arc, Mutex};

use crate::engine::{Action, Command, CommandSender};

#[derive(Clone, Default)]
pub struct CommandHub(Arc<Mutex<Option<CommandSender>>>);

impl CommandHub {
    /// Routes commands into `sender` from now on.
    pub fn connect(&self, sender: CommandSender) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(sender);
        }
    }

    /// Queues an action for the start of the engine's next block; false when it was dropped
    /// (no engine, or its ring is full).
    pub fn send(&self, action: Action) -> bool {
        let Ok(mut slot) = self.0.lock() else {
            return false;
        };
        slot.as_mut()
            .is_some_and(|sender| sender.push(Command::now(action)).is_ok())
    }
}
