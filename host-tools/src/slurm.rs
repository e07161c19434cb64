//! SLURM batch scripts that spread `host-tools pipeline` or `generate` over a cluster: one job
//! array whose task `K` of `N` runs shard `K/N` (see [`crate::pipeline::shard`]), requeued when
//! pre-empted, each task resuming from what earlier tries saved. This module turns a
//! [`SlurmJob`] into the script's text, and parses what a task asks for in SLURM's own formats
//! ([`TimeLimit`], [`Memory`]); it never writes files, submits jobs, reads the environment or
//! checks that the paths it is given exist.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::pipeline::shard::is_whole;

/// What the tasks of the array run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmWork {
    /// `host-tools pipeline --config CONFIG --workdir WORKDIR`.
    Pipeline { config: PathBuf },
    /// `host-tools generate --embeddings EMBEDDINGS --out OUT`.
    Generate { embeddings: PathBuf, out: PathBuf },
}

impl SlurmWork {
    /// The subcommand, which also names the script and the job.
    pub fn kind(&self) -> &'static str {
        match self {
            SlurmWork::Pipeline { .. } => "pipeline",
            SlurmWork::Generate { .. } => "generate",
        }
    }
}

/// The model flags every task passes on to its command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFlags {
    pub checkpoint: PathBuf,
    /// `--encoder-stages` and `--decoder-stages`, passed on only where given.
    pub encoder_stages: Option<usize>,
    pub decoder_stages: Option<usize>,
    pub device: String,
    /// GPU arithmetic (`--precision`); `None` leaves the command's default.
    pub precision: Option<String>,
    /// The CPU's weight format (`--weights`) and threads (`--threads`), passed on where given.
    pub weights: Option<String>,
    pub threads: Option<usize>,
    pub groups: Option<usize>,
    pub batch: usize,
    pub seed: u64,
    /// Seconds between saves of partial audio (`--checkpoint-every`).
    pub checkpoint_every: u64,
}

/// What each task asks the cluster for; `None` leaves the cluster's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// GPUs of each task (`--gres=gpu:G`); 0 asks for none.
    pub gpus_per_task: usize,
    pub cpus_per_task: Option<usize>,
    pub mem: Option<Memory>,
    pub time: Option<TimeLimit>,
    pub partition: Option<String>,
}

/// A time limit in one of SLURM's formats (`--time`): `minutes`, `minutes:seconds`,
/// `hours:minutes:seconds`, `days-hours`, `days-hours:minutes` or `days-hours:minutes:seconds`,
/// each part a whole number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeLimit(String);

impl FromStr for TimeLimit {
    type Err = ResourceError;

    fn from_str(text: &str) -> Result<Self, ResourceError> {
        let (days, clock) = match text.split_once('-') {
            Some((days, clock)) => (Some(days), clock),
            None => (None, text),
        };
        let parts: Vec<&str> = clock.split(':').collect();
        if days.is_none_or(is_whole) && parts.len() <= 3 && parts.iter().all(|p| is_whole(p)) {
            Ok(TimeLimit(text.to_string()))
        } else {
            Err(ResourceError::Time)
        }
    }
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Memory in SLURM's format (`--mem`): a whole number of megabytes, or of the unit of a `K`,
/// `M`, `G` or `T` suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory(String);

impl FromStr for Memory {
    type Err = ResourceError;

    fn from_str(text: &str) -> Result<Self, ResourceError> {
        let number = text
            .strip_suffix(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't'])
            .unwrap_or(text);
        if is_whole(number) {
            Ok(Memory(text.to_string()))
        } else {
            Err(ResourceError::Memory)
        }
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource value SLURM would refuse; the command line names the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error(
        "not a SLURM time limit; expected minutes, minutes:seconds, hours:minutes:seconds, \
         days-hours, days-hours:minutes or days-hours:minutes:seconds (e.g. 90, 12:00:00 or \
         1-12)"
    )]
    Time,
    #[error(
        "not a SLURM memory size; expected a whole number of megabytes, or one with a K, M, G \
         or T suffix (e.g. 32G)"
    )]
    Memory,
}

