//! Users and groups: whether the service's user name is a Linux one, whether the card's system
//! has that user yet, and which of the device groups (sound card, serial port, GPIO, I2C) it has
//! for the service. What is missing becomes a note, since Raspberry Pi Imager creates the user at
//! first boot. It never adds a user or group to the card.

use std::fs;

use super::card::Card;
use super::error::InstallError;

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

/// Whether a colon-separated account file (`/etc/passwd`, `/etc/group`) has `name`.
fn has_entry(file: &str, name: &str) -> bool {
    file.lines()
        .any(|line| line.split(':').next() == Some(name))
}
