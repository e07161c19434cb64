//! The one byte-stream MIDI parser behind every live input (DIN serial and USB): bytes in, channel
//! events out, one byte at a time. It owns the wire rules (running status, realtime bytes anywhere,
//! SysEx and system common skipped, resynchronising on any status byte) and the count of bytes it
//! threw away. It never stops, never allocates and never panics, whatever the bytes.

/// A channel message the device acts on. `channel` is the wire nibble, 0–15 (MIDI channel 1 is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MidiEvent {
    /// A key went down; `velocity` is 1–127 (a note-on with velocity 0 arrives as [`Self::NoteOff`]).
    NoteOn { channel: u8, note: u8, velocity: u8 },
    /// A key came up; the release velocity is not kept, as nothing uses it.
    NoteOff { channel: u8, note: u8 },
    ControlChange {
        channel: u8,
        controller: u8,
        value: u8,
    },
    /// The wheel's position, −8192 (full down) to 8191 (full up), 0 at rest.
    PitchBend { channel: u8, value: i16 },
    /// A program (0–127) chosen.
    ProgramChange { channel: u8, program: u8 },
}

impl MidiEvent {
    /// The wire channel, 0–15.
    pub fn channel(&self) -> u8 {
        match *self {
            Self::NoteOn { channel, .. }
            | Self::NoteOff { channel, .. }
            | Self::ControlChange { channel, .. }
            | Self::PitchBend { channel, .. }
            | Self::ProgramChange { channel, .. } => channel,
        }
    }
}

/// What the next data byte belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No status in effect (start, or after SysEx or a system common message): data is stray.
    NoStatus,
    /// A channel message, with its first data byte once that has arrived. `status` stays in effect
    /// after the message completes (running status).
    Channel { status: u8, first: Option<u8> },
    /// Inside SysEx, whose data bytes are skipped until any status byte ends it.
    SysEx,
    /// A system common message, whose data bytes are skipped: `owed` of them still to come,
    /// `received` already taken.
    Common { owed: u8, received: u8 },
}

/// Turns a MIDI byte stream into [`MidiEvent`]s.
///
/// Channel and polyphonic pressure are parsed (so running status through them works) but produce
/// no event.
#[derive(Debug, Clone)]
pub struct MidiParser {
    state: State,
    dropped: u64,
}

impl Default for MidiParser {
    fn default() -> Self {
        Self {
            state: State::NoStatus,
            dropped: 0,
        }
    }
}

impl MidiParser {
    /// Takes the next byte of the stream; returns the event it completes, if any.
    pub fn feed(&mut self, byte: u8) -> Option<MidiEvent> {
        match byte {
            // Realtime bytes may sit inside any message and belong to none of them.
            0xF8..=0xFF => None,
            0x80..=0xF7 => {
                self.status(byte);
                None
            }
            _ => self.data(byte),
        }
    }

    /// Bytes thrown away so far: data bytes with no status in effect, data bytes of messages cut
    /// short by a status byte, undefined status bytes (0xF4, 0xF5) and end-of-SysEx outside SysEx.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn status(&mut self, byte: u8) {
        // The original stopped reading for good on a status byte inside a message; starting over
        // on it is what the sender meant (a cable plugged in mid-stream, a truncated message).
        self.dropped += self.unfinished_data_bytes();
        self.state = match byte {
            0x80..=0xEF => State::Channel {
                status: byte,
                first: None,
            },
            0xF0 => State::SysEx,
            0xF7 if self.state == State::SysEx => State::NoStatus,
            _ => match common_data_len(byte) {
                Some(0) => State::NoStatus,
                Some(owed) => State::Common { owed, received: 0 },
                // Undefined (0xF4, 0xF5), or an end of SysEx outside SysEx.
                None => {
                    self.dropped += 1;
                    State::NoStatus
                }
            },
        };
    }

    /// Data bytes already received of a message that has not completed.
    fn unfinished_data_bytes(&self) -> u64 {
        match self.state {
            State::Channel { first: Some(_), .. } => 1,
            State::Common { received, .. } => u64::from(received),
            _ => 0,
        }
    }

    fn data(&mut self, byte: u8) -> Option<MidiEvent> {
        match self.state {
            State::NoStatus => {
                self.dropped += 1;
                None
            }
            State::SysEx => None,
            State::Common { owed: 1, .. } => {
                self.state = State::NoStatus;
                None
            }
            State::Common { owed, received } => {
                self.state = State::Common {
                    owed: owed - 1,
                    received: received + 1,
                };
                None
            }
            State::Channel {
                status,
                first: None,
            } if has_two_data_bytes(status) => {
                self.state = State::Channel {
                    status,
                    first: Some(byte),
                };
                None
            }
            State::Channel { status, first } => {
                self.state = State::Channel {
                    status,
                    first: None,
                };
                match first {
                    Some(first) => two_byte_event(status, first, byte),
                    None => one_byte_event(status, byte),
                }
            }
        }
    }
}