/// A job array: `tasks` tasks, each running `program` (this host-tools) on one shard of `work`.
/// Every path must be absolute, since tasks start wherever the cluster puts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmJob {
    pub program: PathBuf,
    /// Where the script and its `logs/` folder go; the pipeline's work folder too.
    pub workdir: PathBuf,
    pub tasks: usize,
    pub work: SlurmWork,
    pub model: ModelFlags,
    pub resources: Resources,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlurmError {
    #[error("--tasks 0: a job array needs at least one task")]
    NoTasks,
    #[error(
        "{} is not an absolute path; the cluster starts tasks in folders of its own choosing",
        path.display()
    )]
    RelativePath { path: PathBuf },
    #[error("{} is not valid UTF-8, which a batch script cannot carry; rename it", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{what} {value:?} holds a line break, which a #SBATCH line cannot carry")]
    LineBreak { what: &'static str, value: String },
}

impl SlurmJob {
    /// `WORKDIR/open-nsynth-<kind>.sbatch`.
    pub fn script_path(&self) -> PathBuf {
        self.workdir
            .join(format!("open-nsynth-{}.sbatch", self.work.kind()))
    }

    /// Where the tasks' output goes; SLURM does not create it, so it must exist at submission.
    pub fn logs_dir(&self) -> PathBuf {
        self.workdir.join("logs")
    }

