//! The audio front end of host-tools: reads recordings (WAV, AIFF, FLAC at any rate and bit depth)
//! as NSynth hears them, 16 kHz mono `f32` (spec §1), trims them for the encoder, measures a
//! tone's zero-crossing frequency, and writes 16 kHz WAV files atomically. It never normalises or otherwise changes the sound beyond
//! mixing to mono and resampling, and it never writes anything but complete files.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters, WindowFunction};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::{Hint, ProbeOptions};
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::embedding::HOP_LENGTH;
use open_nsynth::atomic::write_atomically;

/// The model's sample rate in Hz.
pub const SAMPLE_RATE: u32 = 16_000;

/// One NSynth note: 4 s at 16 kHz, the encoder's default maximum input.
pub const NOTE_SAMPLES: usize = 64_000;

/// Loudest sample of a recording that still counts as silent: below one 16-bit step.
const SILENCE_PEAK: f32 = 1.0 / 32768.0;

/// Log targets of the decoding library, whose own log lines host-tools leaves out: what it
/// logs about a file it cannot read is said in [`AudioError`].
pub const QUIET_LIBRARIES: [&str; 1] = ["symphonia"];

/// File extensions read as recordings, lower case.
pub const RECORDING_EXTENSIONS: [&str; 4] = ["wav", "aif", "aiff", "flac"];

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot open {path}: {cause}")]
    Open { path: PathBuf, cause: io::Error },
    #[error("{path} is an empty file (0 bytes)")]
    EmptyFile { path: PathBuf },
    #[error(
        "{path} is not a WAV, AIFF or FLAC file: the decoder found no header it knows in {searched}"
    )]
    NotAudio { path: PathBuf, searched: String },
    #[error("{path} is not a readable WAV, AIFF or FLAC file: {cause}")]
    Format {
        path: PathBuf,
        cause: SymphoniaError,
    },
    #[error("{path} holds no audio track the decoder knows")]
    NoAudioTrack { path: PathBuf },
    #[error("{path}: the audio cannot be decoded: {cause}")]
    Decode {
        path: PathBuf,
        cause: SymphoniaError,
    },
    #[error("{path} holds no samples")]
    Empty { path: PathBuf },
    #[error("cannot resample {path} from {rate} Hz to 16 kHz: {message}")]
    Resample {
        path: PathBuf,
        rate: u32,
        message: String,
    },
    #[error(
        "{path} gives {samples} samples at 16 kHz, fewer than one embedding frame ({HOP_LENGTH}); \
         a note must last at least 32 ms"
    )]
    TooShort { path: PathBuf, samples: usize },
    #[error(
        "{path} is silent in the part the encoder reads (its first {samples} samples at 16 kHz); \
         check the recording level or trim leading silence"
    )]
    Silent { path: PathBuf, samples: usize },
    #[error("cannot write {path}: {cause}")]
    Write { path: PathBuf, cause: io::Error },
}

/// Reads a recording as 16 kHz mono: channels are averaged, and any other rate is resampled with
/// a windowed-sinc resampler (a 16 kHz file is passed through untouched). Integer samples are
/// scaled to ±1 as librosa does (16-bit by 1/32768).
pub fn read_mono_16k(path: &Path) -> Result<Vec<f32>, AudioError> {
    let (mono, rate) = decode_mono(path)?;
    if rate == SAMPLE_RATE {
        return Ok(mono);
    }
    resample(&mono, rate).map_err(|message| AudioError::Resample {
        path: path.to_path_buf(),
        rate,
        message,
    })
}

/// The part of `samples` the encoder reads (spec §1): the first `min(len, max_samples)` samples,
/// cut down to a whole number of 512-sample frames.
pub fn trim_for_encoding(samples: &[f32], max_samples: usize) -> &[f32] {
    let len = samples.len().min(max_samples);
    &samples[..len / HOP_LENGTH * HOP_LENGTH]
}

