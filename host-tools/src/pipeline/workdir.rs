//! The pipeline's work folder: the original's folder names and the path of every file a step
//! reads or writes there, a dry run's outputs in a folder of their own. It names files; it never
//! reads or writes them, apart from creating the output folders and clearing them of partial
//! files a killed run left behind.

use std::path::{Path, PathBuf};

use open_nsynth::atomic::remove_abandoned;

use super::encode::embedding_file_name;
use super::grid::Sound;
use super::PipelineError;

/// Folder of the recordings.
pub const RECORDINGS_DIR: &str = "audio_input";
/// Folder of step 01's embeddings.
pub const INPUT_EMBEDDINGS_DIR: &str = "embeddings_input";
/// Folder of step 02's interpolated embeddings.
pub const SOUND_EMBEDDINGS_DIR: &str = "embeddings_output";
/// Folder of the generated audio.
pub const GENERATED_DIR: &str = "audio_output";
/// Folder of the cleaned notes.
pub const CLEANED_DIR: &str = "output_wav";
/// Folder of the pads and the device settings.
pub const PADS_DIR: &str = "pads_output";
/// Name of the device settings file in [`PADS_DIR`].
pub const DEVICE_SETTINGS_FILE: &str = "settings.json";
/// Folder of a dry run's outputs in the work folder, with the same step folders inside as a real
/// run's, so that sine tones can never be taken for NSynth's pads.
pub const DRY_RUN_DIR: &str = "dry-run";

/// The work folder's folders.
pub(super) struct Workdir {
    pub recordings: PathBuf,
    pub input_embeddings: PathBuf,
    pub sound_embeddings: PathBuf,
    pub generated: PathBuf,
    pub cleaned: PathBuf,
    pub pads: PathBuf,
}

impl Workdir {
    /// The folders of a run in the work folder `root`: the recordings in it, the outputs in it
    /// too, or in [`DRY_RUN_DIR`] for a dry run.
    pub fn new(root: &Path, dry_run: bool) -> Self {
        let outputs = if dry_run {
            root.join(DRY_RUN_DIR)
        } else {
            root.to_path_buf()
        };
        Self {
            recordings: root.join(RECORDINGS_DIR),
            input_embeddings: outputs.join(INPUT_EMBEDDINGS_DIR),
            sound_embeddings: outputs.join(SOUND_EMBEDDINGS_DIR),
            generated: outputs.join(GENERATED_DIR),
            cleaned: outputs.join(CLEANED_DIR),
            pads: outputs.join(PADS_DIR),
        }
    }

    /// Creates the output folders and removes the partial files a killed run left in them
    /// (those of runs still going, on other machines too, are kept: see `remove_abandoned`).
    pub fn create_outputs(&self) -> Result<(), PipelineError> {
        for dir in [
            &self.input_embeddings,
            &self.sound_embeddings,
            &self.generated,
            &self.cleaned,
            &self.pads,
        ] {
            std::fs::create_dir_all(dir).map_err(|cause| PipelineError::CreateDir {
                path: dir.clone(),
                cause,
            })?;
            match remove_abandoned(dir) {
                Ok(removed) => {
                    for path in removed {
                        tracing::info!("removed {}, left by a killed run", path.display());
                    }
                }
                Err(error) => tracing::warn!(
                    "cannot look for partial files left in {}: {error}",
                    dir.display()
                ),
            }
        }
        Ok(())
    }

    /// Step 01's embedding of the recording `<note>.wav`.
    pub fn input_embedding(&self, note: &str) -> PathBuf {
        self.input_embeddings.join(embedding_file_name(note))
    }

    pub fn sound_embedding(&self, sound: &Sound) -> PathBuf {
        self.sound_embeddings.join(format!("{}.npy", sound.name))
    }

    pub fn generated(&self, sound: &Sound) -> PathBuf {
        self.generated.join(format!("gen_{}.wav", sound.name))
    }

    pub fn cleaned(&self, sound: &Sound) -> PathBuf {
        self.cleaned.join(format!("gen_{}.wav", sound.name))
    }
}
