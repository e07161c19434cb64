//! Compares two WAV files sample by sample.
//!
//! ```text
//! cargo run --release --example wav_diff -- A.wav B.wav [--tolerance N|auto]
//! ```
//!
//! Both files must have the same format (sample format, bit depth, channel
//! count, sample rate) and the same length. Integer PCM (8 to 32 bit) and
//! 32-bit float are supported, with any number of channels. The largest
//! absolute difference between corresponding samples is measured in the
//! files' own units: LSBs for integer files, sample values for float files.
//!
//! Prints one line:
//!
//! ```text
//! frames=… channels=… max_abs_diff=… identical=true|false
//! ```
//!
//! Exit status: 0 when the largest difference is at most the tolerance
//! (default 0, meaning bit-identical), 1 when it is larger, 2 when the files
//! cannot be compared (unreadable, different format or length, bad usage).
//!
//! `--tolerance auto` takes the tolerance from the files' sample format, as
//! `scripts/test.sh` compares ARM renders with the native one: 2 LSBs for
//! integer PCM, 1e-4 for float: room for the engine's arithmetic to round
//! differently on another processor.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hound::{SampleFormat, WavReader, WavSpec};

const USAGE: &str = "usage: wav_diff A.wav B.wav [--tolerance N|auto]

Compares two WAV files of the same format and length and prints
  frames=... channels=... max_abs_diff=... identical=true|false
The difference is in the files' units: LSBs for integer PCM, sample values
for 32-bit float. Exits 0 when max_abs_diff <= N (default 0), 1 when larger,
2 when the files cannot be compared. `auto` takes N from the sample format:
2 for integer PCM, 1e-4 for float.";

/// `--tolerance auto` for integer PCM, in LSBs.
const AUTO_INT_LSBS: f64 = 2.0;
/// `--tolerance auto` for float samples, in sample values.
const AUTO_FLOAT: f64 = 1e-4;

/// The largest difference accepted, in the files' units.
#[derive(Clone, Copy)]
enum Tolerance {
    Fixed(f64),
    /// From the files' sample format.
    Auto,
}

impl Tolerance {
    fn for_format(self, format: SampleFormat) -> f64 {
        match (self, format) {
            (Tolerance::Fixed(value), _) => value,
            (Tolerance::Auto, SampleFormat::Int) => AUTO_INT_LSBS,
            (Tolerance::Auto, SampleFormat::Float) => AUTO_FLOAT,
        }
    }
}

struct Args {
    a: PathBuf,
    b: PathBuf,
    tolerance: Tolerance,
}

enum Failure {
    /// Bad command line; print the usage.
    Usage(String),
    /// The files cannot be compared.
    Error(String),
}

fn parse_tolerance(value: &str) -> Result<Tolerance, Failure> {
    if value == "auto" {
        return Ok(Tolerance::Auto);
    }
    match value.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(Tolerance::Fixed(t)),
        _ => Err(Failure::Usage(format!(
            "--tolerance wants a number >= 0 or auto, got '{value}'"
        ))),
    }
}

fn parse_args() -> Result<Option<Args>, Failure> {
    let mut files = Vec::new();
    let mut tolerance = Tolerance::Fixed(0.0);
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            files.push(PathBuf::from(arg));
            continue;
        };
        if text == "-h" || text == "--help" {
            return Ok(None);
        } else if text == "--tolerance" {
            let value = args
                .next()
                .ok_or_else(|| Failure::Usage("--tolerance needs a value".into()))?;
            tolerance = parse_tolerance(&value.to_string_lossy())?;
        } else if let Some(value) = text.strip_prefix("--tolerance=") {
            tolerance = parse_tolerance(value)?;
        } else if text.starts_with('-') && text.len() > 1 {
            return Err(Failure::Usage(format!("unknown option '{text}'")));
        } else {
            files.push(PathBuf::from(text));
        }
    }
    let mut files = files.into_iter();
    match (files.next(), files.next(), files.next()) {
        (Some(a), Some(b), None) => Ok(Some(Args { a, b, tolerance })),
        _ => Err(Failure::Usage("expected exactly two WAV files".into())),
    }
}

fn open(path: &Path) -> Result<WavReader<BufReader<File>>, Failure> {
    WavReader::open(path)
        .map_err(|e| Failure::Error(format!("{}: cannot read as WAV: {e}", path.display())))
}

struct SpecDisplay(WavSpec);

impl fmt::Display for SpecDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        let kind = match s.sample_format {
            SampleFormat::Int => "int",
            SampleFormat::Float => "float",
        };
        write!(
            f,
            "{}-bit {kind}, {} channel(s), {} Hz",
            s.bits_per_sample, s.channels, s.sample_rate
        )
    }
}

/// The largest difference and where it is, by interleaved sample index.
struct Diff {
    max: f64,
    at: Option<(u64, f64, f64)>,
    samples: u64,
}

impl Diff {
    fn new() -> Self {
        Diff {
            max: 0.0,
            at: None,
            samples: 0,
        }
    }

