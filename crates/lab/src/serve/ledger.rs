//! `serve`'s memory of recent connections that were tagged with an id (the
//! `X-Wsdoctor-Conn-Id` header or `conn-id=` parameter), so a client can ask
//! afterwards, over plain HTTP (`GET /v1/connections/ID`), how the server
//! saw the same connection end. `wsdoctor idle` does that to say which side
//! of a proxy closed.
//!
//! Bounded: at most [`LEDGER_CAPACITY`] entries (the oldest is forgotten
//! first), ids of at most 64 safe characters (checked before they get
//! here), and a fixed-size view per entry (no frame log).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use wsdoctor_evidence::idle::ServerView;

/// How many tagged connections are remembered.
pub(crate) const LEDGER_CAPACITY: usize = 4096;

/// The last [`LEDGER_CAPACITY`] tagged connections, open or finished.
#[derive(Debug)]
pub(crate) struct Ledger {
    inner: Mutex<Entries>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<String, ServerView>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<String>,
}

impl Ledger {
    pub(crate) fn new(capacity: usize) -> Ledger {
        Ledger {
            inner: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
        }
    }

    /// Files or updates the view of `view.id`. An id seen again (a client
    /// reusing it) replaces the older view and counts as new.
    pub(crate) fn record(&self, view: ServerView) {
        // A poisoned lock only means another connection task panicked
        // mid-update; the map itself is still usable.
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = view.id.clone();
        if entries.by_id.insert(id.clone(), view).is_some() {
            entries.order.retain(|known| *known != id);
        }
        entries.order.push_back(id);
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_id.remove(&oldest);
            }
        }
    }

    /// The view filed under `id`, if it is still remembered.
    pub(crate) fn get(&self, id: &str) -> Option<ServerView> {
        let entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.by_id.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, frames: u64) -> ServerView {
        ServerView {
            id: id.to_owned(),
            instance: "serve".to_owned(),
            end: None,
            frames_received: frames,
            frames_sent: 0,
            last_received_us: None,
            last_sent_us: None,
        }
    }

    #[test]
    fn keeps_the_newest_within_capacity() {
        let ledger = Ledger::new(3);
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            ledger.record(view(id, i as u64));
        }
        assert!(ledger.get("a").is_none(), "the oldest is forgotten");
        assert_eq!(ledger.get("d").map(|v| v.frames_received), Some(3));
        // Updating an entry (the end of a connection filed at its start)
        // keeps one entry per id and makes it the newest.
        ledger.record(view("b", 10));
        ledger.record(view("e", 4));
        assert_eq!(ledger.get("b").map(|v| v.frames_received), Some(10));
        assert!(ledger.get("c").is_none());
        let entries = ledger.inner.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(entries.by_id.len(), 3);
        assert_eq!(entries.order.len(), 3);
    }
}
