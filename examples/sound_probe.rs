//! The guest half of `scripts/sound-test.sh`: plays notes into the running instrument, over OSC or
//! from an ALSA sequencer port of its own, and listens to what comes out on the capture side of
//! the loopback sound card (`snd-aloop`), whose clock places every captured frame in time.
//!
//! ```text
//! sound_probe knobs                   a short envelope over OSC: attack, decay and release 0, sustain 1
//! sound_probe note osc|midi NOTE MS   one note held MS ms; fails unless it sounds at NOTE's pitch for MS ms
//! sound_probe latency NOTES           NOTES notes from the sequencer: note-on to first sound, median and max
//! sound_probe song SECONDS            a busy song from the sequencer for SECONDS
//! ```
//!
//! Every time is CLOCK_MONOTONIC: a note's is taken as it is handed to the sequencer, a captured
//! frame's from the capture's position read against that clock. A captured frame is the sound
//! the instrument wrote at the moment the loopback card took it from the playback buffer, which
//! is when a DAC would have played it.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::seq::{EvNote, EventType, PortCap, PortSubscribeIter, PortType, QuerySubsType, Seq};
use alsa::{Direction, ValueOr};
use anyhow::{bail, ensure, Context as _};
use nix::time::{clock_gettime, ClockId};
use rosc::{OscMessage, OscPacket, OscType};

/// The instrument's OSC port (`osc.in.port`).
const OSC: &str = "127.0.0.1:8000";
/// The capture side of the loopback's first playback substream, converted to mono float.
const CAPTURE: &str = "plughw:Loopback,1,0";
/// What the instrument's playback stream was set up with, as the kernel reports it.
const PLAYBACK_PARAMS: &str = "/proc/asound/Loopback/pcm0p/sub0/hw_params";
/// The demo settings' `audio.sampleRate`.
const RATE: u32 = 48_000;
/// Quieter than this (−100 dBFS) is silence: the engine writes exact zeros when nothing plays.
const SILENT: f32 = 1e-5;
/// MIDI channel 1, the demo settings' `midi.channel`.
const CHANNEL: u8 = 0;
/// How long the instrument may take to connect to a new sequencer port: two of its rescans.
const CONNECT_WITHIN: Duration = Duration::from_secs(2);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["knobs"] => short_envelope(),
        ["note", via, note, ms] => {
            let via = match *via {
                "osc" => Via::Osc,
                "midi" => Via::Midi,
                other => bail!("note: sent by osc or midi, not {other}"),
            };
            let note = note.parse().context("NOTE must be a MIDI note number")?;
            let hold = Duration::from_millis(ms.parse().context("MS must be milliseconds")?);
            one_note(via, note, hold)
        }
        ["latency", notes] => latency(notes.parse().context("NOTES must be a count")?),
        ["song", seconds] => song(Duration::from_secs(
            seconds.parse().context("SECONDS must be whole seconds")?,
        )),
        _ => {
            bail!("usage: sound_probe knobs | note osc|midi NOTE MS | latency NOTES | song SECONDS")
        }
    }
}

/// Seconds on CLOCK_MONOTONIC.
fn now() -> f64 {
    let time = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always there");
    time.tv_sec() as f64 + time.tv_nsec() as f64 * 1e-9
}

fn osc(address: &str, args: Vec<OscType>) -> anyhow::Result<()> {
    let packet = OscPacket::Message(OscMessage {
        addr: address.into(),
        args,
    });
    let bytes = rosc::encoder::encode(&packet).context("cannot encode an OSC message")?;
    let socket = UdpSocket::bind("127.0.0.1:0").context("cannot open a UDP socket")?;
    socket
        .send_to(&bytes, OSC)
        .with_context(|| format!("cannot send {address} to {OSC}"))?;
    Ok(())
}

/// Knobs that make a note sound exactly as long as it is held.
fn short_envelope() -> anyhow::Result<()> {
    for (knob, value) in [
        ("/position", 0.0),
        ("/attack", 0.0),
        ("/decay", 0.0),
        ("/sustain", 1.0),
        ("/release", 0.0),
        ("/volume", 1.0),
    ] {
        osc(knob, vec![OscType::Float(value)])?;
    }
    Ok(())
}

/// A sequencer client with one output port, as a USB keyboard has.
struct Keyboard {
    seq: Seq,
    port: i32,
}

