//! DIN MIDI through the board's serial port: opening and configuring the port, and the reader
//! thread that feeds the shared parser. It only ever reads from the port, never takes it as a
//! controlling terminal, and never lets the terminal layer translate a byte.

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use nix::sys::termios::{
    cfsetspeed, tcgetattr, tcsetattr, BaudRate, ControlFlags, InputFlags, LocalFlags, OutputFlags,
    SetArg, SpecialCharacterIndices,
};

use super::{Decoder, EventSink};

#[derive(Debug, thiserror::Error)]
pub enum SerialMidiError {
    #[error("cannot open the serial MIDI port {}: {cause}; check `midi.device` in the settings or `[midi]` in the board file", path.display())]
    Open {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot configure the serial MIDI port {} as a raw 8N1 line: {cause}", path.display())]
    Configure { path: PathBuf, cause: nix::Error },
    #[error("cannot start the serial MIDI reader thread: {0}")]
    Thread(std::io::Error),
}

/// A running serial MIDI reader. Its thread reads until the port fails or closes, then logs why
/// and ends, dropping the sink; dropping the handle leaves it running (a blocking read cannot be
/// interrupted, and the port lives as long as the app).
#[derive(Debug)]
pub struct SerialMidi;

impl SerialMidi {
    /// Opens `path`, configures it for MIDI and starts a thread that hands every event to `sink`.
    pub fn open(path: &Path, sink: EventSink) -> Result<Self, SerialMidiError> {
        Self::open_counting(path, sink, Arc::default())
    }

    /// As [`open`](Self::open), counting the bytes the parser throws away (garbage, truncated
    /// messages) in `dropped`.
    pub fn open_counting(
        path: &Path,
        sink: EventSink,
        dropped: Arc<AtomicU64>,
    ) -> Result<Self, SerialMidiError> {
        let port = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NOCTTY.bits())
            .open(path)
            .map_err(|cause| SerialMidiError::Open {
                path: path.to_owned(),
                cause,
            })?;
        configure(&port).map_err(|cause| SerialMidiError::Configure {
            path: path.to_owned(),
            cause,
        })?;
        let decoder = Decoder::new(Arc::clone(&dropped));
        let name = path.to_owned();
        std::thread::Builder::new()
            .name("midi-serial".into())
            .spawn(move || read_forever(port, &name, decoder, sink))
            .map_err(SerialMidiError::Thread)?;
        Ok(Self)
    }
}

/// The original's line settings (8N1, no flow control, receiver on, modem lines ignored, raw
/// local and output modes, reads that wait for one byte), except that every input flag is
/// cleared: the original left ICRNL on, so a data byte 13 arrived as 10. 38400 baud is what the
/// `midi-uart0` boot overlay turns into MIDI's 31250.
fn configure(port: &File) -> nix::Result<()> {
    let mut termios = tcgetattr(port)?;
    termios.input_flags = InputFlags::empty();
    termios.output_flags = OutputFlags::empty();
    termios.local_flags = LocalFlags::empty();
    termios.control_flags &= !(ControlFlags::CSIZE
        | ControlFlags::PARENB
        | ControlFlags::CSTOPB
        | ControlFlags::CRTSCTS);
    termios.control_flags |= ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL;
    termios.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    termios.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    cfsetspeed(&mut termios, BaudRate::B38400)?;
    tcsetattr(port, SetArg::TCSANOW, &termios)
}

