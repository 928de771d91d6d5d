//! Bounded pipeline concurrency with per-ecosystem fairness.
//!
//! At most `total` requests fetch, scan or publish at once. Each ecosystem may hold at most
//! `total - reserved` of those slots, so a flood of a thousand PyPI requests always leaves room
//! for an npm request to start (and the other way round). Both semaphores are FIFO, so within an
//! ecosystem requests run in the order they arrived.

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::api::package_request::Ecosystem;

pub struct Slots {
    total: Semaphore,
    pypi: Semaphore,
    npm: Semaphore,
    pub limit: usize,
    pub per_ecosystem: usize,
}

/// A running request's slot; dropping it frees it.
pub struct Slot<'a> {
    _ecosystem: SemaphorePermit<'a>,
    _total: SemaphorePermit<'a>,
}

impl Slots {
    pub fn new(total: usize) -> Slots {
        let total = total.max(1);
        // A quarter (at least one slot) is kept for the other ecosystem when there is room to.
        let per_ecosystem = if total >= 2 {
            total - (total / 4).max(1)
        } else {
            1
        };
        Slots {
            total: Semaphore::new(total),
            pypi: Semaphore::new(per_ecosystem),
            npm: Semaphore::new(per_ecosystem),
            limit: total,
            per_ecosystem,
        }
    }

    pub async fn acquire(&self, ecosystem: Ecosystem) -> Slot<'_> {
        let own = match ecosystem {
            Ecosystem::Pypi => &self.pypi,
            Ecosystem::Npm => &self.npm,
        };
        // The semaphores are never closed, so acquire cannot fail; if it ever did, running
        // without the limit is better than wedging the controller.
        let ecosystem = own.acquire().await.unwrap_or_else(|_| unreachable_closed());
        let total = self
            .total
            .acquire()
            .await
            .unwrap_or_else(|_| unreachable_closed());
        Slot {
            _ecosystem: ecosystem,
            _total: total,
        }
    }
}

fn unreachable_closed() -> ! {
    panic!("the controller's concurrency semaphores are never closed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_flood_of_one_ecosystem_leaves_room_for_the_other() {
        let slots = Arc::new(Slots::new(4));
        assert_eq!(slots.per_ecosystem, 3);
        // Three PyPI requests hold their ecosystem's share; a fourth waits.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(slots.acquire(Ecosystem::Pypi).await);
        }
        let waiting = {
            let s = slots.clone();
            tokio::spawn(async move {
                let _slot = s.acquire(Ecosystem::Pypi).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a fourth PyPI request must wait");
        // An npm request still gets the slot kept for it, at once.
        let npm = tokio::time::timeout(Duration::from_secs(1), slots.acquire(Ecosystem::Npm)).await;
        assert!(npm.is_ok(), "npm must not be starved by PyPI");
        drop(npm);
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the waiting PyPI request runs once slots free")
            .expect("task");
    }

    #[test]
    fn one_slot_is_shared() {
        let s = Slots::new(1);
        assert_eq!((s.limit, s.per_ecosystem), (1, 1));
        let s = Slots::new(8);
        assert_eq!(s.per_ecosystem, 6);
    }
}