/// Reads a recording and returns the part the encoder reads (at most `max_samples`), refusing a
/// recording too short for one frame or silent in that part.
pub fn load_for_encoding(path: &Path, max_samples: usize) -> Result<Vec<f32>, AudioError> {
    let mut samples = read_mono_16k(path)?;
    let kept = trim_for_encoding(&samples, max_samples).len();
    if kept == 0 {
        return Err(AudioError::TooShort {
            path: path.to_path_buf(),
            samples: samples.len(),
        });
    }
    samples.truncate(kept);
    if samples.iter().all(|s| s.abs() < SILENCE_PEAK) {
        return Err(AudioError::Silent {
            path: path.to_path_buf(),
            samples: kept,
        });
    }
    Ok(samples)
}

/// Writes 16 kHz mono `f32` audio as Magenta's generator does (spec §4.6, SciPy's layout):
/// format tag 3 (IEEE float) with `cbSize` 0, a `fact` chunk, 32-bit little-endian samples.
pub fn write_float_wav(path: &Path, samples: &[f32]) -> Result<(), AudioError> {
    let write_error = |cause| AudioError::Write {
        path: path.to_path_buf(),
        cause,
    };
    let data_bytes = u32::try_from(samples.len() * 4)
        .ok()
        .filter(|bytes| *bytes <= u32::MAX - 58)
        .ok_or_else(|| write_error(io::Error::other("too many samples for a WAV file")))?;
    write_atomically::<io::Error, _>(path, |w| {
        let frames = data_bytes / 4;
        w.write_all(b"RIFF")?;
        // "WAVE" + fmt (8 + 18) + fact (8 + 4) + data header (8) + data.
        w.write_all(&(4 + 26 + 12 + 8 + data_bytes).to_le_bytes())?;
        w.write_all(b"WAVEfmt ")?;
        w.write_all(&18u32.to_le_bytes())?;
        w.write_all(&3u16.to_le_bytes())?; // WAVE_FORMAT_IEEE_FLOAT
        w.write_all(&1u16.to_le_bytes())?; // channels
        w.write_all(&SAMPLE_RATE.to_le_bytes())?;
        w.write_all(&(SAMPLE_RATE * 4).to_le_bytes())?; // bytes per second
        w.write_all(&4u16.to_le_bytes())?; // block align
        w.write_all(&32u16.to_le_bytes())?; // bits per sample
        w.write_all(&0u16.to_le_bytes())?; // cbSize
        w.write_all(b"fact")?;
        w.write_all(&4u32.to_le_bytes())?;
        w.write_all(&frames.to_le_bytes())?;
        w.write_all(b"data")?;
        w.write_all(&data_bytes.to_le_bytes())?;
        for sample in samples {
            w.write_all(&sample.to_le_bytes())?;
        }
        Ok(())
    })
    .map_err(write_error)
}

/// Writes 16 kHz mono 16-bit PCM, the format of the original pipeline's cleaned notes.
pub fn write_pcm16_wav(path: &Path, samples: &[i16]) -> Result<(), AudioError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    write_atomically::<io::Error, _>(path, |w| {
        let mut wav = hound::WavWriter::new(w, spec).map_err(hound_to_io)?;
        let mut samples_out = wav.get_i16_writer(samples.len() as u32);
        for &sample in samples {
            samples_out.write_sample(sample);
        }
        samples_out.flush().map_err(hound_to_io)?;
        wav.finalize().map_err(hound_to_io)
    })
    .map_err(|cause| AudioError::Write {
        path: path.to_path_buf(),
        cause,
    })
}

