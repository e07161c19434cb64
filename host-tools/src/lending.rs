//! Things lent out one call at a time ([`Lending`]): a call takes an idle one, waiting while
//! all are out (or takes all of them, waiting until every one is back), and it comes back when
//! the call ends, even if the call panicked. The GPU workers and the CPU's groups of threads are
//! lent this way, so that several threads (one batch each) keep all of them busy and one that
//! finishes early takes the next batch. It never decides what runs.

use std::sync::{Condvar, Mutex, PoisonError};

/// Items lent out one call at a time.
pub struct Lending<T> {
    idle: Mutex<Vec<T>>,
    returned: Condvar,
    count: usize,
}

impl<T> Lending<T> {
    pub fn new(items: Vec<T>) -> Self {
        Self {
            count: items.len(),
            idle: Mutex::new(items),
            returned: Condvar::new(),
        }
    }

    /// Items lent, in all.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Runs `work` with an idle item, waiting for one if all are out.
    pub fn with<R>(&self, work: impl FnOnce(&mut T) -> R) -> R {
        let mut lent = self.take(|idle| idle.pop().map(|item| vec![item]));
        work(&mut lent.items[0])
    }

    /// Runs `work` with every item at once, waiting until none is out (for a measurement of
    /// all of them working side by side).
    pub fn with_all<R>(&self, work: impl FnOnce(&mut [T]) -> R) -> R {
        let count = self.count;
        let mut lent = self.take(|idle| (idle.len() == count).then(|| std::mem::take(idle)));
        work(&mut lent.items)
    }

    /// Lends what `pick` takes from the idle items, waiting until it takes something.
    fn take(&self, mut pick: impl FnMut(&mut Vec<T>) -> Option<Vec<T>>) -> Lent<'_, T> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(items) = pick(&mut idle) {
                return Lent { from: self, items };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Items out on loan; they go back when this drops.
struct Lent<'a, T> {
    from: &'a Lending<T>,
    items: Vec<T>,
}

impl<T> Drop for Lent<'_, T> {
    fn drop(&mut self) {
        let mut idle = self
            .from
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        idle.append(&mut self.items);
        // Waiters for one item and for all of them wait on the same condition.
        self.from.returned.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_is_out_once_at_a_time_and_comes_back_after_a_panic() {
        let lending = Lending::new(vec![0, 0]);
        assert_eq!(lending.count(), 2);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        lending.with(|count| *count += 1);
                    }
                });
            }
        });
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lending.with(|_| panic!("a failed call"))
        }));
        assert!(panicked.is_err());
        // Both are back: holding one, the other can still be had; together they counted all.
        let both = lending.with(|a| lending.with(|b| *a + *b));
        assert_eq!(both, 800);
    }

    #[test]
    fn all_items_are_lent_together_once_every_one_is_back() {
        let lending = Lending::new(vec![1, 2, 3]);
        let (sender, received) = std::sync::mpsc::channel();
        let shared = &lending;
        std::thread::scope(|scope| {
            shared.with(|one| {
                let sender = sender.clone();
                scope.spawn(move || shared.with_all(|all| sender.send(all.len()).unwrap()));
                // Not while one is out.
                std::thread::sleep(std::time::Duration::from_millis(50));
                assert!(received.try_recv().is_err());
                *one *= 10;
            });
        });
        assert_eq!(received.recv().unwrap(), 3);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lending.with_all(|_| panic!("a failed call"))
        }));
        assert!(panicked.is_err());
        let mut values = lending.with_all(|all| all.to_vec());
        values.sort_unstable();
        assert_eq!(values, [1, 2, 30]);
    }
}