    fn add(&mut self, a: f64, b: f64, d: f64) {
        if d > self.max {
            self.max = d;
            self.at = Some((self.samples, a, b));
        }
        self.samples += 1;
    }
}

fn sample_error(path: &Path, index: u64, e: hound::Error) -> Failure {
    Failure::Error(format!(
        "{}: cannot read sample {index}: {e}",
        path.display()
    ))
}

fn diff_int(
    args: &Args,
    ra: WavReader<BufReader<File>>,
    rb: WavReader<BufReader<File>>,
) -> Result<Diff, Failure> {
    let mut diff = Diff::new();
    for (sa, sb) in ra.into_samples::<i32>().zip(rb.into_samples::<i32>()) {
        let i = diff.samples;
        let a = sa.map_err(|e| sample_error(&args.a, i, e))?;
        let b = sb.map_err(|e| sample_error(&args.b, i, e))?;
        let d = (i64::from(a) - i64::from(b)).unsigned_abs();
        // Exact up to 2^53, far beyond any 32-bit sample difference.
        diff.add(f64::from(a), f64::from(b), d as f64);
    }
    Ok(diff)
}

fn diff_float(
    args: &Args,
    ra: WavReader<BufReader<File>>,
    rb: WavReader<BufReader<File>>,
) -> Result<Diff, Failure> {
    let mut diff = Diff::new();
    for (sa, sb) in ra.into_samples::<f32>().zip(rb.into_samples::<f32>()) {
        let i = diff.samples;
        let a = f64::from(sa.map_err(|e| sample_error(&args.a, i, e))?);
        let b = f64::from(sb.map_err(|e| sample_error(&args.b, i, e))?);
        let d = match (a.is_nan(), b.is_nan()) {
            (true, true) => 0.0,
            (false, false) if a == b => 0.0, // also equal infinities
            (false, false) => (a - b).abs(),
            _ => f64::INFINITY,
        };
        diff.add(a, b, d);
    }
    Ok(diff)
}

fn run(args: &Args) -> Result<bool, Failure> {
    let ra = open(&args.a)?;
    let rb = open(&args.b)?;
    let (spec_a, spec_b) = (ra.spec(), rb.spec());

    for (path, spec) in [(&args.a, spec_a), (&args.b, spec_b)] {
        let supported = match spec.sample_format {
            SampleFormat::Int => (1..=32).contains(&spec.bits_per_sample),
            SampleFormat::Float => spec.bits_per_sample == 32,
        };
        if !supported {
            return Err(Failure::Error(format!(
                "{}: unsupported sample format: {}",
                path.display(),
                SpecDisplay(spec)
            )));
        }
    }
    if spec_a != spec_b {
        return Err(Failure::Error(format!(
            "formats differ: {} is {}, {} is {}",
            args.a.display(),
            SpecDisplay(spec_a),
            args.b.display(),
            SpecDisplay(spec_b)
        )));
    }
    let (frames_a, frames_b) = (ra.duration(), rb.duration());
    if frames_a != frames_b {
        return Err(Failure::Error(format!(
            "lengths differ: {} has {frames_a} frames, {} has {frames_b} frames",
            args.a.display(),
            args.b.display()
        )));
    }

    let channels = spec_a.channels;
    let diff = match spec_a.sample_format {
        SampleFormat::Int => diff_int(args, ra, rb)?,
        SampleFormat::Float => diff_float(args, ra, rb)?,
    };
    let expected = u64::from(frames_a) * u64::from(channels);
    if diff.samples != expected {
        return Err(Failure::Error(format!(
            "read {} samples, the headers announce {expected} ({frames_a} frames x {channels} channels)",
            diff.samples
        )));
    }

    let max = match spec_a.sample_format {
        SampleFormat::Int => format!("{}", diff.max as u64),
        SampleFormat::Float if diff.max == 0.0 => "0".to_string(),
        SampleFormat::Float => format!("{:e}", diff.max),
    };
    println!(
        "frames={frames_a} channels={channels} max_abs_diff={max} identical={}",
        diff.at.is_none()
    );
    if let Some((index, a, b)) = diff.at {
        let ch = u64::from(channels.max(1));
        eprintln!(
            "wav_diff: largest difference at frame {} channel {}: {} has {a}, {} has {b}",
            index / ch,
            index % ch,
            args.a.display(),
            args.b.display()
        );
    }

    let tolerance = args.tolerance.for_format(spec_a.sample_format);
    if let Tolerance::Auto = args.tolerance {
        eprintln!(
            "wav_diff: tolerance {tolerance} for {}",
            SpecDisplay(spec_a)
        );
    }
    let within = diff.max <= tolerance;
    if !within {
        eprintln!("wav_diff: max_abs_diff {max} exceeds the tolerance {tolerance}");
    }
    Ok(within)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| match args {
        None => {
            println!("{USAGE}");
            Ok(true)
        }
        Some(args) => run(&args),
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("wav_diff: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Error(msg)) => {
            eprintln!("wav_diff: {msg}");
            ExitCode::from(2)
        }
    }
}
