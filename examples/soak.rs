//! Soak test of a headless instrument: `soak MINUTES [PROGRAM]` runs `open-nsynth simulate
//! --headless --no-sound` on the demo pads for MINUTES, feeding it random MIDI through a serial
//! port (a pseudo-terminal) and random OSC (notes, knobs, grid moves, pad switches, patch loads
//! and saves, garbage), and prints one line a minute: the process's memory and the instrument's
//! own health line (callback overruns, notes and input dropped). It ends with a summary and exits
//! 1 if the instrument died, stopped uncleanly, or its memory grew: resident memory rises and
//! falls with the pad points the grid moves make resident, so the highest reading of the second
//! half of the run is compared with the highest of the first.
//! PROGRAM defaults to the `open-nsynth` built beside this example. Run it through
//! `scripts/soak.sh`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use open_nsynth::app::memory_kb;
use open_nsynth::osc::request::KNOB_ADDRESSES;
use rosc::{OscMessage, OscPacket, OscType};

/// Growth of the highest resident memory from the first half of the run to the second that
/// counts as a leak.
const GROWTH_LIMIT_KB: u64 = 8 * 1024;
/// Pause between two random inputs: about 200 a second.
const PACE: Duration = Duration::from_millis(5);

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("soak: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A small deterministic generator (xorshift64*), so a soak can be repeated.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fraction(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn run() -> anyhow::Result<bool> {
    let mut args = std::env::args().skip(1);
    let minutes: u64 = args
        .next()
        .context("usage: soak MINUTES [PROGRAM]")?
        .parse()
        .context("MINUTES must be a whole number")?;
    let program = match args.next() {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("cannot find the build folder")?
            .join("open-nsynth"),
    };
    let work = tempfile::tempdir()?;
    let pty = nix::pty::openpty(None, None).context("cannot open a pseudo-terminal")?;
    let serial = nix::unistd::ttyname(&pty.slave).context("cannot name the pseudo-terminal")?;
    let mut midi = std::fs::File::from(pty.master);
    let osc_port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let settings = write_instrument(work.path(), &serial, osc_port)?;

    let mut child = Command::new(&program)
        .args([
            "simulate",
            "--headless",
            "--no-sound",
            "--stats",
            "60",
            "--settings",
        ])
        .arg(&settings)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let pid = child.id();
    let (lines, health) = mpsc::channel();
    let stderr = child.stderr.take().context("no standard error")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("health at") || line.contains("WARN") || line.contains("ERROR") {
                let _ = lines.send(line);
            }
        }
    });

    let osc = UdpSocket::bind("127.0.0.1:0")?;
    osc.connect(("127.0.0.1", osc_port))?;
    let mut random = Random(0x5EED_1234_ABCD_0001);
    let mut held: Vec<u8> = Vec::new();
    let started = Instant::now();
    let mut minute = 1;
    let mut memory = Vec::new();
    let mut sent = [0u64; 2];
    println!(
        "soak: {minutes} min of random MIDI and OSC into {}",
        program.display()
    );
    // A little past the last minute, so that its health line is in.
    while started.elapsed() < Duration::from_secs(minutes * 60 + 2) {
        if child.try_wait()?.is_some() {
            bail!(
                "the instrument ended after {} s",
                started.elapsed().as_secs()
            );
        }
        if random.below(2) == 0 {
            midi.write_all(&random_midi(&mut random, &mut held))?;
            sent[0] += 1;
        } else {
            osc.send(&random_osc(&mut random))?;
            sent[1] += 1;
        }
        while let Ok(line) = health.try_recv() {
            if line.contains("health at") {
                let (resident, peak) = memory_kb(&pid.to_string()).unwrap_or_default();
                memory.push(resident);
                println!(
                    "minute {minute}: resident {} kB, peak {} kB, {} MIDI and {} OSC sent | {}",
                    resident,
                    peak,
                    sent[0],
                    sent[1],
                    line.split("health at").nth(1).unwrap_or(&line).trim()
                );
                minute += 1;
            } else {
                println!("  {line}");
            }
        }
        std::thread::sleep(PACE);
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM)?;
    let status = child.wait()?;
    let (first, second) = memory.split_at(memory.len() / 2);
    let highest = |half: &[u64]| half.iter().copied().max().unwrap_or(0);
    let growth = highest(second).saturating_sub(highest(first));
    println!(
        "soak: {} minutes, highest resident memory {} kB in the first half and {} kB in the \
         second (growth {growth} kB), {status}",
        memory.len(),
        highest(first),
        highest(second)
    );
    // One reading has no second half to compare with.
    let flat = memory.len() < 2 || growth <= GROWTH_LIMIT_KB;
    if memory.len() < 2 {
        println!("soak: too short to judge memory growth; run 2 minutes or more");
    } else if !flat {
        println!("soak: memory grew by more than {GROWTH_LIMIT_KB} kB");
    }
    Ok(flat && status.success() && memory.len() as u64 >= minutes)
}

