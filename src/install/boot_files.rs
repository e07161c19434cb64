//! The text edits that set up the Pi's boot: `i2c-dev` in `/etc/modules`, no serial console on
//! `cmdline.txt` (the MIDI UART), and the board's lines in a marked block of `config.txt`. Each
//! edit leaves every other line as it was and changes nothing when the text is already right. It
//! never guesses where a damaged block ends.

use std::path::Path;

use super::card::Card;
use super::error::InstallError;
use crate::board::Board;

const BLOCK_BEGIN: &str = "# >>> open-nsynth";
const BLOCK_END: &str = "# <<< open-nsynth";

/// Loads `i2c-dev` at boot, takes the serial consoles off the kernel command line and puts the
/// board's block in `config.txt`.
pub(super) fn edit(card: &mut Card, boot_dir: &Path, board: &Board) -> Result<(), InstallError> {
    card.edit(&card.path("/etc/modules"), |text| {
        Ok(with_module(text, "i2c-dev"))
    })?;
    card.edit(&boot_dir.join("cmdline.txt"), |text| {
        Ok(without_serial_console(text))
    })?;
    let config = boot_dir.join("config.txt");
    card.edit(&config, |text| {
        with_block(text, &block_text(board)).map_err(|(line, problem)| InstallError::Block {
            path: config.clone(),
            line,
            problem,
        })
    })
}

/// `/etc/modules` with `module` loaded at boot, or `None` when it already is.
fn with_module(modules: &str, module: &str) -> Option<String> {
    let loaded = modules.lines().any(|line| {
        let setting = line.split('#').next().unwrap_or_default();
        setting.split_whitespace().next() == Some(module)
    });
    if loaded {
        return None;
    }
    let mut text = modules.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(module);
    text.push('\n');
    Some(text)
}

/// The kernel command line without consoles on serial ports (`console=serial0,115200` and
/// the like), which would otherwise print boot messages into the MIDI UART and answer it with a
/// login prompt; consoles on screens (`console=tty1`) stay. `None` when there is none.
fn without_serial_console(cmdline: &str) -> Option<String> {
    let is_serial_console = |word: &str| {
        word.strip_prefix("console=").is_some_and(|console| {
            let device = console.split(',').next().unwrap_or_default();
            let screen = device
                .strip_prefix("tty")
                .is_some_and(|number| number.bytes().all(|byte| byte.is_ascii_digit()));
            !screen
        })
    };
    if !cmdline.split_whitespace().any(is_serial_console) {
        return None;
    }
    let kept: Vec<&str> = cmdline
        .split_whitespace()
        .filter(|word| !is_serial_console(word))
        .collect();
    let end = if cmdline.ends_with('\n') { "\n" } else { "" };
    Some(format!("{}{end}", kept.join(" ")))
}

/// The marked config.txt block for `board`. It opens with `[all]` so that a model filter such
/// as `[pi4]` earlier in the file cannot confine its lines to one model.
fn block_text(board: &Board) -> String {
    let mut block = format!(
        "{BLOCK_BEGIN}: board {}\n# {}\n# Written by `open-nsynth install`; installing again \
         replaces this block.\n[all]\n",
        board.name, board.description
    );
    for line in &board.boot_config {
        block.push_str(line);
        block.push('\n');
    }
    block.push_str(BLOCK_END);
    block.push('\n');
    block
}

