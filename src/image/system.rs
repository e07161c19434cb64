//! What Raspberry Pi Imager's settings (or a first boot's questions) would otherwise set, written
//! into the staged root: the host name, SSH with a key (host keys kept on the data partition, as
//! the root is read-only), Wi-Fi through NetworkManager with its country, and the first-boot
//! user wizard switched off (installing adds the service's user). Each value is checked before
//! anything is written. It never touches the instrument's own files.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::stage::Stage;
use super::ImageError;
use crate::disk::io_error;
use crate::install::read_only::DATA_DIR;

/// The Wi-Fi network to join.
#[derive(Debug, Clone, Copy)]
pub struct Wifi<'a> {
    pub country: &'a str,
    pub ssid: &'a str,
    pub psk: &'a str,
}

/// The system settings of an image.
#[derive(Debug, Clone, Copy, Default)]
pub struct System<'a> {
    pub hostname: Option<&'a str>,
    pub ssh_key: Option<&'a Path>,
    pub wifi: Option<Wifi<'a>>,
}

fn bad(what: &str, problem: impl Into<String>) -> ImageError {
    ImageError::Option {
        option: what.to_owned(),
        problem: problem.into(),
    }
}

/// Checks every value; returns the SSH keys read.
pub(super) fn check(system: &System) -> Result<Option<String>, ImageError> {
    if let Some(name) = system.hostname {
        let fine = (1..=63).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !fine {
            return Err(bad(
                "--hostname",
                format!(
                    "`{name}` is not a host name (1–63 lower-case letters, digits and inner `-`)"
                ),
            ));
        }
    }
    if let Some(wifi) = system.wifi {
        if !(wifi.country.len() == 2 && wifi.country.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(bad(
                "--wifi-country",
                format!(
                    "`{}` is not a two-letter country code like GB or US",
                    wifi.country
                ),
            ));
        }
        let plain = |text: &str| {
            text.chars()
                .all(|c| !c.is_control() && c != ';' && c != '\\')
                && text.trim() == text
        };
        if !(1..=32).contains(&wifi.ssid.len()) || !plain(wifi.ssid) {
            return Err(bad(
                "--wifi-ssid",
                "a network name is 1–32 bytes, without control characters, `;`, `\\` or \
                 spaces at either end",
            ));
        }
        if !(8..=63).contains(&wifi.psk.len())
            || !wifi.psk.bytes().all(|b| (b' '..=b'~').contains(&b))
            || !plain(wifi.psk)
        {
            return Err(bad(
                "--wifi-psk",
                "a WPA passphrase is 8–63 printable ASCII characters",
            ));
        }
    }
    let Some(path) = system.ssh_key else {
        return Ok(None);
    };
    let keys = fs::read_to_string(path).map_err(|cause| ImageError::Io {
        action: "read",
        path: path.to_path_buf(),
        cause,
    })?;
    let lines: Vec<&str> = keys
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let public = |line: &&str| {
        ["ssh-", "ecdsa-", "sk-"]
            .iter()
            .any(|prefix| line.starts_with(prefix))
    };
    if lines.is_empty() || !lines.iter().all(public) {
        return Err(bad(
            "--ssh-key",
            format!(
                "{} is not a public key file (lines like `ssh-ed25519 AAAA… name`, as in \
                 ~/.ssh/id_ed25519.pub)",
                path.display()
            ),
        ));
    }
    Ok(Some(lines.join("\n") + "\n"))
}

