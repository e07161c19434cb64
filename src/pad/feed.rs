//! How pad requests reach the engine: through the loader thread when the audio callback owns the
//! engine, or loaded on the spot when a simulation or a song renders offline, so that offline
//! renders are the same every time.

use std::sync::Arc;

use super::{LoadEvent, Loader, PadError, PadStreamer, Target};
use crate::engine::BankLink;

pub enum PadFeed {
    Streaming(PadStreamer),
    Direct { loader: Box<Loader>, link: BankLink },
}

impl PadFeed {
    /// Asks for `target`. Offline, it is resident (with the points sounding voices use) before
    /// this returns.
    pub fn request(&mut self, target: Target) -> Result<(), PadError> {
        match self {
            PadFeed::Streaming(streamer) => {
                streamer.request(target);
                Ok(())
            }
            PadFeed::Direct { loader, link } => {
                let switching = loader.pad() != Some(target.pad.as_str());
                let prepared = loader.prepare(&target);
                let first = match &prepared {
                    Ok(bank) => Arc::clone(bank),
                    Err(_) => loader.bank(),
                };
                let _ = link.banks.push(first);
                prepared?;
                if switching {
                    for point in link.status.points_in_use() {
                        loader.load_point(point)?;
                    }
                    let _ = link.banks.push(loader.bank());
                }
                while let Ok(retired) = link.retired.pop() {
                    drop(retired);
                }
                Ok(())
            }
        }
    }

    /// Load reports since the last call (the streaming loader's; offline errors come from
    /// `request`).
    pub fn events(&self) -> Vec<LoadEvent> {
        match self {
            PadFeed::Streaming(streamer) => streamer.events().collect(),
            PadFeed::Direct { .. } => Vec::new(),
        }
    }
}