impl Keyboard {
    /// Opens the port and waits until the instrument has connected to it.
    fn connected() -> anyhow::Result<Keyboard> {
        let seq = Seq::open(None, Some(Direction::Playback), false)
            .context("cannot open the ALSA sequencer (is snd-seq loaded?)")?;
        seq.set_client_name(c"sound-probe")?;
        let port = seq.create_simple_port(
            c"keys",
            PortCap::READ | PortCap::SUBS_READ,
            PortType::MIDI_GENERIC | PortType::APPLICATION,
        )?;
        let keyboard = Keyboard { seq, port };
        let addr = alsa::seq::Addr {
            client: keyboard.seq.client_id()?,
            port,
        };
        let opened = Instant::now();
        while PortSubscribeIter::new(&keyboard.seq, addr, QuerySubsType::READ).count() == 0 {
            ensure!(
                opened.elapsed() < CONNECT_WITHIN,
                "the instrument did not connect to sequencer port {}:{} within {} s",
                addr.client,
                addr.port,
                CONNECT_WITHIN.as_secs()
            );
            thread::sleep(Duration::from_millis(5));
        }
        println!(
            "sequencer port {}:{} connected after {} ms",
            addr.client,
            addr.port,
            opened.elapsed().as_millis()
        );
        Ok(keyboard)
    }

    /// Sends a note-on (or off) to whoever listens, at once; returns when it was handed over.
    fn note(&self, on: bool, note: u8) -> anyhow::Result<f64> {
        let data = EvNote {
            channel: CHANNEL,
            note,
            velocity: if on { 100 } else { 0 },
            off_velocity: 0,
            duration: 0,
        };
        let kind = if on {
            EventType::Noteon
        } else {
            EventType::Noteoff
        };
        let mut event = alsa::seq::Event::new(kind, &data);
        event.set_source(self.port);
        event.set_subs();
        event.set_direct();
        let sent = now();
        self.seq
            .event_output_direct(&mut event)
            .context("cannot send a note to the sequencer")?;
        Ok(sent)
    }
}

/// The loopback's capture side, read on its own thread until [`Listener::finish`].
struct Listener {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<Recording>>,
}

/// Mono sound from the loopback, and when its first frame passed.
#[derive(Debug)]
struct Recording {
    samples: Vec<f32>,
    /// CLOCK_MONOTONIC seconds of frame 0.
    origin: f64,
}

impl Recording {
    fn frame_at(&self, seconds: f64) -> usize {
        ((seconds - self.origin) * f64::from(RATE)).max(0.0) as usize
    }

    fn time_of(&self, frame: usize) -> f64 {
        self.origin + frame as f64 / f64::from(RATE)
    }

    /// The first sounding frame from `from` on, before `until`.
    fn onset(&self, from: usize, until: usize) -> Option<usize> {
        let until = until.min(self.samples.len());
        (from..until).find(|&frame| self.samples[frame].abs() > SILENT)
    }

    /// What the capture holds between two times, for an error message.
    fn describe(&self, from: f64, until: f64) -> String {
        let (first, last) = (
            self.frame_at(from),
            self.frame_at(until).min(self.samples.len()),
        );
        let loudest = self.samples[first.min(last)..last]
            .iter()
            .fold(0.0f32, |peak, s| peak.max(s.abs()));
        let overall = self
            .samples
            .iter()
            .fold(0.0f32, |peak, s| peak.max(s.abs()));
        format!(
            "frames {first}–{last} of {} captured from {:.3} s, loudest {:.1} dBFS there, {:.1} \
             dBFS in all",
            self.samples.len(),
            self.origin,
            20.0 * loudest.max(1e-10).log10(),
            20.0 * overall.max(1e-10).log10()
        )
    }

    /// The frame after the last sounding one before `until`, from `from`.
    fn end(&self, from: usize, until: usize) -> usize {
        let until = until.min(self.samples.len());
        (from..until)
            .rev()
            .find(|&frame| self.samples[frame].abs() > SILENT)
            .map_or(from, |frame| frame + 1)
    }
}

impl Listener {
    fn start() -> anyhow::Result<Listener> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("capture".into())
            .spawn(move || record(&stopping))
            .context("cannot start the capture thread")?;
        // The capture's clock settles over its first reads.
        thread::sleep(Duration::from_millis(300));
        Ok(Listener { stop, thread })
    }

    fn finish(self) -> anyhow::Result<Recording> {
        thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::Relaxed);
        let recording = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the capture thread panicked"))??;
        let captured = recording.samples.len() as f64 / f64::from(RATE);
        let end = recording.origin + captured;
        ensure!(
            (end - now()).abs() < 1.0,
            "the capture's position does not follow the clock: {captured:.3} s captured from \
             {:.3} s, now is {:.3} s",
            recording.origin,
            now()
        );
        Ok(recording)
    }
}

