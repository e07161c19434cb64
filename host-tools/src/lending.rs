//! Things lent out one call at a time ([`Lending`]): a call takes an idle one, waiting while
//! all are out, and it comes back when the call ends, even if the call panicked. The GPU workers
//! and the CPU's groups of threads are lent this way, so that several threads (one batch each)
//! keep all of them busy and one that finishes early takes the next batch. It never decides
//! what runs.

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
        let item = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(item) = idle.pop() {
                    break item;
                }
                idle = self
                    .returned
                    .wait(idle)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let mut lent = Lent {
            from: self,
            item: Some(item),
        };
        work(lent.item.as_mut().expect("lent until dropped"))
    }
}

/// An item out on loan; it goes back when this drops.
struct Lent<'a, T> {
    from: &'a Lending<T>,
    item: Option<T>,
}

impl<T> Drop for Lent<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            let mut idle = self
                .from
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            idle.push(item);
            self.from.returned.notify_one();
        }
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
}
