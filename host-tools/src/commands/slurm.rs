//! `host-tools slurm`: a SLURM job array of `pipeline` or `generate` tasks, one shard each,
//! written as a batch script in the work folder once what it names is found usable (with a
//! warning when there are more tasks than items to share), and the `sbatch` command that
//! submits it. The script's text is [`crate::slurm`]'s.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{ensure, Context as _};
use open_nsynth::atomic::write_atomically;

use super::{create_dir, inputs};
use crate::audio::RECORDING_EXTENSIONS;
use crate::checkpoint::Checkpoint;
use crate::pipeline::grid::Plan;
use crate::pipeline::{PipelineConfig, RECORDINGS_DIR};
use crate::slurm::{shell_quote, ModelFlags, Resources, SlurmJob, SlurmWork};

/// Writes the script of `tasks` tasks running `work` with `model` on `resources`, every path
/// made absolute and this program as the tasks' command, and prints how to submit it.
pub fn run(
    workdir: &Path,
    tasks: usize,
    work: SlurmWork,
    model: ModelFlags,
    resources: Resources,
) -> anyhow::Result<ExitCode> {
    let work = match work {
        SlurmWork::Pipeline { config } => SlurmWork::Pipeline {
            config: absolute(&config)?,
        },
        SlurmWork::Generate { embeddings, out } => SlurmWork::Generate {
            embeddings: absolute(&embeddings)?,
            out: absolute(&out)?,
        },
    };
    let job = SlurmJob {
        program: std::env::current_exe()
            .context("cannot find the path of this host-tools program")?,
        workdir: absolute(workdir)?,
        tasks,
        work,
        model: ModelFlags {
            checkpoint: absolute(&model.checkpoint)?,
            ..model
        },
        resources,
    };
    let script = write_script(&job)?;
    println!("wrote {}; submit it with:", script.display());
    println!("sbatch {}", shell_quote(&script.to_string_lossy()));
    Ok(ExitCode::SUCCESS)
}

/// Writes the batch script of `job` atomically to [`SlurmJob::script_path`] and makes the
/// folder its tasks log to, once the settings, recordings, embeddings and checkpoint it names
/// are found usable: its tasks may wait in the queue for hours before they could find out.
/// Warns when some tasks would have nothing to do. Returns the script's path.
fn write_script(job: &SlurmJob) -> anyhow::Result<PathBuf> {
    let script = job.script()?;
    let (items, what) = match &job.work {
        SlurmWork::Pipeline { config } => {
            let config = PipelineConfig::from_file(config)?;
            let recordings = job.workdir.join(RECORDINGS_DIR);
            ensure!(
                recordings.is_dir(),
                "{} does not exist: the pipeline's tasks start from the recordings there, one \
                 per instrument and pitch, named <instrument>_<pitch>.wav",
                recordings.display()
            );
            inputs(&recordings, &RECORDING_EXTENSIONS, "recordings")?;
            (Plan::new(&config).sounds.len(), "sounds of the plan")
        }
        SlurmWork::Generate { embeddings, .. } => {
            ensure!(
                embeddings.exists(),
                "{} does not exist",
                embeddings.display()
            );
            let files = inputs(embeddings, &["npy"], ".npy embeddings")?;
            (files.len(), "embedding files")
        }
    };
    if job.tasks > items {
        tracing::warn!(
            "--tasks {} is more than the {items} {what}: tasks {items} to {} will have nothing \
             to generate; --tasks {items} does the same work",
            job.tasks,
            job.tasks - 1
        );
    }
    Checkpoint::open(&job.model.checkpoint)?;
    create_dir(&job.logs_dir())?;
    let path = job.script_path();
    write_atomically(&path, |file| file.write_all(script.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `path` from the current folder, for scripts that run elsewhere.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}