fn record(stop: &AtomicBool) -> anyhow::Result<Recording> {
    const BLOCK: usize = 256;
    let pcm = PCM::new(CAPTURE, Direction::Capture, false)
        .with_context(|| format!("cannot open {CAPTURE} (is snd-aloop loaded?)"))?;
    {
        let hw = HwParams::any(&pcm)?;
        hw.set_access(Access::RWInterleaved)?;
        hw.set_format(Format::float())?;
        hw.set_channels(1)?;
        hw.set_rate(RATE, ValueOr::Nearest)
            .with_context(|| format!("{CAPTURE} does not run at {RATE} Hz"))?;
        hw.set_period_size_near(BLOCK as alsa::pcm::Frames, ValueOr::Nearest)?;
        hw.set_buffer_size_near(1 << 15)?;
        pcm.hw_params(&hw)?;
    }
    let io = pcm.io_f32()?;
    let mut block = [0.0f32; BLOCK];
    let mut samples = Vec::new();
    // Frame 0's time. Each reading of the capture position, followed by the clock, puts frame 0
    // at or after the truth (the loopback moves its position a kernel tick at a time, and the
    // clock is read after the position); the earliest is the closest.
    let mut origin = f64::INFINITY;
    pcm.start()?;
    while !stop.load(Ordering::Relaxed) {
        let frames = io
            .readi(&mut block)
            .context("the capture overran: the probe fell behind and lost sound")?;
        samples.extend_from_slice(&block[..frames]);
        let waiting = pcm.avail().context("the capture overran")?;
        let at = now();
        let position = samples.len() as f64 + waiting as f64;
        origin = origin.min(at - position / f64::from(RATE));
    }
    Ok(Recording { samples, origin })
}

#[derive(Clone, Copy)]
enum Via {
    Osc,
    Midi,
}

/// One note held `hold`: heard at its pitch, for as long as it was held.
fn one_note(via: Via, note: u8, hold: Duration) -> anyhow::Result<()> {
    let keyboard = match via {
        Via::Midi => Some(Keyboard::connected()?),
        Via::Osc => None,
    };
    let listener = Listener::start()?;
    let send = |on: bool| -> anyhow::Result<f64> {
        match &keyboard {
            Some(keyboard) => keyboard.note(on, note),
            None => {
                let sent = now();
                match on {
                    true => osc("/on", vec![OscType::Int(note.into()), OscType::Float(0.8)])?,
                    false => osc("/off", vec![OscType::Int(note.into())])?,
                }
                Ok(sent)
            }
        }
    };
    let on = send(true)?;
    thread::sleep(hold);
    send(false)?;
    thread::sleep(Duration::from_millis(300));
    let recording = listener.finish()?;

    let from = recording.frame_at(on);
    let window = recording.frame_at(on + hold.as_secs_f64() + 0.3);
    let Some(onset) = recording.onset(from, window) else {
        let heard = recording.describe(on, on + hold.as_secs_f64() + 0.3);
        bail!("note {note} sent at {on:.3} s was not heard: {heard}");
    };
    let end = recording.end(onset, window);
    let heard_ms = (end - onset) as f64 * 1e3 / f64::from(RATE);
    let latency_ms = (recording.time_of(onset) - on) * 1e3;
    // The pitch of the held part, away from the attack and the release.
    let steady = &recording.samples[onset + (RATE / 10) as usize..end - (RATE / 20) as usize];
    let heard_hz = pitch(steady).context("no steady pitch in the note")?;
    let expected_hz = 440.0 * 2f64.powf((f64::from(note) - 69.0) / 12.0);
    let cents = 1200.0 * (heard_hz / expected_hz).log2();
    let hold_ms = hold.as_secs_f64() * 1e3;
    println!(
        "note {note}: heard after {latency_ms:.1} ms, at {heard_hz:.2} Hz ({cents:+.1} cents from \
         {expected_hz:.2} Hz), for {heard_ms:.0} ms (held {hold_ms:.0} ms)"
    );
    ensure!(cents.abs() < 20.0, "note {note} sounded at the wrong pitch");
    // The note-off travels as the note-on did; the release knob at 0 ends the sound within 20 ms.
    ensure!(
        (hold_ms - 20.0..hold_ms + 40.0).contains(&heard_ms),
        "note {note} sounded for {heard_ms:.0} ms, held {hold_ms:.0} ms"
    );
    Ok(())
}

