//! Dealing a deterministic list of work into shards, and the one parser of the `--shard K/N`
//! syntax: item `i` of the list belongs to shard `i mod N`, the rule of the original pipeline's
//! `gpus` batch folders. Machines that share a work folder each take one shard and never touch
//! another's items. This module decides which items a shard owns; it never does the work.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count`: the items `i` with `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// What a `--shard` argument says: `K` (the count comes from elsewhere, e.g. the pipeline
/// settings' `gpus`) or `K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    /// `K`: shard `K` of a count given elsewhere.
    Index(usize),
    /// `K/N`: a whole shard.
    Of(Shard),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error(
        "`{text}` is not a shard: write K/N for shard K of N, counting from 0 (e.g. 0/4 … 3/4)"
    )]
    Syntax { text: String },
    #[error("shard {index}/0: there must be at least one shard")]
    NoShards { index: usize },
    #[error("there is no shard {index} of {count}: they are numbered 0 to {}", count - 1)]
    OutOfRange { index: usize, count: usize },
    #[error("shard {index} needs the number of shards too: write {index}/N")]
    NoCount { index: usize },
}

impl Shard {
    /// Shard `index` of `count`, if `count ≥ 1` and `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards { index });
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// Its number, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many shards there are.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether item `item` of the list is this shard's.
    pub fn owns(&self, item: usize) -> bool {
        item % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax {
            text: text.to_string(),
        };
        let number = |part: &str| -> Result<usize, ShardError> {
            // `usize::from_str` takes a leading `+`, which is no way to write a shard.
            if !is_whole(part) {
                return Err(syntax());
            }
            part.parse().map_err(|_| syntax())
        };
        match text.trim().split_once('/') {
            None => Ok(Self::Index(number(text.trim())?)),
            Some((index, count)) => Ok(Self::Of(Shard::new(number(index)?, number(count)?)?)),
        }
    }
}

/// `K/N` only: for work with no other source of the count.
impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        match text.parse::<ShardSpec>()? {
            ShardSpec::Of(shard) => Ok(shard),
            ShardSpec::Index(index) => Err(ShardError::NoCount { index }),
        }
    }
}

/// Whether `text` is a whole number written with digits only (`str::parse` would also take a
/// leading `+`).
pub(crate) fn is_whole(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        assert_eq!("3".parse(), Ok(ShardSpec::Index(3)));
        assert_eq!(
            " 1/4 ".parse(),
            Ok(ShardSpec::Of(Shard { index: 1, count: 4 }))
        );
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
    }

    #[test]
    fn bad_shards_say_what_is_wrong() {
        let message = |text: &str| text.parse::<Shard>().unwrap_err().to_string();
        assert_eq!(
            message("4/4"),
            "there is no shard 4 of 4: they are numbered 0 to 3"
        );
        assert_eq!(
            message("0/0"),
            "shard 0/0: there must be at least one shard"
        );
        assert_eq!(
            message("2"),
            "shard 2 needs the number of shards too: write 2/N"
        );
        for text in [
            "", "a", "1/", "/2", "-1/2", "+1/2", "1/2/3", "1.0/2", "1 /2",
        ] {
            assert!(
                message(text).contains("is not a shard: write K/N"),
                "{text}: {}",
                message(text)
            );
        }
    }

    #[test]
    fn every_item_has_exactly_one_shard() {
        let shards: Vec<Shard> = (0..3).map(|k| Shard::new(k, 3).unwrap()).collect();
        for item in 0..10 {
            let owners: Vec<usize> = shards
                .iter()
                .filter(|s| s.owns(item))
                .map(|s| s.index())
                .collect();
            assert_eq!(owners, [item % 3]);
        }
    }
}
