//! The instrument's sound as a WAV file: mono engine blocks written as stereo (both channels
//! equal, as the device plays them), 16-bit or float, streamed block by block into an atomic
//! write, so memory stays the same for any length and the file appears only when complete.
//! Used by `render` and by the simulator's recordings; it never renders anything itself.

use std::path::Path;

use anyhow::Context as _;

use crate::atomic::AtomicWav;

/// Sample format of the written WAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WavFormat {
    /// 16-bit signed integers, clipped at full scale.
    Int16,
    /// 32-bit floats, unclipped, exactly what the engine produced.
    Float32,
}

/// A WAV file being written; dropped without [`finish`](WavOut::finish), it leaves nothing.
pub struct WavOut {
    file: AtomicWav,
    format: WavFormat,
    frames: u64,
    peak: f32,
}

impl WavOut {
    pub fn create(path: &Path, rate: u32, format: WavFormat) -> anyhow::Result<WavOut> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: match format {
                WavFormat::Int16 => 16,
                WavFormat::Float32 => 32,
            },
            sample_format: match format {
                WavFormat::Int16 => hound::SampleFormat::Int,
                WavFormat::Float32 => hound::SampleFormat::Float,
            },
        };
        let file = AtomicWav::create(path, spec)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(WavOut {
            file,
            format,
            frames: 0,
            peak: 0.0,
        })
    }

    /// Appends mono `samples` to both channels.
    pub fn write(&mut self, samples: &[f32]) -> anyhow::Result<()> {
        let format = self.format;
        let wav = self.file.samples();
        let written = samples.iter().try_for_each(|&sample| {
            for _ in 0..2 {
                match format {
                    WavFormat::Int16 => wav.write_sample(to_i16(sample))?,
                    WavFormat::Float32 => wav.write_sample(sample)?,
                }
            }
            Ok::<_, hound::Error>(())
        });
        written.with_context(|| format!("cannot write {}", self.file.partial_path().display()))?;
        self.frames += samples.len() as u64;
        self.peak = samples.iter().fold(self.peak, |peak, s| peak.max(s.abs()));
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Largest absolute sample value written so far (1.0 is full scale).
    pub fn peak(&self) -> f32 {
        self.peak
    }

    /// Completes the file and gives it its name.
    pub fn finish(self) -> anyhow::Result<()> {
        Ok(self.file.commit()?)
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample * 32767.0).round().clamp(-32768.0, 32767.0) as i16
}