/// config.txt with `block` in place of the existing open-nsynth block, or appended when there
/// is none; `None` when the text already holds exactly this block. A damaged block is an error
/// (line number, problem), since guessing where it ends could delete the user's lines.
pub(super) fn with_block(
    config: &str,
    block: &str,
) -> Result<Option<String>, (usize, &'static str)> {
    let lines: Vec<&str> = config.split_inclusive('\n').collect();
    let marked = |marker: &str| -> Vec<usize> {
        (0..lines.len())
            .filter(|&index| lines[index].trim_start().starts_with(marker))
            .collect()
    };
    let new = match (marked(BLOCK_BEGIN).as_slice(), marked(BLOCK_END).as_slice()) {
        ([], []) => {
            let mut text = config.to_owned();
            if !text.is_empty() {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push('\n');
            }
            text + block
        }
        (&[begin], &[end]) if begin < end => {
            let before: String = lines[..begin].concat();
            let after: String = lines[end + 1..].concat();
            format!("{before}{block}{after}")
        }
        (&[begin], []) => return Err((begin + 1, "the open-nsynth block has no end line")),
        (&[_, second, ..], _) => {
            return Err((second + 1, "a second open-nsynth block starts here"))
        }
        (_, &[end, ..]) => return Err((end + 1, "an open-nsynth block ends here without a start")),
    };
    Ok((new != config).then_some(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::fixture::{board, read, write, Sd};

    #[test]
    fn a_block_in_the_middle_is_replaced_in_place() {
        let old = "\
a=1
# >>> open-nsynth: board rpi3 (old)
[all]
dtoverlay=old
# <<< open-nsynth
[pi4]
b=2
";
        let new = with_block(
            old,
            "# >>> open-nsynth: new\n[all]\nx=1\n# <<< open-nsynth\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            new,
            "a=1\n# >>> open-nsynth: new\n[all]\nx=1\n# <<< open-nsynth\n[pi4]\nb=2\n"
        );
        assert_eq!(
            with_block(
                &new,
                "# >>> open-nsynth: new\n[all]\nx=1\n# <<< open-nsynth\n"
            ),
            Ok(None)
        );
        // A file without a final newline keeps its last line whole.
        assert_eq!(
            with_block("a=1", "# >>> open-nsynth\n# <<< open-nsynth\n"),
            Ok(Some(
                "a=1\n\n# >>> open-nsynth\n# <<< open-nsynth\n".to_owned()
            ))
        );
    }

    #[test]
    fn a_damaged_block_is_left_alone() {
        let begin_only = "a=1\n# >>> open-nsynth\ndtoverlay=x\nb=2\n";
        assert_eq!(with_block(begin_only, "").unwrap_err().0, 2);
        let end_only = "a=1\n# <<< open-nsynth\n";
        assert_eq!(with_block(end_only, "").unwrap_err().0, 2);
        let twice = "# >>> open-nsynth\n# <<< open-nsynth\n# >>> open-nsynth\n# <<< open-nsynth\n";
        assert_eq!(with_block(twice, "").unwrap_err().0, 3);

        let sd = Sd::new();
        let config = sd.boot.join("config.txt");
        write(&config, begin_only);
        let error = sd.install(&board("rpi3")).unwrap_err();
        assert!(
            matches!(error, InstallError::Block { line: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("config.txt, line 2"), "{error}");
        assert_eq!(read(&config), begin_only);
    }

    #[test]
    fn only_serial_consoles_leave_the_command_line() {
        assert_eq!(
            without_serial_console("console=serial0,115200 console=tty1 root=/dev/x rootwait\n"),
            Some("console=tty1 root=/dev/x rootwait\n".to_owned())
        );
        assert_eq!(
            without_serial_console(
                "dwc_otg.lpm_enable=0 console=ttyAMA0,115200 kgdboc=ttyAMA0,115200 \
                 console=ttyS0,115200 console=tty root=/dev/x"
            ),
            Some("dwc_otg.lpm_enable=0 kgdboc=ttyAMA0,115200 console=tty root=/dev/x".to_owned())
        );
        assert_eq!(without_serial_console("console=tty1 root=/dev/x\n"), None);
        assert_eq!(without_serial_console("root=/dev/x quiet\n"), None);
    }

    #[test]
    fn i2c_dev_is_added_once() {
        assert_eq!(with_module("", "i2c-dev"), Some("i2c-dev\n".to_owned()));
        assert_eq!(
            with_module("snd-dummy", "i2c-dev"),
            Some("snd-dummy\ni2c-dev\n".to_owned())
        );
        assert_eq!(
            with_module("# i2c-dev\n", "i2c-dev"),
            Some("# i2c-dev\ni2c-dev\n".to_owned())
        );
        assert_eq!(with_module("  i2c-dev  # bus\n", "i2c-dev"), None);
        assert_eq!(
            with_module("i2c-dev-extra\n", "i2c-dev").as_deref(),
            Some("i2c-dev-extra\ni2c-dev\n")
        );
    }
}
