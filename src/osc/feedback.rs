//! The feedback thread: sends every OSC subscriber the `/state/...` messages whose values changed
//! since the last snapshot it sent, from the OSC port. The app publishes a snapshot at most once a
//! frame; the thread keeps only the latest, so updates are coalesced to the frame rate, a slow
//! send never queues up stale states, and the publisher never waits on the network. It never
//! receives and never decides who is subscribed (the registry does, for the OSC thread).

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::server::send;
use super::subscribers::Subscribers;
use super::{Counters, StateReport, Tally};

/// How long the thread waits for a snapshot before it looks for expired subscribers anyway, so
/// that they are dropped (and logged) on time while nothing changes.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// What the publisher leaves for the thread.
#[derive(Default)]
struct Mailbox {
    /// The newest snapshot not sent yet; a newer one replaces it.
    latest: Option<StateReport>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    wake: Condvar,
}

impl Shared {
    fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running feedback thread; dropping it stops the thread.
pub(super) struct Feedback {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Feedback {
    /// Starts sending from `socket` to the `subscribers`, counting failed sends in `counters`.
    pub(super) fn spawn(
        socket: UdpSocket,
        subscribers: Arc<Mutex<Subscribers>>,
        counters: Arc<Counters>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("osc-feedback".into())
            .spawn(move || run(&socket, &thread_shared, &subscribers, &counters))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands the thread a new snapshot; one it has not taken yet is replaced.
    pub(super) fn publish(&self, report: StateReport) {
        self.shared.mailbox().latest = Some(report);
        self.shared.wake.notify_one();
    }
}

impl Drop for Feedback {
    fn drop(&mut self) {
        self.shared.mailbox().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(socket: &UdpSocket, shared: &Shared, subscribers: &Mutex<Subscribers>, counters: &Counters) {
    let mut sent: Option<StateReport> = None;
    loop {
        let latest = {
            let mut mailbox = shared.mailbox();
            if mailbox.latest.is_none() && !mailbox.stop {
                mailbox = shared
                    .wake
                    .wait_timeout(mailbox, EXPIRY_CHECK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if mailbox.stop {
                return;
            }
            mailbox.latest.take()
        };
        // Copied out so the OSC thread can register subscribers while this one sends.
        let addresses: Vec<SocketAddr> = {
            let mut subscribers = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
            subscribers.expire(Instant::now());
            subscribers.addresses().collect()
        };
        let Some(report) = latest else {
            continue;
        };
        for message in report.changes_since(sent.as_ref()) {
            for &to in &addresses {
                if let Err(error) = send(socket, &message, to) {
                    tracing::debug!("OSC {} to subscriber {to} failed: {error}", message.addr);
                    counters.add(Tally::PushError);
                }
            }
        }
        sent = Some(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Knobs;
    use crate::logging::capture;
    use crate::osc::STATE_MESSAGES;
    use rosc::{OscMessage, OscPacket};

    fn report(voices: u32) -> StateReport {
        StateReport {
            grid: [0.5, 0.5],
            knobs: Knobs::default(),
            corners: ["a", "b", "c", "d"].map(String::from),
            voices,
            ..Default::default()
        }
    }

    fn receive(socket: &UdpSocket) -> OscMessage {
        let mut buffer = [0; 1024];
        let (length, _) = socket.recv_from(&mut buffer).expect("a state message");
        match rosc::decoder::decode_udp(&buffer[..length]).unwrap().1 {
            OscPacket::Message(message) => message,
            OscPacket::Bundle(bundle) => panic!("expected a message, got {bundle:?}"),
        }
    }

    #[test]
    fn a_subscriber_that_cannot_be_sent_to_does_not_stop_the_others() {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let subscribers = Arc::new(Mutex::new(Subscribers::default()));
        capture(|| {
            let mut subscribers = subscribers.lock().unwrap();
            // Broadcast without SO_BROADCAST: every send there fails. It comes first, so each of
            // its failures is counted before the client gets the same message.
            let broadcast = SocketAddr::from(([255, 255, 255, 255], 9));
            subscribers.subscribe(broadcast, Instant::now()).unwrap();
            subscribers
                .subscribe(client.local_addr().unwrap(), Instant::now())
                .unwrap();
        });
        let counters = Arc::new(Counters::default());
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let feedback = Feedback::spawn(socket, subscribers, Arc::clone(&counters)).unwrap();

        feedback.publish(report(0));
        let first: Vec<_> = (0..STATE_MESSAGES).map(|_| receive(&client)).collect();
        assert_eq!(first, report(0).messages());
        assert_eq!(counters.snapshot().push_errors, STATE_MESSAGES as u64);

        feedback.publish(report(3));
        let [.., voices, _, _] = report(3).messages();
        assert_eq!(receive(&client), voices);
        assert_eq!(counters.snapshot().push_errors, STATE_MESSAGES as u64 + 1);
    }
}
