//! The loader thread: takes pad and position requests, makes their rows resident, hands the
//! engine banks through its ring, and drops the banks the engine retires. Slow reads happen here,
//! never on the audio thread; a newer request pre-empts the background prefetch.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Bank, Loader, PadError, Target};
use crate::engine::BankLink;

/// How often the thread wakes with nothing requested, to drop retired banks and retry a send.
const IDLE_WAKE: Duration = Duration::from_millis(20);

/// What the loader reports back, for the log and the screen.
#[derive(Debug)]
pub enum LoadEvent {
    /// The pad plays now, at the requested position.
    Loaded { pad: String },
    /// The pad could not be used; nothing plays until another one loads.
    Failed { pad: String, error: PadError },
}

/// Handle of the loader thread; dropping it stops the thread.
pub struct PadStreamer {
    requests: Option<Sender<Target>>,
    events: Receiver<LoadEvent>,
    thread: Option<JoinHandle<()>>,
}

impl PadStreamer {
    pub fn spawn(loader: Loader, link: BankLink) -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::channel();
        let (outbox, events) = mpsc::channel();
        let worker = Worker {
            loader,
            link,
            inbox,
            outbox,
            waiting: None,
            unsent: None,
        };
        let thread = std::thread::Builder::new()
            .name("pad-loader".into())
            .spawn(move || worker.run())?;
        Ok(Self {
            requests: Some(requests),
            events,
            thread: Some(thread),
        })
    }

    /// Asks for a pad and position; only the latest of several quick requests is served.
    pub fn request(&self, target: Target) {
        if let Some(requests) = &self.requests {
            let _ = requests.send(target);
        }
    }

    /// Reports since the last call.
    pub fn events(&self) -> impl Iterator<Item = LoadEvent> + '_ {
        self.events.try_iter()
    }

    /// Waits up to `timeout` for the next report.
    pub fn wait_event(&self, timeout: Duration) -> Option<LoadEvent> {
        self.events.recv_timeout(timeout).ok()
    }
}

impl Drop for PadStreamer {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    loader: Loader,
    link: BankLink,
    inbox: Receiver<Target>,
    outbox: Sender<LoadEvent>,
    /// A request that arrived while prefetching.
    waiting: Option<Target>,
    /// The newest bank the engine's ring had no room for.
    unsent: Option<Arc<Bank>>,
}

impl Worker {
    fn run(mut self) {
        loop {
            self.drop_retired();
            self.send_unsent();
            let next = match self.waiting.take() {
                Some(target) => target,
                None => match self.inbox.recv_timeout(IDLE_WAKE) {
                    Ok(target) => target,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
            };
            let latest = self.inbox.try_iter().last().unwrap_or(next);
            self.serve(latest);
        }
    }

    fn serve(&mut self, target: Target) {
        let switching = self.loader.pad() != Some(target.pad.as_str());
        match self.loader.prepare(&target) {
            Ok(bank) => {
                self.send(bank);
                let _ = self.outbox.send(LoadEvent::Loaded { pad: target.pad });
            }
            Err(error) => {
                self.send(self.loader.bank());
                let _ = self.outbox.send(LoadEvent::Failed {
                    pad: target.pad,
                    error,
                });
                return;
            }
        }
        // Sounding voices move to a new pad only where their points are resident in it.
        let in_use = self.link.status.points_in_use();
        if switching && !in_use.is_empty() {
            if !self.load_unless_preempted(&in_use) {
                return;
            }
            self.send(self.loader.bank());
        }
        let around = self.loader.neighbours();
        self.load_unless_preempted(&around);
        let mut keep = in_use;
        keep.extend(around);
        self.loader.evict(&keep);
    }

    /// Loads `points` one by one, stopping early (false) when a new request arrives.
    fn load_unless_preempted(&mut self, points: &[usize]) -> bool {
        for &point in points {
            match self.inbox.try_recv() {
                Ok(target) => {
                    self.waiting = Some(target);
                    return false;
                }
                Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => {}
            }
            if self.loader.load_point(point).is_err() {
                return false;
            }
        }
        true
    }

    fn send(&mut self, bank: Arc<Bank>) {
        self.unsent = Some(bank);
        self.send_unsent();
    }

    fn send_unsent(&mut self) {
        if let Some(bank) = self.unsent.take() {
            if let Err(rtrb::PushError::Full(bank)) = self.link.banks.push(bank) {
                self.unsent = Some(bank);
            }
        }
    }

    fn drop_retired(&mut self) {
        while let Ok(bank) = self.link.retired.pop() {
            drop(bank);
        }
    }
}