fn read_forever(mut port: File, path: &Path, mut decoder: Decoder, mut sink: EventSink) {
    // A MIDI byte takes 320 µs on the wire, so a read rarely returns more than a few.
    let mut buffer = [0u8; 64];
    loop {
        match port.read(&mut buffer) {
            Ok(0) => {
                tracing::warn!("serial MIDI port {} closed; no DIN MIDI", path.display());
                return;
            }
            Ok(count) => decoder.decode(&buffer[..count], &mut sink),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                tracing::warn!(
                    "reading the serial MIDI port {} failed: {error}; no DIN MIDI",
                    path.display()
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::sync::mpsc;
    use std::time::Duration;

    use nix::pty::openpty;
    use nix::unistd::ttyname;

    use std::sync::atomic::Ordering;

    use super::*;
    use crate::midi::MidiEvent;

    /// A guard against a hung test, not a timing requirement.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn channel_sink() -> (EventSink, mpsc::Receiver<MidiEvent>) {
        let (sender, receiver) = mpsc::channel();
        let sink = Box::new(move |event| {
            let _ = sender.send(event);
        });
        (sink, receiver)
    }

    #[test]
    fn bytes_written_to_the_port_arrive_as_events_with_13_unchanged() {
        let pty = openpty(None, None).unwrap();
        let path = ttyname(&pty.slave).unwrap();
        let (sink, events) = channel_sink();
        let dropped = Arc::new(AtomicU64::new(0));
        let _midi = SerialMidi::open_counting(&path, sink, Arc::clone(&dropped)).unwrap();
        let mut master = File::from(pty.master);
        // Note 13 at velocity 13, then running status with a clock byte inside a message.
        master
            .write_all(&[0x90, 0x0D, 0x0D, 0x0A, 0xF8, 0x0D, 0x0D, 0x00])
            .unwrap();
        let expected = [
            MidiEvent::NoteOn {
                channel: 0,
                note: 13,
                velocity: 13,
            },
            MidiEvent::NoteOn {
                channel: 0,
                note: 10,
                velocity: 13,
            },
            MidiEvent::NoteOff {
                channel: 0,
                note: 13,
            },
        ];
        for event in expected {
            assert_eq!(events.recv_timeout(PATIENCE), Ok(event));
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        // A note-off cut short by a note-on: the note-on still plays, the lone byte is counted.
        master.write_all(&[0x80, 0x3C, 0x90, 0x3C, 0x40]).unwrap();
        assert_eq!(
            events.recv_timeout(PATIENCE),
            Ok(MidiEvent::NoteOn {
                channel: 0,
                note: 60,
                velocity: 64
            })
        );
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_port_is_configured_raw_8n1() {
        let pty = openpty(None, None).unwrap();
        let path = ttyname(&pty.slave).unwrap();
        let (sink, _events) = channel_sink();
        let _midi = SerialMidi::open(&path, sink).unwrap();
        let termios = tcgetattr(&pty.slave).unwrap();
        assert_eq!(termios.input_flags, InputFlags::empty());
        assert_eq!(termios.local_flags, LocalFlags::empty());
        assert_eq!(termios.output_flags, OutputFlags::empty());
        let control = termios.control_flags;
        assert!(control.contains(ControlFlags::CS8 | ControlFlags::CREAD | ControlFlags::CLOCAL));
        assert!(!control.intersects(ControlFlags::PARENB | ControlFlags::CSTOPB));
        assert_eq!(
            termios.control_chars[SpecialCharacterIndices::VMIN as usize],
            1
        );
        assert_eq!(
            termios.control_chars[SpecialCharacterIndices::VTIME as usize],
            0
        );
    }

    #[test]
    fn the_reader_stops_when_the_port_goes_away() {
        let pty = openpty(None, None).unwrap();
        let path = ttyname(&pty.slave).unwrap();
        let (sink, events) = channel_sink();
        let _midi = SerialMidi::open(&path, sink).unwrap();
        drop(pty);
        // The sink goes with the thread, which closes the channel.
        assert_eq!(
            events.recv_timeout(PATIENCE),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn a_missing_port_is_an_error_that_names_it() {
        let (sink, _events) = channel_sink();
        let missing = Path::new("no-such-serial-port");
        let error = SerialMidi::open(missing, sink).unwrap_err();
        assert!(matches!(error, SerialMidiError::Open { .. }));
        assert!(error.to_string().contains("no-such-serial-port"));
    }
}