/// Data bytes that follow a system common status byte; `None` for those that define no message.
fn common_data_len(status: u8) -> Option<u8> {
    match status {
        0xF1 | 0xF3 => Some(1), // MTC quarter frame, song select
        0xF2 => Some(2),        // song position pointer
        0xF6 => Some(0),        // tune request
        _ => None,
    }
}

fn has_two_data_bytes(status: u8) -> bool {
    !matches!(status & 0xF0, 0xC0 | 0xD0)
}

/// The event of a message with one data byte: program change (channel pressure is not used).
fn one_byte_event(status: u8, data: u8) -> Option<MidiEvent> {
    (status & 0xF0 == 0xC0).then_some(MidiEvent::ProgramChange {
        channel: status & 0x0F,
        program: data,
    })
}

fn two_byte_event(status: u8, first: u8, second: u8) -> Option<MidiEvent> {
    let channel = status & 0x0F;
    Some(match status & 0xF0 {
        0x80 => MidiEvent::NoteOff {
            channel,
            note: first,
        },
        0x90 if second == 0 => MidiEvent::NoteOff {
            channel,
            note: first,
        },
        0x90 => MidiEvent::NoteOn {
            channel,
            note: first,
            velocity: second,
        },
        0xB0 => MidiEvent::ControlChange {
            channel,
            controller: first,
            value: second,
        },
        0xE0 => MidiEvent::PitchBend {
            channel,
            value: ((i16::from(second) << 7) | i16::from(first)) - 8192,
        },
        // Polyphonic pressure.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    /// The events `bytes` decode to, and the bytes dropped.
    fn parse(bytes: &[u8]) -> (Vec<MidiEvent>, u64) {
        let mut parser = MidiParser::default();
        let events = bytes.iter().filter_map(|&byte| parser.feed(byte)).collect();
        (events, parser.dropped())
    }

    fn on(channel: u8, note: u8, velocity: u8) -> MidiEvent {
        MidiEvent::NoteOn {
            channel,
            note,
            velocity,
        }
    }

    fn off(channel: u8, note: u8) -> MidiEvent {
        MidiEvent::NoteOff { channel, note }
    }

    #[test]
    fn running_status_carries_notes_and_velocity_0_releases_them() {
        let (events, dropped) = parse(&[0x92, 60, 100, 64, 90, 60, 0, 64, 0]);
        assert_eq!(
            events,
            [on(2, 60, 100), on(2, 64, 90), off(2, 60), off(2, 64)]
        );
        assert_eq!(dropped, 0);
    }

    #[test]
    fn a_status_byte_inside_a_message_starts_over_on_it() {
        // Where the original stopped for good: at the note, then at the velocity.
        assert_eq!(parse(&[0x90, 0x80, 61, 0]), (vec![off(0, 61)], 0));
        assert_eq!(
            parse(&[0x90, 60, 0x91, 62, 100, 63, 100]),
            (vec![on(1, 62, 100), on(1, 63, 100)], 1),
            "the new status, not the cut note, is kept"
        );
    }

    #[test]
    fn realtime_bytes_inside_a_message_change_nothing() {
        let (events, dropped) = parse(&[0xF8, 0x90, 0xFA, 60, 0xFE, 0xFF, 100, 0xF9, 61, 0xFD, 0]);
        assert_eq!(events, [on(0, 60, 100), off(0, 61)]);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn sysex_is_skipped_and_cancels_running_status() {
        let (events, dropped) = parse(&[0x90, 60, 100, 0xF0, 0x7E, 0x01, 0xF7, 61, 100]);
        assert_eq!(events, [on(0, 60, 100)]);
        assert_eq!(dropped, 2, "the data after SysEx has no status");
        assert_eq!(
            parse(&[0xF0, 1, 2, 0x90, 60, 100]),
            (vec![on(0, 60, 100)], 0),
            "a status byte ends a SysEx that lost its end byte"
        );
    }

    #[test]
    fn system_common_messages_are_skipped_with_their_data() {
        let (events, dropped) = parse(&[
            0xF2, 0x10, 0x20, // song position
            0xF1, 0x33, // time code quarter frame
            0xF3, 0x05, // song select
            0xF6, // tune request
            0x90, 60, 100,
        ]);
        assert_eq!((events, dropped), (vec![on(0, 60, 100)], 0));
        assert_eq!(
            parse(&[0xF2, 0x10, 0x90, 60, 100]),
            (vec![on(0, 60, 100)], 1),
            "a cut song position pointer loses its one byte"
        );
    }

    #[test]
    fn stray_and_undefined_bytes_are_counted() {
        assert_eq!(parse(&[1, 2, 3]), (vec![], 3));
        assert_eq!(parse(&[0xF4, 0xF5, 0xF7]), (vec![], 3));
    }

    #[test]
    fn one_byte_messages_keep_running_status_in_step() {
        let (events, dropped) = parse(&[0xC0, 5, 6, 0xD1, 7, 8, 0xA0, 60, 10, 0x90, 60, 100]);
        let program = |program| MidiEvent::ProgramChange {
            channel: 0,
            program,
        };
        assert_eq!(
            (events, dropped),
            (vec![program(5), program(6), on(0, 60, 100)], 0)
        );
    }

    #[test]
    fn controllers_and_pitch_bend_decode() {
        let (events, _) = parse(&[0xB5, 64, 127, 0xE3, 0x00, 0x40, 0x7F, 0x7F, 0, 0]);
        assert_eq!(
            events,
            [
                MidiEvent::ControlChange {
                    channel: 5,
                    controller: 64,
                    value: 127
                },
                MidiEvent::PitchBend {
                    channel: 3,
                    value: 0
                },
                MidiEvent::PitchBend {
                    channel: 3,
                    value: 8191
                },
                MidiEvent::PitchBend {
                    channel: 3,
                    value: -8192
                },
            ]
        );
    }

    /// One message as a sender would write it.
    #[derive(Debug, Clone)]
    enum Message {
        /// A channel message and the event it must decode to (`None` for the kinds not used).
        Channel {
            status: u8,
            data: Vec<u8>,
            event: Option<MidiEvent>,
        },
        /// SysEx or system common: complete, and it ends running status.
        System(Vec<u8>),
    }

    fn channel_message() -> impl Strategy<Value = Message> {
        let message = |status: u8, data: &[u8], event| Message::Channel {
            status,
            data: data.to_vec(),
            event,
        };
        let data = || 0u8..0x80;
        prop_oneof![
            (0u8..16, data(), 1u8..0x80).prop_map(move |(c, n, v)| message(
                0x90 | c,
                &[n, v],
                Some(on(c, n, v))
            )),
            (0u8..16, data(), data()).prop_map(move |(c, n, v)| message(
                0x80 | c,
                &[n, v],
                Some(off(c, n))
            )),
            (0u8..16, data()).prop_map(move |(c, n)| message(0x90 | c, &[n, 0], Some(off(c, n)))),
            (0u8..16, data(), data()).prop_map(move |(c, controller, value)| message(
                0xB0 | c,
                &[controller, value],
                Some(MidiEvent::ControlChange {
                    channel: c,
                    controller,
                    value
                })
            )),
            (0u8..16, -8192i16..=8191).prop_map(move |(c, value)| {
                let raw = (value + 8192) as u16;
                let (lsb, msb) = ((raw & 0x7F) as u8, (raw >> 7) as u8);
                message(
                    0xE0 | c,
                    &[lsb, msb],
                    Some(MidiEvent::PitchBend { channel: c, value }),
                )
            }),
            (0u8..16, data(), data()).prop_map(move |(c, n, p)| message(0xA0 | c, &[n, p], None)),
            (0u8..16, data()).prop_map(move |(c, program)| message(
                0xC0 | c,
                &[program],
                Some(MidiEvent::ProgramChange {
                    channel: c,
                    program
                })
            )),
            (0u8..16, data()).prop_map(move |(c, pressure)| message(0xD0 | c, &[pressure], None)),
        ]
    }

    fn system_message() -> impl Strategy<Value = Message> {
        let data = || 0u8..0x80;
        prop_oneof![
            vec(data(), 0..8).prop_map(|body| {
                let mut bytes = vec![0xF0];
                bytes.extend(body);
                bytes.push(0xF7);
                Message::System(bytes)
            }),
            data().prop_map(|frame| Message::System(vec![0xF1, frame])),
            (data(), data()).prop_map(|(lsb, msb)| Message::System(vec![0xF2, lsb, msb])),
            data().prop_map(|song| Message::System(vec![0xF3, song])),
            Just(Message::System(vec![0xF6])),
        ]
    }

    /// Writes `messages`, leaving out the status byte where running status allows and
    /// `compress` says so.
    fn encode(messages: &[(Message, bool)]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut running = None;
        for (message, compress) in messages {
            match message {
                Message::Channel { status, data, .. } => {
                    if !(*compress && running == Some(*status)) {
                        bytes.push(*status);
                    }
                    bytes.extend(data);
                    running = Some(*status);
                }
                Message::System(system) => {
                    bytes.extend(system);
                    running = None;
                }
            }
        }
        bytes
    }

    fn expected_events(messages: &[(Message, bool)]) -> Vec<MidiEvent> {
        messages
            .iter()
            .filter_map(|(message, _)| match message {
                Message::Channel { event, .. } => *event,
                Message::System(_) => None,
            })
            .collect()
    }

    fn stream() -> impl Strategy<Value = Vec<(Message, bool)>> {
        let message = prop_oneof![4 => channel_message(), 1 => system_message()];
        vec((message, any::<bool>()), 0..64)
    }

    proptest! {
        #[test]
        fn any_bytes_are_taken_without_panic(bytes in vec(any::<u8>(), 0..1024)) {
            let (_, dropped) = parse(&bytes);
            prop_assert!(dropped <= bytes.len() as u64);
        }

        #[test]
        fn valid_streams_decode_to_exactly_their_events(
            messages in stream(),
            realtime in vec((any::<Index>(), 0xF8u8..=0xFF), 0..32),
        ) {
            let mut bytes = encode(&messages);
            for (at, byte) in realtime {
                bytes.insert(at.index(bytes.len() + 1), byte);
            }
            let (events, dropped) = parse(&bytes);
            prop_assert_eq!(events, expected_events(&messages));
            prop_assert_eq!(dropped, 0);
        }

        #[test]
        fn after_any_garbage_the_next_full_message_decodes(
            garbage in vec(any::<u8>(), 0..64),
            messages in stream(),
        ) {
            let mut parser = MidiParser::default();
            for byte in garbage {
                parser.feed(byte);
            }
            // The first message after the garbage carries its status byte.
            let mut messages = messages;
            if let Some((_, compress)) = messages.first_mut() {
                *compress = false;
            }
            let events: Vec<MidiEvent> =
                encode(&messages).into_iter().filter_map(|byte| parser.feed(byte)).collect();
            prop_assert_eq!(events, expected_events(&messages));
        }
    }
}