/// The fundamental of `sound` in Hz, from its autocorrelation (between 50 Hz and 2 kHz).
fn pitch(sound: &[f32]) -> Option<f64> {
    let window = &sound[..sound.len().min(8192)];
    let (shortest, longest) = ((RATE / 2000) as usize, (RATE / 50) as usize);
    if window.len() < 2 * longest {
        return None;
    }
    let correlation = |lag: usize| -> f64 {
        let (a, b) = (&window[..window.len() - lag], &window[lag..]);
        let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
        let energy: f64 = a.iter().chain(b).map(|x| f64::from(x * x)).sum();
        2.0 * dot / energy.max(1e-12)
    };
    let scores: Vec<f64> = (0..=longest + 1).map(correlation).collect();
    // The first peak that comes close to the best one: the period, not one of its multiples.
    let best = scores[shortest..=longest]
        .iter()
        .cloned()
        .fold(f64::MIN, f64::max);
    let lag = (shortest..=longest).find(|&lag| {
        scores[lag] >= 0.9 * best
            && scores[lag] >= scores[lag - 1]
            && scores[lag] >= scores[lag + 1]
    })?;
    // Parabolic interpolation between the neighbouring lags.
    let (left, middle, right) = (scores[lag - 1], scores[lag], scores[lag + 1]);
    let shift = 0.5 * (left - right) / (left - 2.0 * middle + right);
    Some(f64::from(RATE) / (lag as f64 + shift))
}

/// `notes` notes from the sequencer, each held 100 ms and left to fall silent, at starts spread
/// over the sound card's periods; prints the note-on to first sound latency of those heard, as
/// a summary, and how many were lost.
fn latency(notes: usize) -> anyhow::Result<()> {
    const NOTE: u8 = 60;
    let keyboard = Keyboard::connected()?;
    let listener = Listener::start()?;
    let mut sent = Vec::with_capacity(notes);
    for i in 0..notes {
        // 0–19 ms more between notes, in an order that does not follow the periods.
        thread::sleep(Duration::from_millis(200 + (i as u64 * 7) % 20));
        let on = keyboard.note(true, NOTE)?;
        thread::sleep(Duration::from_millis(100));
        keyboard.note(false, NOTE)?;
        sent.push(on);
    }
    let recording = listener.finish()?;
    // A note the sound card dropped (an underrun ends the stream, which is opened again) is
    // counted, not measured.
    let mut latencies = Vec::with_capacity(notes);
    for &on in &sent {
        let from = recording.frame_at(on);
        let quiet_before = recording.onset(from, from + 1).is_none();
        match recording.onset(from, recording.frame_at(on + 0.2)) {
            Some(onset) if quiet_before => latencies.push((recording.time_of(onset) - on) * 1e3),
            _ => eprintln!(
                "the note sent at {on:.3} s was not heard alone within 200 ms: {}",
                recording.describe(on, on + 0.2)
            ),
        }
    }
    ensure!(!latencies.is_empty(), "none of the {notes} notes was heard");
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    let params = std::fs::read_to_string(PLAYBACK_PARAMS)
        .with_context(|| format!("cannot read {PLAYBACK_PARAMS}"))?;
    println!(
        "latency over {} of {notes} notes: median {median:.2} ms, max {:.2} ms, min {:.2} ms",
        latencies.len(),
        latencies[latencies.len() - 1],
        latencies[0]
    );
    println!("lost {}", notes - latencies.len());
    println!(
        "playback: {}",
        params.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    Ok(())
}

/// Chords every second and a running arpeggio, for `length`: up to ten voices at once.
fn song(length: Duration) -> anyhow::Result<()> {
    const ARPEGGIO: [u8; 8] = [48, 52, 55, 60, 64, 67, 72, 67];
    const CHORDS: [[u8; 3]; 4] = [[60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62]];
    let keyboard = Keyboard::connected()?;
    let started = Instant::now();
    let mut step = 0usize;
    while started.elapsed() < length {
        if step.is_multiple_of(8) {
            for &note in &CHORDS[step / 8 % CHORDS.len()] {
                keyboard.note(true, note)?;
            }
        }
        let note = ARPEGGIO[step % ARPEGGIO.len()];
        keyboard.note(true, note)?;
        thread::sleep(Duration::from_millis(110));
        keyboard.note(false, note)?;
        if step % 8 == 7 {
            for &note in &CHORDS[step / 8 % CHORDS.len()] {
                keyboard.note(false, note)?;
            }
        }
        thread::sleep(Duration::from_millis(15));
        step += 1;
    }
    println!(
        "song: {step} arpeggio notes and {} chords in {} s",
        step.div_ceil(8),
        length.as_secs()
    );
    Ok(())
}
