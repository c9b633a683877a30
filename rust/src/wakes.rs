//! How often a Durable Object was created while it held sockets, kept in
//! its storage (`GET /rooms/{room}` shows it as `wakes`).

use serde::Serialize;
use tsify::Tsify;

use crate::records::{Item, Record};

/// The wake record, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Tsify)]
pub struct Wakes {
    /// Instances counted so far: those that held a socket.
    pub count: u64,
    /// When an instance was last created while sockets were open (a wake
    /// from hibernation), ms since the epoch.
    pub last_wake_at: Option<u64>,
}

impl Wakes {
    /// The record as stored (see [`crate::records`]).
    pub fn read(record: Record<'_>) -> Option<Wakes> {
        Some(Wakes {
            count: record.u64("count")?,
            last_wake_at: record.optional("last_wake_at", Item::as_u64)?,
        })
    }

    /// The record once an instance started at `started_at` is counted; it
    /// is a wake from hibernation if it found sockets open (`woke`).
    pub fn next(previous: Wakes, started_at: u64, woke: bool) -> Wakes {
        Wakes {
            count: previous.count.saturating_add(1),
            last_wake_at: if woke {
                Some(started_at)
            } else {
                previous.last_wake_at
            },
        }
    }
}

/// An instance's wake record, and whether the instance has been counted.
///
/// An instance is counted, and its record stored, once it holds a socket:
/// at its creation if it found sockets open, else at its first join. So a
/// request that never opens a socket (stats, a refused upgrade) writes
/// nothing, and a room that never had a member has no storage at all.
#[derive(Clone, Debug, Default)]
pub struct WakeCount {
    wakes: Wakes,
    started_at: u64,
    woke: bool,
    counted: bool,
}

impl WakeCount {
    /// An instance started at `started_at` with `sockets` open, after the
    /// stored record `previous`.
    pub fn start(previous: Option<Wakes>, started_at: u64, sockets: usize) -> WakeCount {
        WakeCount {
            wakes: previous.unwrap_or_default(),
            started_at,
            woke: sockets > 0,
            counted: false,
        }
    }

    /// The same instance after its Wasm instance was replaced: `stored` is
    /// the record it stored already, if it did.
    pub fn resume(self, stored: Option<Wakes>) -> WakeCount {
        match stored {
            Some(wakes) => WakeCount {
                wakes,
                counted: true,
                ..self
            },
            None => self,
        }
    }

    /// The record as it stands: this instance's once counted, the previous
    /// one before.
    pub fn wakes(&self) -> &Wakes {
        &self.wakes
    }

    /// When this instance started, ms since the epoch.
    pub fn started_at(&self) -> u64 {
        self.started_at
    }

    /// The instance holds a socket: the record to store, the first time.
    pub fn hold(&mut self) -> Option<Wakes> {
        if self.counted {
            return None;
        }
        self.counted = true;
        self.wakes = Wakes::next(self.wakes.clone(), self.started_at, self.woke);
        Some(self.wakes.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_counted_once_it_holds_a_socket() {
        let mut fresh = WakeCount::start(None, 10, 0);
        assert_eq!(fresh.wakes(), &Wakes::default());
        let first = fresh.hold().expect("counted at the first socket");
        assert_eq!(
            first,
            Wakes {
                count: 1,
                last_wake_at: None
            }
        );
        assert_eq!(fresh.hold(), None, "counted once");
        let mut woke = WakeCount::start(Some(first.clone()), 20, 2);
        assert_eq!(
            woke.hold(),
            Some(Wakes {
                count: 2,
                last_wake_at: Some(20)
            })
        );
        let mut later = WakeCount::start(woke.wakes().clone().into(), 30, 0);
        assert_eq!(later.hold().map(|w| w.last_wake_at), Some(Some(20)));
    }

    #[test]
    fn a_resumed_instance_is_not_counted_twice() {
        let mut counted = WakeCount::start(None, 10, 1);
        let stored = counted.hold();
        let mut resumed = WakeCount::start(None, 10, 1).resume(stored.clone());
        assert_eq!(resumed.hold(), None);
        assert_eq!(Some(resumed.wakes().clone()), stored);
        let mut not_yet = WakeCount::start(None, 10, 1).resume(None);
        assert_eq!(not_yet.hold().map(|w| w.count), Some(1));
    }
}