    /// The batch script: `#SBATCH` lines, comments on resuming and submitting, then the task's
    /// command with its shard taken from `SLURM_ARRAY_TASK_ID`.
    pub fn script(&self) -> Result<String, SlurmError> {
        if self.tasks == 0 {
            return Err(SlurmError::NoTasks);
        }
        let kind = self.work.kind();
        let tasks = self.tasks;
        let logs = absolute_text(&self.logs_dir())?;
        let mut directives = vec![
            format!("--job-name=open-nsynth-{kind}"),
            format!("--array=0-{}", tasks - 1),
            // One process per array task; its shard is the whole of its work.
            "--ntasks=1".to_string(),
        ];
        let resources = &self.resources;
        if resources.gpus_per_task > 0 {
            // `--gres` rather than `--gpus-per-task`: SLURM versions before 19.05 know only it,
            // and each array task is one process, so per node and per task are the same.
            directives.push(format!("--gres=gpu:{}", resources.gpus_per_task));
        }
        if let Some(cpus) = resources.cpus_per_task {
            directives.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(mem) = &resources.mem {
            directives.push(format!("--mem={mem}"));
        }
        if let Some(time) = &resources.time {
            directives.push(format!("--time={time}"));
        }
        if let Some(partition) = &resources.partition {
            let partition = sbatch_word("--partition", partition)?;
            directives.push(format!("--partition={partition}"));
        }
        directives.push("--requeue".to_string());
        // A requeued task adds to its logs rather than replacing the earlier tries'.
        directives.push("--open-mode=append".to_string());
        for (flag, extension) in [("--output", "out"), ("--error", "err")] {
            // `%` starts SLURM's file name patterns, so the folder's own are doubled.
            let folder = sbatch_word(flag, &logs.replace('%', "%%"))?;
            directives.push(format!("{flag}={folder}/%A_%a.{extension}"));
        }

        let mut script = String::from("#!/bin/bash\n");
        for directive in &directives {
            script.push_str(&format!("#SBATCH {directive}\n"));
        }
        let submit = shell_quote(&absolute_text(&self.script_path())?);
        let every = self.model.checkpoint_every;
        let (work, owned, resume) = match &self.work {
            SlurmWork::Pipeline { .. } => (
                "the pad pipeline",
                "the notes whose place in the plan is K mod N",
                format!(
                    "every step skips finished files and generation saves partial audio every \
                     {every} s,"
                ),
            ),
            SlurmWork::Generate { .. } => (
                "generate",
                "the embedding files whose place in path order is K mod N",
                format!("finished WAVs are skipped and partial audio is saved every {every} s,"),
            ),
        };
        script.push_str(&format!(
            "#\n\
             # Open NSynth Super {kind} on a SLURM cluster, written by `host-tools slurm`.\n\
             # Submit it with: sbatch {submit}\n\
             #\n\
             # Task K of the array runs shard K/N (N = {tasks}) of {work}:\n\
             # {owned}.\n\
             # A pre-empted task is requeued, and a re-submitted script starts every task again;\n\
             # {resume}\n\
             # so each task resumes from its saved chunks.\n"
        ));
        if let SlurmWork::Pipeline { .. } = self.work {
            script.push_str(
                "# The task that finishes last finds every note made and builds the pads.\n",
            );
        }
        script.push_str("set -euo pipefail\n");
        let command: Vec<String> = self
            .command()?
            .iter()
            .map(|word| shell_quote(word))
            .collect();
        script.push_str(&format!(
            "exec {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\"\n",
            command.join(" ")
        ));
        Ok(script)
    }

    /// The task's command line without its shard, unquoted.
    fn command(&self) -> Result<Vec<String>, SlurmError> {
        let model = &self.model;
        let mut words = vec![absolute_text(&self.program)?, self.work.kind().to_string()];
        let mut path = |flag: &str, path: &Path| -> Result<(), SlurmError> {
            words.push(flag.to_string());
            words.push(absolute_text(path)?);
            Ok(())
        };
        match &self.work {
            SlurmWork::Pipeline { config } => {
                path("--config", config)?;
                path("--workdir", &self.workdir)?;
            }
            SlurmWork::Generate { embeddings, out } => {
                path("--embeddings", embeddings)?;
                path("--out", out)?;
            }
        }
        path("--checkpoint", &model.checkpoint)?;
        let stages = [
            ("--encoder-stages", model.encoder_stages),
            ("--decoder-stages", model.decoder_stages),
        ]
        .into_iter()
        .filter_map(|(flag, stages)| Some((flag, stages?.to_string())));
        let precision = model.precision.as_ref().map(|p| ("--precision", p.clone()));
        let weights = model.weights.as_ref().map(|w| ("--weights", w.clone()));
        let threads = model.threads.map(|n| ("--threads", n.to_string()));
        let groups = model.groups.map(|n| ("--groups", n.to_string()));
        let flags = stages
            .chain([("--device", model.device.clone())])
            .chain(precision)
            .chain(weights)
            .chain(threads)
            .chain(groups)
            .chain([
                ("--batch", model.batch.to_string()),
                ("--seed", model.seed.to_string()),
                ("--checkpoint-every", model.checkpoint_every.to_string()),
            ]);
        for (flag, value) in flags {
            words.push(flag.to_string());
            words.push(value);
        }
        Ok(words)
    }
}

/// `word` as one bash word: unchanged when it holds only characters bash never interprets, else
/// in single quotes, with each `'` written as `'\''` (close, escaped quote, reopen).
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(is_plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `value` as one word of a `#SBATCH` line, whose parser (SLURM's, not the shell's) ends a word
/// at a blank even after a backslash, ends the line at `#` outside quotes, groups quoted text
/// and takes a backslash to escape the next character: a value with anything outside the plain
/// set goes in double quotes, with `"` and `\` escaped. A line break cannot be carried at all.
fn sbatch_word(what: &'static str, value: &str) -> Result<String, SlurmError> {
    if value.contains(['\n', '\r']) {
        return Err(SlurmError::LineBreak {
            what,
            value: value.to_string(),
        });
    }
    if value.chars().all(is_plain) {
        return Ok(value.to_string());
    }
    let mut word = String::with_capacity(value.len() + 2);
    word.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            word.push('\\');
        }
        word.push(c);
    }
    word.push('"');
    Ok(word)
}

/// Characters that mean nothing special to bash or to the `#SBATCH` parser.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c)
}