/// The demo with a second instrument in the first corner (its pad a hard link to the first's,
/// so corner switches change pad files without using more disk), serial MIDI from `serial` and
/// OSC on `osc_port`.
fn write_instrument(dir: &Path, serial: &Path, osc_port: u16) -> anyhow::Result<PathBuf> {
    let files = open_nsynth::demo::write_demo(dir, 16000)?;
    let mut settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.settings)?)?;
    let pad_name = files.pad.file_name().context("pad name")?.to_string_lossy();
    let first = settings["corners"][0]["instruments"][0]["name"]
        .as_str()
        .context("demo corner")?
        .to_string();
    let second = format!("{first}-2");
    std::fs::hard_link(&files.pad, dir.join(pad_name.replacen(&first, &second, 1)))?;
    settings["corners"][0]["instruments"]
        .as_array_mut()
        .context("demo corner list")?
        .push(serde_json::json!({"name": second, "display": "Flute 2", "abbr": "F2"}));
    settings["midi"]["device"] = serial.to_string_lossy().into();
    settings["osc"]["in"] = serde_json::json!({"port": osc_port, "address": "127.0.0.1"});
    std::fs::write(&files.settings, serde_json::to_string_pretty(&settings)?)?;
    Ok(files.settings)
}

/// A note on or off, the sustain pedal, a pitch bend, or (rarely) a garbage byte.
fn random_midi(random: &mut Random, held: &mut Vec<u8>) -> Vec<u8> {
    match random.below(100) {
        0..=39 => {
            let note = 36 + random.below(48) as u8;
            held.push(note);
            vec![0x90, note, 1 + random.below(127) as u8]
        }
        40..=79 => match held.pop() {
            Some(note) => vec![0x80, note, 64],
            None => vec![0xB0, 123, 0],
        },
        80..=89 => vec![0xB0, 64, if random.below(2) == 0 { 0 } else { 127 }],
        90..=98 => {
            let bend = random.below(1 << 14) as u16;
            vec![0xE0, (bend & 0x7F) as u8, (bend >> 7) as u8]
        }
        _ => vec![random.below(256) as u8],
    }
}

/// A note, a knob, a grid move, a corner switch, a patch load or save, or (rarely) garbage.
fn random_osc(random: &mut Random) -> Vec<u8> {
    let message = |addr: &str, args: Vec<OscType>| {
        OscPacket::Message(OscMessage {
            addr: addr.into(),
            args,
        })
    };
    let packet = match random.below(100) {
        0..=29 => message(
            "/on",
            vec![
                OscType::Int(36 + random.below(48) as i32),
                OscType::Float(random.fraction()),
            ],
        ),
        30..=54 => message("/off", vec![OscType::Int(36 + random.below(48) as i32)]),
        55..=74 => message(
            "/grid",
            vec![
                OscType::Float(random.fraction()),
                OscType::Float(random.fraction()),
            ],
        ),
        75..=84 => {
            let knob = KNOB_ADDRESSES[random.below(KNOB_ADDRESSES.len() as u64) as usize];
            message(knob, vec![OscType::Float(random.fraction())])
        }
        85..=92 => message(
            "/instrument",
            vec![OscType::Int(0), OscType::Int(random.below(2) as i32)],
        ),
        93..=96 => message("/patch/load", vec![OscType::Int(random.below(4) as i32)]),
        97 => message("/patch/save", vec![OscType::Int(random.below(4) as i32)]),
        _ => {
            return (0..random.below(64))
                .map(|_| random.below(256) as u8)
                .collect()
        }
    };
    rosc::encoder::encode(&packet).expect("a plain message always encodes")
}
