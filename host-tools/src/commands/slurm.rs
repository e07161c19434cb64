//! `host-tools slurm`: a SLURM job array of `pipeline` or `generate` tasks, one shard each,
//! written as a batch script in the work folder once what it names is found usable, and the
//! `sbatch` command that submits it. The script's text is [`crate::slurm`]'s.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{ensure, Context as _};
use open_nsynth::atomic::write_atomically;

use super::{create_dir, inputs};
use crate::checkpoint::Checkpoint;
use crate::pipeline::PipelineConfig;
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
/// folder its tasks log to, once the settings, embeddings and checkpoint it names are found
/// usable: its tasks may wait in the queue for hours before they could find out. Returns the
/// script's path.
fn write_script(job: &SlurmJob) -> anyhow::Result<PathBuf> {
    let script = job.script()?;
    match &job.work {
        SlurmWork::Pipeline { config } => {
            PipelineConfig::from_file(config)?;
        }
        SlurmWork::Generate { embeddings, .. } => {
            ensure!(
                embeddings.exists(),
                "{} does not exist",
                embeddings.display()
            );
            inputs(embeddings, &["npy"], ".npy embeddings")?;
        }
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
