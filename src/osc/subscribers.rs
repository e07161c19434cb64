//! [`Subscribers`]: the addresses OSC state changes are sent to, and until when. A `/subscribe`
//! adds its address or renews it, `/unsubscribe` removes it, and an address not renewed within
//! [`RENEW_WITHIN`] is dropped; there are at most [`MAX_SUBSCRIBERS`]. It logs every change of
//! membership; it never sends anything and never reads a clock: the caller says what time it is.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The most subscribers at once: every change is sent to each, so their number bounds the work.
pub const MAX_SUBSCRIBERS: usize = 8;
/// A subscriber that sends no `/subscribe` for this long is dropped, so a client that went away
/// without `/unsubscribe` does not keep its place.
pub const RENEW_WITHIN: Duration = Duration::from_secs(60);

/// Who gets the state changes, in the order they subscribed.
#[derive(Debug, Default)]
pub struct Subscribers {
    entries: Vec<Subscriber>,
}

#[derive(Debug, Clone, Copy)]
struct Subscriber {
    address: SocketAddr,
    renewed: Instant,
}

/// What an accepted `/subscribe` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    Added,
    Renewed,
}

/// A `/subscribe` refused because every place is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_SUBSCRIBERS} subscribers, the most there can be, are registered already")]
pub struct Full;

impl Subscribers {
    /// Adds `address`, or renews it if it is there; refused (and logged as a warning) when every
    /// place is taken by a subscriber that has not expired at `now`.
    pub fn subscribe(&mut self, address: SocketAddr, now: Instant) -> Result<Subscribed, Full> {
        self.expire(now);
        if let Some(known) = self.entries.iter_mut().find(|s| s.address == address) {
            known.renewed = now;
            tracing::debug!("OSC subscriber {address} renewed");
            return Ok(Subscribed::Renewed);
        }
        if self.entries.len() == MAX_SUBSCRIBERS {
            tracing::warn!("OSC subscription for {address} refused: {Full}");
            return Err(Full);
        }
        self.entries.push(Subscriber {
            address,
            renewed: now,
        });
        tracing::info!(
            "OSC subscriber {address} added ({} of {MAX_SUBSCRIBERS})",
            self.entries.len()
        );
        Ok(Subscribed::Added)
    }

    /// Removes `address`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, address: SocketAddr) -> bool {
        let before = self.entries.len();
        self.entries.retain(|s| s.address != address);
        let removed = self.entries.len() < before;
        match removed {
            true => tracing::info!("OSC subscriber {address} unsubscribed"),
            false => tracing::debug!("OSC /unsubscribe for {address}, which is not subscribed"),
        }
        removed
    }

    /// Drops (and logs) every subscriber not renewed within [`RENEW_WITHIN`] before `now`.
    pub fn expire(&mut self, now: Instant) {
        self.entries.retain(|s| {
            let alive = now.saturating_duration_since(s.renewed) <= RENEW_WITHIN;
            if !alive {
                tracing::info!(
                    "OSC subscriber {} dropped: no /subscribe for {} s",
                    s.address,
                    RENEW_WITHIN.as_secs()
                );
            }
            alive
        });
    }

    /// The subscribers' addresses, in the order they subscribed.
    pub fn addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.entries.iter().map(|s| s.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::capture;

    fn client(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 168, 1, 20], port))
    }

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    fn addresses(subscribers: &Subscribers) -> Vec<SocketAddr> {
        subscribers.addresses().collect()
    }

    #[test]
    fn subscribing_adds_once_and_again_renews() {
        let start = Instant::now();
        let mut subscribers = Subscribers::default();
        let (results, lines) = capture(|| {
            [
                subscribers.subscribe(client(9000), start),
                subscribers.subscribe(client(9001), start),
                subscribers.subscribe(client(9000), at(start, 30)),
            ]
        });
        use Subscribed::{Added, Renewed};
        assert_eq!(results, [Ok(Added), Ok(Added), Ok(Renewed)]);
        assert_eq!(addresses(&subscribers), [client(9000), client(9001)]);
        assert_eq!(
            lines,
            [
                "INFO OSC subscriber 192.168.1.20:9000 added (1 of 8)",
                "INFO OSC subscriber 192.168.1.20:9001 added (2 of 8)",
                "DEBUG OSC subscriber 192.168.1.20:9000 renewed",
            ]
        );
    }

    #[test]
    fn subscribers_not_renewed_within_a_minute_are_dropped() {
        let start = Instant::now();
        let mut subscribers = Subscribers::default();
        capture(|| {
            subscribers.subscribe(client(9000), start).unwrap();
            subscribers.subscribe(client(9001), start).unwrap();
            subscribers.subscribe(client(9000), at(start, 50)).unwrap();
        });
        let ((), lines) = capture(|| subscribers.expire(at(start, 60)));
        assert!(lines.is_empty(), "a full minute is still within: {lines:?}");
        let ((), lines) = capture(|| subscribers.expire(at(start, 61)));
        assert_eq!(
            lines,
            ["INFO OSC subscriber 192.168.1.20:9001 dropped: no /subscribe for 60 s"]
        );
        assert_eq!(addresses(&subscribers), [client(9000)]);
        capture(|| subscribers.expire(at(start, 111)));
        assert_eq!(addresses(&subscribers), []);
    }

    #[test]
    fn a_ninth_subscriber_is_refused_until_a_place_frees() {
        let start = Instant::now();
        let mut subscribers = Subscribers::default();
        capture(|| {
            for port in 0..8 {
                subscribers.subscribe(client(9000 + port), start).unwrap();
            }
        });
        let (refused, lines) = capture(|| subscribers.subscribe(client(9100), at(start, 1)));
        assert_eq!(refused, Err(Full));
        assert_eq!(
            lines,
            [
                "WARN OSC subscription for 192.168.1.20:9100 refused: 8 subscribers, the most \
                 there can be, are registered already"
            ]
        );
        // Those already there still renew.
        let renewed = capture(|| subscribers.subscribe(client(9007), at(start, 2))).0;
        assert_eq!(renewed, Ok(Subscribed::Renewed));
        // Once the others expire, there is room again.
        let added = capture(|| subscribers.subscribe(client(9100), at(start, 61))).0;
        assert_eq!(added, Ok(Subscribed::Added));
        assert_eq!(addresses(&subscribers), [client(9007), client(9100)]);
    }

    #[test]
    fn unsubscribing_removes_only_that_address() {
        let start = Instant::now();
        let mut subscribers = Subscribers::default();
        capture(|| {
            subscribers.subscribe(client(9000), start).unwrap();
            subscribers.subscribe(client(9001), start).unwrap();
        });
        let (removed, lines) = capture(|| subscribers.unsubscribe(client(9000)));
        assert!(removed);
        assert_eq!(
            lines,
            ["INFO OSC subscriber 192.168.1.20:9000 unsubscribed"]
        );
        assert!(!capture(|| subscribers.unsubscribe(client(9000))).0);
        assert_eq!(addresses(&subscribers), [client(9001)]);
    }
}
