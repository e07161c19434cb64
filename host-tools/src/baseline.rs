//! The PyTorch baseline that `host-tools bench` compares with (`host-tools/bench/fastgen_torch.py`,
//! Magenta's fastgen written in PyTorch): run as a child process on the same GPU or CPU, and its
//! result lines read. It never measures anything itself.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;

/// Where and how the baseline runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineRun<'a> {
    /// The Python interpreter that has PyTorch.
    pub python: &'a Path,
    pub script: &'a Path,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// `float32`, `tf32` or `bfloat16`.
    pub dtype: &'static str,
    /// CPU threads (`torch.set_num_threads`); `None` leaves PyTorch's default.
    pub threads: Option<usize>,
    pub steps: usize,
}

/// What one run of the baseline printed: its header line and samples per second by batch
/// (batches it could not run are missing).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineResult {
    pub header: String,
    pub speeds: Vec<(usize, f64)>,
}

impl BaselineResult {
    /// Samples per second at `batch`, if it ran.
    pub fn speed(&self, batch: usize) -> Option<f64> {
        self.speeds
            .iter()
            .find(|(measured, _)| *measured == batch)
            .map(|&(_, speed)| speed)
    }
}

impl BaselineRun<'_> {
    /// Runs the script at `batches` and reads what it printed.
    pub fn run(&self, batches: &[usize]) -> anyhow::Result<BaselineResult> {
        let list: Vec<String> = batches.iter().map(usize::to_string).collect();
        let mut command = Command::new(self.python);
        command.arg(self.script).args([
            "--batches",
            &list.join(","),
            "--steps",
            &self.steps.to_string(),
            "--dtype",
            self.dtype,
            "--device",
            &self.device,
        ]);
        if let Some(threads) = self.threads {
            command.args(["--threads", &threads.to_string()]);
        }
        let output = command.output().with_context(|| {
            format!(
                "cannot run {} {}",
                self.python.display(),
                self.script.display()
            )
        })?;
        let text = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "the baseline {} failed (it needs PyTorch in {}; --python names another \
             interpreter): {}{}",
            self.script.display(),
            self.python.display(),
            text,
            String::from_utf8_lossy(&output.stderr)
        );
        let header = text
            .lines()
            .find(|line| line.starts_with("baseline device="))
            .unwrap_or("baseline")
            .to_string();
        Ok(BaselineResult {
            header,
            speeds: text.lines().filter_map(parse_line).collect(),
        })
    }
}

/// One result line of the baseline: `baseline batch=B steps=N seconds=S samples_per_second=X …`;
/// `None` for other lines.
fn parse_line(line: &str) -> Option<(usize, f64)> {
    let mut batch = None;
    let mut speed = None;
    for field in line.strip_prefix("baseline ")?.split_whitespace() {
        match field.split_once('=') {
            Some(("batch", value)) => batch = value.parse().ok(),
            Some(("samples_per_second", value)) => speed = value.parse().ok(),
            _ => {}
        }
    }
    Some((batch?, speed?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_lines_are_read_by_their_fields() {
        let line = "baseline batch=64 steps=200 seconds=1.5 samples_per_second=8533.3 tflops=1.0";
        assert_eq!(parse_line(line), Some((64, 8533.3)));
        assert_eq!(parse_line("baseline batch=512 out_of_memory"), None);
        assert_eq!(parse_line("baseline device=NVIDIA H200 torch=2.11"), None);
        assert_eq!(parse_line("warning: something"), None);
    }

    #[test]
    fn a_missing_interpreter_is_named() {
        let run = BaselineRun {
            python: Path::new("/nonexistent/python3"),
            script: Path::new("fastgen_torch.py"),
            device: "cpu".into(),
            dtype: "float32",
            threads: Some(2),
            steps: 10,
        };
        let error = format!("{:#}", run.run(&[1]).unwrap_err());
        assert!(
            error.contains("cannot run /nonexistent/python3 fastgen_torch.py"),
            "{error}"
        );
    }
}
