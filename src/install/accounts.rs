//! Users and groups: whether the service's user name is a Linux one, whether the card's system
//! has that user yet, and which of the device groups (sound card, serial port, GPIO, I2C) it has
//! for the service. What is missing becomes a note, since Raspberry Pi Imager creates the user at
//! first boot, except in the read-only layout, where nothing written at first boot would last:
//! there the user is added, with a locked password, if the card has none of that name.

use std::fs;
use std::io::ErrorKind;

use super::card::Card;
use super::error::{io_error, InstallError};
use crate::atomic::Mode;
use crate::disk::ext4::Owner;

/// Groups owning the devices the service opens (sound card, serial port, GPIO, I2C); each one
/// the card's system has is given to the service.
const DEVICE_GROUPS: [&str; 4] = ["audio", "dialout", "gpio", "i2c"];

pub(super) fn check_user_name(user: &str) -> Result<(), InstallError> {
    let mut chars = user.chars();
    let plain = chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && user.len() <= 32;
    if plain {
        Ok(())
    } else {
        Err(InstallError::UserName {
            user: user.to_owned(),
        })
    }
}

/// The device groups the card's system has; the missing ones become a note.
pub(super) fn device_groups(card: &mut Card) -> Vec<&'static str> {
    let group_file = fs::read_to_string(card.path("/etc/group")).unwrap_or_default();
    let (present, missing): (Vec<_>, Vec<_>) = DEVICE_GROUPS
        .into_iter()
        .partition(|group| has_entry(&group_file, group));
    if !missing.is_empty() {
        card.note(format!(
            "the card has no group {}: the service may not reach those devices",
            missing.join(", ")
        ));
    }
    present
}

/// Notes when the card has no account `user` yet.
pub(super) fn check_user(card: &mut Card, user: &str) {
    let passwd = fs::read_to_string(card.path("/etc/passwd")).unwrap_or_default();
    if !has_entry(&passwd, user) {
        card.note(format!(
            "user `{user}` does not exist on the card yet: the service needs it (Raspberry Pi \
             Imager's settings create it at first boot), or install again with --user NAME"
        ));
    }
}

/// Adds the account `user` (its own group, a locked password, a home folder) unless the card has
/// it. Returns its owner ids either way.
pub(super) fn add_user(card: &mut Card, user: &str, days: u64) -> Result<Owner, InstallError> {
    let read = |card: &Card, file: &str| match fs::read_to_string(card.path(file)) {
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(String::new()),
        other => other.map_err(io_error("read", &card.path(file))),
    };
    let passwd = read(card, "/etc/passwd")?;
    if let Some(owner) = owner_of(&passwd, user) {
        return Ok(owner);
    }
    let group = read(card, "/etc/group")?;
    let id = (1000..60000)
        .find(|id| !has_id(&passwd, *id) && !has_id(&group, *id))
        .expect("a card has fewer than 59000 accounts");
    let home = format!("/home/{user}");
    let add = |text: &str, line: String| {
        let mut text = text.to_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text + &line + "\n"
    };
    let files = [
        (
            "/etc/passwd",
            format!("{user}:x:{id}:{id}::{home}:/bin/bash"),
            0o644,
        ),
        ("/etc/group", format!("{user}:x:{id}:"), 0o644),
        (
            "/etc/shadow",
            format!("{user}:!:{days}:0:99999:7:::"),
            0o640,
        ),
        ("/etc/gshadow", format!("{user}:!::"), 0o640),
    ];
    for (file, line, mode) in files {
        let text = add(&read(card, file)?, line);
        card.put(&card.path(file), text.as_bytes(), Mode::Exact(mode))?;
    }
    let home = card.path(&home);
    card.folder(&home)?;
    match std::os::unix::fs::chown(&home, Some(id), Some(id)) {
        Err(error) if error.kind() != ErrorKind::PermissionDenied => {
            return Err(io_error("hand over", &home)(error))
        }
        _ => {}
    }
    Ok(Owner { uid: id, gid: id })
}

/// The user and group ids of `user` in a passwd file.
pub fn owner_of(passwd: &str, user: &str) -> Option<Owner> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, uid, gid, ..] if *name == user => Some(Owner {
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
            }),
            _ => None,
        }
    })
}

/// Whether an account file gives some entry the id `id` (third field).
fn has_id(file: &str, id: u32) -> bool {
    file.lines()
        .any(|line| line.split(':').nth(2).and_then(|field| field.parse().ok()) == Some(id))
}

/// Whether a colon-separated account file (`/etc/passwd`, `/etc/group`) has `name`.
fn has_entry(file: &str, name: &str) -> bool {
    file.lines()
        .any(|line| line.split(':').next() == Some(name))
}