fn absolute_text(path: &Path) -> Result<String, SlurmError> {
    if !path.is_absolute() {
        return Err(SlurmError::RelativePath {
            path: path.to_path_buf(),
        });
    }
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| SlurmError::NotUtf8 {
            path: path.to_path_buf(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn job(work: SlurmWork) -> SlurmJob {
        SlurmJob {
            program: "/opt/host tools/bin/host-tools".into(),
            workdir: "/scratch/pads".into(),
            tasks: 4,
            work,
            model: ModelFlags {
                checkpoint: "/models/wavenet-ckpt/model.ckpt-200000".into(),
                encoder_stages: Some(10),
                decoder_stages: Some(10),
                device: "cpu".into(),
                precision: None,
                weights: None,
                threads: None,
                groups: None,
                batch: 32,
                seed: 7,
                checkpoint_every: 300,
            },
            resources: Resources {
                gpus_per_task: 2,
                ..Resources::default()
            },
        }
    }

    fn pipeline() -> SlurmJob {
        job(SlurmWork::Pipeline {
            config: "/home/me/it's mine/settings.json".into(),
        })
    }

    /// What bash makes of `words` joined by spaces: the words it passes to a command.
    fn bash_words(words: &[String]) -> Vec<String> {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s\\0' {}", words.join(" ")))
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn quoted_words_reach_bash_unchanged() {
        let words = [
            "plain/path-1.0",
            "with space",
            "it's",
            "'",
            "\"double\" $HOME `ls` ${X} \\ * ? ; & | > <",
            "",
            "line\nbreak",
            "tab\there",
            "~user",
            "#not a comment",
        ];
        let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
        assert_eq!(quoted[0], "plain/path-1.0");
        assert_eq!(quoted[1], "'with space'");
        assert_eq!(quoted[2], r"'it'\''s'");
        assert_eq!(quoted[5], "''");
        assert_eq!(bash_words(&quoted), words);
    }

    #[test]
    fn the_array_gives_each_task_its_shard() {
        let script = pipeline().script().unwrap();
        assert!(script.starts_with("#!/bin/bash\n#SBATCH "), "{script}");
        for line in [
            "#SBATCH --job-name=open-nsynth-pipeline",
            "#SBATCH --array=0-3",
            "#SBATCH --ntasks=1",
            "#SBATCH --gres=gpu:2",
            "#SBATCH --requeue",
            "#SBATCH --open-mode=append",
            "#SBATCH --output=/scratch/pads/logs/%A_%a.out",
            "#SBATCH --error=/scratch/pads/logs/%A_%a.err",
            "# Submit it with: sbatch /scratch/pads/open-nsynth-pipeline.sbatch",
            "set -euo pipefail",
        ] {
            assert!(script.lines().any(|l| l == line), "{line}\n{script}");
        }
        assert!(script.contains("resumes from its saved chunks"));
        assert!(script.contains("builds the pads"));
        let command = script.lines().last().unwrap();
        assert_eq!(
            command,
            "exec '/opt/host tools/bin/host-tools' pipeline \
             --config '/home/me/it'\\''s mine/settings.json' --workdir /scratch/pads \
             --checkpoint /models/wavenet-ckpt/model.ckpt-200000 --encoder-stages 10 \
             --decoder-stages 10 --device cpu --batch 32 --seed 7 --checkpoint-every 300 \
             --shard \"${SLURM_ARRAY_TASK_ID}/4\""
        );
        // No #SBATCH line may follow a command: SLURM stops reading them there.
        let first_command = script.lines().position(|l| !l.starts_with('#')).unwrap();
        assert!(script
            .lines()
            .skip(first_command)
            .all(|l| !l.starts_with("#SBATCH")));
    }

    #[test]
    fn generate_runs_on_its_folders_and_asks_only_for_what_is_given() {
        let mut job = job(SlurmWork::Generate {
            embeddings: "/data/emb".into(),
            out: "/data/wav".into(),
        });
        job.tasks = 1;
        job.model.device = "cuda:1".into();
        job.model.precision = Some("bf16".into());
        job.model.threads = Some(8);
        job.resources = Resources {
            gpus_per_task: 0,
            cpus_per_task: Some(16),
            mem: Some("64G".parse().unwrap()),
            time: Some("1-12:00:00".parse().unwrap()),
            partition: Some("gpu long".into()),
        };
        let script = job.script().unwrap();
        assert_eq!(
            job.script_path(),
            Path::new("/scratch/pads/open-nsynth-generate.sbatch")
        );
        for line in [
            "#SBATCH --array=0-0",
            "#SBATCH --cpus-per-task=16",
            "#SBATCH --mem=64G",
            "#SBATCH --time=1-12:00:00",
            "#SBATCH --partition=\"gpu long\"",
        ] {
            assert!(script.lines().any(|l| l == line), "{line}\n{script}");
        }
        assert!(!script.contains("--gres"), "{script}");
        assert!(!script.contains("builds the pads"), "{script}");
        assert!(
            script.contains(" generate --embeddings /data/emb --out /data/wav --checkpoint "),
            "{script}"
        );
        assert!(
            script.contains(" --device cuda:1 --precision bf16 --threads 8 --batch 32 "),
            "{script}"
        );
        assert!(script.ends_with("--shard \"${SLURM_ARRAY_TASK_ID}/1\"\n"));
    }

    #[test]
    fn log_paths_survive_the_sbatch_parser() {
        let mut job = pipeline();
        job.workdir = "/scratch/100% #1 \"x\"".into();
        let script = job.script().unwrap();
        assert!(
            script.contains("#SBATCH --output=\"/scratch/100%% #1 \\\"x\\\"/logs\"/%A_%a.out\n"),
            "{script}"
        );
        job.workdir = "/scratch/two\nlines".into();
        assert!(matches!(
            job.script(),
            Err(SlurmError::LineBreak {
                what: "--output",
                ..
            })
        ));
    }

    #[test]
    fn bad_jobs_are_refused() {
        let mut job = pipeline();
        job.tasks = 0;
        assert_eq!(job.script(), Err(SlurmError::NoTasks));
        let mut job = pipeline();
        job.model.checkpoint = "wavenet-ckpt/model.ckpt".into();
        let error = job.script().unwrap_err();
        assert_eq!(
            error.to_string(),
            "wavenet-ckpt/model.ckpt is not an absolute path; the cluster starts tasks in folders \
             of its own choosing"
        );
        let mut job = pipeline();
        job.resources.partition = Some("gpu\n#SBATCH --x".into());
        assert!(matches!(
            job.script(),
            Err(SlurmError::LineBreak {
                what: "--partition",
                ..
            })
        ));
    }

    #[test]
    fn time_limits_and_memory_are_taken_in_slurms_formats_only() {
        for time in [
            "90",
            "0",
            "30:00",
            "12:00:00",
            "1-12",
            "1-12:30",
            "1-12:30:00",
            "100:00:00",
        ] {
            let limit: TimeLimit = time.parse().unwrap();
            assert_eq!(limit.to_string(), time);
        }
        for time in [
            "banana",
            "",
            "1:2:3:4",
            "1-",
            "-5",
            "1-2-3",
            "1-2:3:4:5",
            "1h",
            "1.5",
            " 90",
            "+90",
            "1::00",
            "1-1:00:00:00",
        ] {
            assert_eq!(
                time.parse::<TimeLimit>(),
                Err(ResourceError::Time),
                "{time:?}"
            );
        }
        for mem in ["4000", "32G", "512M", "1T", "64k", "0"] {
            assert_eq!(mem.parse::<Memory>().unwrap().to_string(), mem);
        }
        for mem in ["lots", "", "G", "32GB", "1.5G", "-1G", "32 G", "32Gi"] {
            assert_eq!(mem.parse::<Memory>(), Err(ResourceError::Memory), "{mem:?}");
        }
        let error = "banana".parse::<TimeLimit>().unwrap_err().to_string();
        assert!(error.contains("days-hours:minutes:seconds"), "{error}");
    }
}