/// Frequency of 16 kHz `audio` from its upward zero crossings, the first to the last (0 when it
/// has fewer than two): the pitch of a clean tone, not of a rich note.
pub fn zero_crossing_frequency(audio: &[f32]) -> f64 {
    let ups: Vec<usize> = audio
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair[0] < 0.0 && pair[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    match (ups.first(), ups.last()) {
        (Some(&first), Some(&last)) if last > first => {
            (ups.len() - 1) as f64 * f64::from(SAMPLE_RATE) / (last - first) as f64
        }
        _ => 0.0,
    }
}

fn hound_to_io(error: hound::Error) -> io::Error {
    match error {
        hound::Error::IoError(error) => error,
        other => io::Error::other(other),
    }
}

/// Decodes every packet of the first audio track and averages the channels; returns the mono
/// samples and their rate. What the decoding library logs about a file it cannot read (it
/// logs how far its search for a header went; host-tools silences its log) is said in the
/// error instead.
fn decode_mono(path: &Path) -> Result<(Vec<f32>, u32), AudioError> {
    let open_error = |cause| AudioError::Open {
        path: path.to_path_buf(),
        cause,
    };
    let file = File::open(path).map_err(open_error)?;
    let bytes = file.metadata().map_err(open_error)?.len();
    if bytes == 0 {
        return Err(AudioError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(extension);
    }
    let format_error = |cause| AudioError::Format {
        path: path.to_path_buf(),
        cause,
    };
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|cause| match cause {
            // The probe read the file up to its search limit without finding a header.
            SymphoniaError::Unsupported(_) => {
                let limit = u64::from(ProbeOptions::default().max_probe_depth);
                AudioError::NotAudio {
                    path: path.to_path_buf(),
                    searched: if bytes <= limit {
                        format!("its {bytes} bytes")
                    } else {
                        format!("its first {limit} bytes")
                    },
                }
            }
            cause => format_error(cause),
        })?;
    let no_track = || AudioError::NoAudioTrack {
        path: path.to_path_buf(),
    };
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(no_track)?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|params| params.audio())
        .ok_or_else(no_track)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(format_error)?;
    let decode_error = |cause| AudioError::Decode {
        path: path.to_path_buf(),
        cause,
    };

    let mut mono = Vec::new();
    let mut rate = None;
    let mut planes: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A file cut short (or with a data size larger than the file) still holds valid audio
            // up to where it ends; the original's librosa reads it the same way.
            Err(SymphoniaError::IoError(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(error) => return Err(decode_error(error)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = decoder.decode(&packet).map_err(decode_error)?;
        rate.get_or_insert(buffer.spec().rate());
        buffer.copy_to_vecs_planar::<f32>(&mut planes);
        mix_into(&mut mono, &planes);
    }
    match rate {
        Some(rate) if !mono.is_empty() => Ok((mono, rate)),
        _ => Err(AudioError::Empty {
            path: path.to_path_buf(),
        }),
    }
}

/// Appends the channel average of `planes` to `mono` (librosa's `to_mono`).
fn mix_into(mono: &mut Vec<f32>, planes: &[Vec<f32>]) {
    let Some(first) = planes.first() else {
        return;
    };
    let scale = 1.0 / planes.len() as f32;
    mono.extend((0..first.len()).map(|i| {
        let sum: f32 = planes.iter().map(|plane| plane[i]).sum();
        sum * scale
    }));
}

/// Resamples a whole clip from `rate` to 16 kHz; the result has `ceil(len · 16000 / rate)`
/// samples and is aligned with the input (the filter delay is trimmed).
fn resample(samples: &[f32], rate: u32) -> Result<Vec<f32>, String> {
    let ratio = f64::from(SAMPLE_RATE) / f64::from(rate);
    let parameters = SincInterpolationParameters::new(256, WindowFunction::BlackmanHarris2);
    let mut resampler = Async::<f32>::new_sinc(ratio, 1.0, &parameters, 1024, 1, FixedAsync::Input)
        .map_err(|error| error.to_string())?;
    let input =
        InterleavedSlice::new(samples, 1, samples.len()).map_err(|error| error.to_string())?;
    let output = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|error| error.to_string())?;
    Ok(output.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    fn tone(frequency: f64, rate: u32, seconds: f64) -> Vec<f64> {
        let count = (f64::from(rate) * seconds) as usize;
        (0..count)
            .map(|i| 0.5 * (TAU * frequency * i as f64 / f64::from(rate)).sin())
            .collect()
    }

    fn write_hound(path: &Path, spec: hound::WavSpec, frames: &[Vec<f64>]) {
        let mut wav = hound::WavWriter::create(path, spec).unwrap();
        let full_scale = f64::from(1u32 << (spec.bits_per_sample - 1));
        for frame in frames {
            for &value in frame {
                match (spec.sample_format, spec.bits_per_sample) {
                    (hound::SampleFormat::Float, _) => wav.write_sample(value as f32).unwrap(),
                    (_, 8) => wav.write_sample((value * 128.0).round() as i8).unwrap(),
                    (_, 16) => wav.write_sample((value * 32768.0).round() as i16).unwrap(),
                    _ => wav
                        .write_sample((value * full_scale).round() as i32)
                        .unwrap(),
                }
            }
        }
        wav.finalize().unwrap();
    }

    fn spec(bits: u16, format: hound::SampleFormat, channels: u16, rate: u32) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn wav_integer_and_float_depths_read_to_the_same_levels() {
        let dir = tempfile::tempdir().unwrap();
        let signal = tone(440.0, 16000, 0.1);
        let frames: Vec<Vec<f64>> = signal.iter().map(|&s| vec![s]).collect();
        let cases = [
            (8, hound::SampleFormat::Int, 1.0 / 128.0),
            (16, hound::SampleFormat::Int, 1.0 / 32768.0),
            (24, hound::SampleFormat::Int, 1.0 / 8_388_608.0),
            (32, hound::SampleFormat::Float, 1e-7),
        ];
        for (bits, format, step) in cases {
            let path = dir.path().join(format!("tone{bits}.wav"));
            write_hound(&path, spec(bits, format, 1, 16000), &frames);
            let read = read_mono_16k(&path).unwrap();
            assert_eq!(read.len(), signal.len(), "{bits} bits");
            for (got, want) in read.iter().zip(&signal) {
                assert!(
                    (f64::from(*got) - want).abs() <= step,
                    "{bits} bits: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn sixteen_bit_samples_scale_by_1_over_32768_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.wav");
        let values = [0i16, 1, -1, 16384, -32768, 32767];
        let mut wav =
            hound::WavWriter::create(&path, spec(16, hound::SampleFormat::Int, 1, SAMPLE_RATE))
                .unwrap();
        for value in values {
            wav.write_sample(value).unwrap();
        }
        wav.finalize().unwrap();
        let read = read_mono_16k(&path).unwrap();
        let want: Vec<f32> = values.iter().map(|&v| f32::from(v) / 32768.0).collect();
        assert_eq!(read, want);
    }

    #[test]
    fn stereo_is_averaged_to_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        let frames = vec![vec![0.5, 0.25], vec![-0.5, 0.0], vec![0.25, 0.25]];
        write_hound(&path, spec(16, hound::SampleFormat::Int, 2, 16000), &frames);
        assert_eq!(read_mono_16k(&path).unwrap(), vec![0.375, -0.25, 0.25]);
    }

    #[test]
    fn cd_rate_is_resampled_to_16k_keeping_length_and_pitch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cd.wav");
        let signal = tone(440.0, 44100, 0.5);
        let frames: Vec<Vec<f64>> = signal.iter().map(|&s| vec![s, s]).collect();
        write_hound(&path, spec(16, hound::SampleFormat::Int, 2, 44100), &frames);
        let read = read_mono_16k(&path).unwrap();
        // ceil(22050 · 16000 / 44100) = 8000.
        assert_eq!(read.len(), 8000);
        let frequency = zero_crossing_frequency(&read);
        assert!((frequency - 440.0).abs() < 0.5, "{frequency} Hz");
        // The level survives too: a 0.5 sine peaks near 0.5 after resampling.
        let peak = read[1000..7000].iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.01, "{peak}");
    }

    /// An 80-bit IEEE extended float, as AIFF stores its sample rate.
    fn extended(value: f64) -> [u8; 10] {
        let exponent = value.log2().floor() as i32;
        let mantissa = (value / 2f64.powi(exponent) * (1u64 << 63) as f64) as u64;
        let mut bytes = [0u8; 10];
        bytes[..2].copy_from_slice(&((exponent + 16383) as u16).to_be_bytes());
        bytes[2..].copy_from_slice(&mantissa.to_be_bytes());
        bytes
    }

    /// A minimal AIFF file: FORM/AIFF with COMM and SSND chunks, 16-bit big-endian samples.
    fn aiff_bytes(samples: &[i16], channels: u16, rate: f64) -> Vec<u8> {
        let frames = (samples.len() / usize::from(channels)) as u32;
        let mut comm = Vec::new();
        comm.extend_from_slice(&channels.to_be_bytes());
        comm.extend_from_slice(&frames.to_be_bytes());
        comm.extend_from_slice(&16u16.to_be_bytes());
        comm.extend_from_slice(&extended(rate));
        let mut ssnd = vec![0u8; 8]; // offset and block size
        for sample in samples {
            ssnd.extend_from_slice(&sample.to_be_bytes());
        }
        let mut body = b"AIFF".to_vec();
        for (id, chunk) in [(b"COMM", comm), (b"SSND", ssnd)] {
            body.extend_from_slice(id);
            body.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
            body.extend_from_slice(&chunk);
        }
        let mut file = b"FORM".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        file.extend_from_slice(&body);
        file
    }

    #[test]
    fn aiff_is_read_and_resampled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.aif");
        let signal = tone(300.0, 22050, 0.5);
        let samples: Vec<i16> = signal.iter().map(|s| (s * 32768.0) as i16).collect();
        std::fs::write(&path, aiff_bytes(&samples, 1, 22050.0)).unwrap();
        let read = read_mono_16k(&path).unwrap();
        assert_eq!(read.len(), 8000); // ceil(11025 · 16000 / 22050)
        let frequency = zero_crossing_frequency(&read);
        assert!((frequency - 300.0).abs() < 0.5, "{frequency} Hz");
    }

    /// CRC-8 (polynomial 0x07) of a FLAC frame header.
    fn crc8(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |mut crc, &byte| {
            crc ^= byte;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x07
                } else {
                    crc << 1
                };
            }
            crc
        })
    }

    /// CRC-16 (polynomial 0x8005) of a whole FLAC frame.
    fn crc16(bytes: &[u8]) -> u16 {
        bytes.iter().fold(0u16, |mut crc, &byte| {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x8005
                } else {
                    crc << 1
                };
            }
            crc
        })
    }

    /// A minimal FLAC stream: STREAMINFO and one frame per 1024 samples with a VERBATIM
    /// subframe (16-bit mono, 16 kHz), which is valid FLAC without an encoder.
    fn flac_bytes(samples: &[i16]) -> Vec<u8> {
        const BLOCK: usize = 1024;
        let mut out = b"fLaC".to_vec();
        out.extend_from_slice(&[0x80, 0, 0, 34]); // last metadata block, STREAMINFO, 34 bytes
        out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
        out.extend_from_slice(&(BLOCK as u16).to_be_bytes());
        out.extend_from_slice(&[0; 6]); // frame sizes unknown
                                        // 20 bits rate, 3 bits channels − 1, 5 bits depth − 1, 36 bits total samples.
        let packed: u64 = (u64::from(SAMPLE_RATE) << 44) | (15 << 36) | samples.len() as u64;
        out.extend_from_slice(&packed.to_be_bytes());
        out.extend_from_slice(&[0; 16]); // MD5 unknown
        for (number, block) in samples.chunks(BLOCK).enumerate() {
            // Sync, fixed block size; block size from the end of the header (16 bits), 16 kHz;
            // mono, 16 bits; frame number (below 128, one UTF-8 byte); block size − 1.
            let mut frame = vec![0xFF, 0xF8, 0x75, 0x08, number as u8];
            frame.extend_from_slice(&((block.len() - 1) as u16).to_be_bytes());
            frame.push(crc8(&frame));
            frame.push(0x02); // VERBATIM subframe, no wasted bits
            for sample in block {
                frame.extend_from_slice(&sample.to_be_bytes());
            }
            let crc = crc16(&frame);
            frame.extend_from_slice(&crc.to_be_bytes());
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn flac_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tone.flac");
        let samples: Vec<i16> = tone(500.0, 16000, 0.2)
            .iter()
            .map(|s| (s * 32768.0) as i16)
            .collect();
        std::fs::write(&path, flac_bytes(&samples)).unwrap();
        let read = read_mono_16k(&path).unwrap();
        let want: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
        assert_eq!(read, want);
    }

    #[test]
    fn trimming_keeps_whole_frames_of_at_most_the_maximum() {
        let samples = vec![0.0; 70000];
        assert_eq!(trim_for_encoding(&samples, NOTE_SAMPLES).len(), 64000);
        assert_eq!(
            trim_for_encoding(&samples[..1500], NOTE_SAMPLES).len(),
            1024
        );
        assert_eq!(trim_for_encoding(&samples[..511], NOTE_SAMPLES).len(), 0);
        assert_eq!(trim_for_encoding(&samples, 1000).len(), 512);
    }

    #[test]
    fn unreadable_short_and_silent_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.wav");
        let message = load_for_encoding(&missing, NOTE_SAMPLES)
            .unwrap_err()
            .to_string();
        assert!(message.contains("missing.wav"), "{message}");

        let garbage = dir.path().join("garbage.wav");
        std::fs::write(&garbage, b"this is not audio at all, just some text").unwrap();
        let error = load_for_encoding(&garbage, NOTE_SAMPLES).unwrap_err();
        // The decoder's own log line (it searched all 40 bytes) is said in the error.
        assert!(matches!(error, AudioError::NotAudio { .. }), "{error}");
        assert!(
            error.to_string().ends_with(
                "garbage.wav is not a WAV, AIFF or FLAC file: the decoder found no header it \
                 knows in its 40 bytes"
            ),
            "{error}"
        );

        let empty = dir.path().join("empty.wav");
        std::fs::write(&empty, b"").unwrap();
        let error = load_for_encoding(&empty, NOTE_SAMPLES).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("empty.wav is an empty file (0 bytes)"),
            "{error}"
        );

        let short = dir.path().join("short.wav");
        let frames: Vec<Vec<f64>> = (0..300).map(|_| vec![0.5]).collect();
        write_hound(
            &short,
            spec(16, hound::SampleFormat::Int, 1, 16000),
            &frames,
        );
        let error = load_for_encoding(&short, NOTE_SAMPLES).unwrap_err();
        assert!(
            matches!(error, AudioError::TooShort { samples: 300, .. }),
            "{error}"
        );

        let silent = dir.path().join("silent.wav");
        let frames: Vec<Vec<f64>> = (0..2000).map(|_| vec![0.0]).collect();
        write_hound(
            &silent,
            spec(16, hound::SampleFormat::Int, 1, 16000),
            &frames,
        );
        let error = load_for_encoding(&silent, NOTE_SAMPLES).unwrap_err();
        assert!(
            matches!(error, AudioError::Silent { samples: 1536, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("silent.wav"));
    }

    #[test]
    fn float_wav_has_the_scipy_layout_and_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gen.wav");
        let samples = [0.0f32, 0.978488, -0.978488, 2.63296e-4];
        write_float_wav(&path, &samples).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
            bytes.len() - 8
        );
        assert_eq!(&bytes[8..16], b"WAVEfmt ");
        assert_eq!(u16::from_le_bytes([bytes[20], bytes[21]]), 3);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 16000);
        assert_eq!(u16::from_le_bytes([bytes[34], bytes[35]]), 32);
        assert_eq!(&bytes[38..42], b"fact");
        assert_eq!(u32::from_le_bytes(bytes[46..50].try_into().unwrap()), 4);
        assert_eq!(&bytes[50..54], b"data");
        assert_eq!(bytes.len(), 58 + 16);
        assert_eq!(read_mono_16k(&path).unwrap(), samples);
    }

    #[test]
    fn pcm16_wav_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clean.wav");
        let samples = [0i16, 8231, -8231, 1];
        write_pcm16_wav(&path, &samples).unwrap();
        let read = read_mono_16k(&path).unwrap();
        let back: Vec<i16> = read.iter().map(|s| (s * 32768.0) as i16).collect();
        assert_eq!(back, samples);
    }
}