/// Writes the settings into the staged root (and kernel command line); returns what it wrote.
pub(super) fn put(
    stage: &Stage,
    system: &System,
    keys: Option<&str>,
    user: &str,
) -> Result<Vec<PathBuf>, ImageError> {
    let mut written = Written(Vec::new());
    // The user is made by installing; Raspberry Pi OS's wizard would ask for another.
    written.link(stage, "/etc/systemd/system/userconfig.service", "/dev/null")?;
    if let Some(name) = system.hostname {
        written.file(stage, "/etc/hostname", &format!("{name}\n"), 0o644)?;
        let hosts = fs::read_to_string(stage.here("/etc/hosts")).unwrap_or_default();
        let mut lines: Vec<String> = hosts
            .lines()
            .filter(|line| !line.starts_with("127.0.1.1"))
            .map(str::to_owned)
            .collect();
        lines.push(format!("127.0.1.1\t{name}"));
        written.file(stage, "/etc/hosts", &(lines.join("\n") + "\n"), 0o644)?;
    }
    if let Some(keys) = keys {
        let ssh = format!("/home/{user}/.ssh");
        written.folder(stage, &ssh, 0o700)?;
        written.file(stage, &format!("{ssh}/authorized_keys"), keys, 0o600)?;
        written.link(
            stage,
            "/etc/systemd/system/multi-user.target.wants/ssh.service",
            "/lib/systemd/system/ssh.service",
        )?;
        let keys_dir = format!("{DATA_DIR}/ssh");
        written.file(
            stage,
            "/etc/ssh/sshd_config.d/open-nsynth.conf",
            &format!(
                "# Written by open-nsynth image: the root is read-only, so the host key lives on \
                 the data partition.\nHostKey {keys_dir}/ssh_host_ed25519_key\n"
            ),
            0o644,
        )?;
        written.file(
            stage,
            "/etc/systemd/system/ssh.service.d/open-nsynth.conf",
            &format!(
                "# Written by open-nsynth image: the host key is made once, on the data \
                 partition.\n[Unit]\nRequiresMountsFor={DATA_DIR}\n\n[Service]\n\
                 ExecStartPre=/bin/sh -c 'test -s {keys_dir}/ssh_host_ed25519_key || \
                 {{ mkdir -p -m 700 {keys_dir} && ssh-keygen -q -t ed25519 -N \"\" -f \
                 {keys_dir}/ssh_host_ed25519_key; }}'\n"
            ),
            0o644,
        )?;
    }
    if let Some(wifi) = system.wifi {
        written.file(
            stage,
            "/etc/NetworkManager/system-connections/open-nsynth-wifi.nmconnection",
            &format!(
                "# Written by open-nsynth image.\n[connection]\nid=open-nsynth-wifi\n\
                 uuid=6e73796e-7468-4000-8000-000000000001\ntype=wifi\nautoconnect=true\n\n\
                 [wifi]\nmode=infrastructure\nssid={}\n\n[wifi-security]\nkey-mgmt=wpa-psk\n\
                 psk={}\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n",
                wifi.ssid, wifi.psk
            ),
            0o600,
        )?;
        written.file(
            stage,
            "/etc/systemd/system/open-nsynth-wifi.service",
            "# Written by open-nsynth image: Raspberry Pi OS keeps Wi-Fi blocked until a \
             country is set.\n[Unit]\nDescription=Unblock Wi-Fi\nBefore=NetworkManager.service\n\n\
             [Service]\nType=oneshot\nExecStart=/usr/sbin/rfkill unblock wifi\n\n[Install]\n\
             WantedBy=multi-user.target\n",
            0o644,
        )?;
        written.link(
            stage,
            "/etc/systemd/system/multi-user.target.wants/open-nsynth-wifi.service",
            "/etc/systemd/system/open-nsynth-wifi.service",
        )?;
        let cmdline = stage.boot.join("cmdline.txt");
        let text = fs::read_to_string(&cmdline).map_err(io_error("read", &cmdline))?;
        let mut words: Vec<String> = text
            .split_whitespace()
            .filter(|word| !word.starts_with("cfg80211.ieee80211_regdom="))
            .map(str::to_owned)
            .collect();
        words.push(format!("cfg80211.ieee80211_regdom={}", wifi.country));
        fs::write(&cmdline, words.join(" ") + "\n").map_err(io_error("write", &cmdline))?;
        written.0.push(cmdline);
    }
    Ok(written.0)
}

/// The staged paths written so far.
struct Written(Vec<PathBuf>);

impl Written {
    fn file(&mut self, stage: &Stage, path: &str, text: &str, mode: u32) -> Result<(), ImageError> {
        let here = self.parent(stage, path)?;
        fs::write(&here, text).map_err(io_error("write", &here))?;
        fs::set_permissions(&here, fs::Permissions::from_mode(mode))
            .map_err(io_error("write", &here))?;
        self.0.push(here);
        Ok(())
    }

    fn folder(&mut self, stage: &Stage, path: &str, mode: u32) -> Result<(), ImageError> {
        let here = self.parent(stage, path)?;
        fs::create_dir_all(&here).map_err(io_error("create", &here))?;
        fs::set_permissions(&here, fs::Permissions::from_mode(mode))
            .map_err(io_error("write", &here))?;
        self.0.push(here);
        Ok(())
    }

    fn link(&mut self, stage: &Stage, path: &str, target: &str) -> Result<(), ImageError> {
        let here = self.parent(stage, path)?;
        let _ = fs::remove_file(&here);
        symlink(target, &here).map_err(io_error("link", &here))?;
        self.0.push(here);
        Ok(())
    }

    /// Where `path` is staged, with the folder above it made.
    fn parent(&self, stage: &Stage, path: &str) -> Result<PathBuf, ImageError> {
        let here = stage.here(path);
        if let Some(folder) = here.parent() {
            fs::create_dir_all(folder).map_err(io_error("create", folder))?;
        }
        Ok(here)
    }
}
