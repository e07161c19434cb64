//! A command ring into the engine that can be plugged into a rebuilt engine: MIDI, OSC and the
//! UI thread keep one hub each for the life of the program, while the engine behind it is
//! replaced when the audio device fails and comes back. Only non-real-time threads lock the hub;
//! the audio thread only ever sees the ring behind it. It counts what it could not deliver, for
//! the drop warnings; it never logs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::{Action, Command, CommandSender};

#[derive(Clone, Default)]
pub struct CommandHub {
    sender: Arc<Mutex<Option<CommandSender>>>,
    dropped: Arc<AtomicU64>,
}

impl CommandHub {
    /// Routes commands into `sender` from now on.
    pub fn connect(&self, sender: CommandSender) {
        if let Ok(mut slot) = self.sender.lock() {
            *slot = Some(sender);
        }
    }

    /// Queues an action for the start of the engine's next block; false when it was dropped
    /// (no engine, or its ring is full), which is counted.
    pub fn send(&self, action: Action) -> bool {
        let sent = self.sender.lock().is_ok_and(|mut slot| {
            slot.as_mut()
                .is_some_and(|sender| sender.push(Command::now(action)).is_ok())
        });
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sent
    }

    /// Actions [`send`](Self::send) has dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_without_an_engine_or_room_are_counted() {
        let hub = CommandHub::default();
        assert!(!hub.send(Action::AllNotesOff));
        let (sender, mut engine) = rtrb::RingBuffer::new(1);
        hub.clone().connect(sender);
        assert!(hub.send(Action::AllNotesOff));
        assert!(!hub.send(Action::AllSoundOff));
        assert_eq!(hub.dropped(), 2);
        assert_eq!(engine.pop().map(|c| c.action), Ok(Action::AllNotesOff));
    }
}
