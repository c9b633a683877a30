//! When a member's attachment is stored again. Storing it
//! (`serializeAttachment`) is what makes a member's state survive an
//! eviction, and it costs every frame that does it; so a frame stores it
//! only when what the stored copy holds would tell a woken object
//! something wrong:
//!
//! - its name, or the time of its last `typing` relay, changed (the
//!   caller knows: [`crate::room::Room::on_frame`]);
//! - its rate limit bucket is not at rest, now or as stored
//!   ([`Bucket::at_rest`]): a client that has spent more than one token,
//!   has been dropped or has strikes must find them all after an eviction.
//!   A bucket at rest as stored and now differs by at most one token
//!   either way, whenever the eviction comes: an eviction gives a client
//!   at most one frame more, or one less, than its burst;
//! - the idle timeout's record of its last frame (the bucket's refill
//!   time) moved by its granularity ([`Liveness::records`]): the rules
//!   stand a stored frame for its whole granularity, so the member is
//!   never reaped early.
//!
//! The room learns what is stored from its own `Attach` effects: a member
//! just joined or restored after a wake is not known yet, and its first
//! frame stores its attachment once.
//!
//! A member that chats within its rate therefore stores its attachment
//! about once per granularity (15 s at the default idle timeout), not once
//! per frame.

use crate::limit::Bucket;
use crate::liveness::Liveness;
use crate::socket::Attachment;

/// What a member's stored attachment holds of what its frames change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Its bucket's refill time: the record of its last frame.
    frame_at: u64,
    /// Whether its bucket was at rest.
    at_rest: bool,
}

impl Stored {
    /// The record of `member` as it is stored now, under a burst of `burst`.
    pub fn of(member: &Attachment, burst: u32) -> Stored {
        Stored {
            frame_at: member.bucket.updated_at,
            at_rest: member.bucket.at_rest(burst),
        }
    }

    /// Whether `member`, as a frame at `now` left it (its name and
    /// `typing_at` unchanged), must be stored over this record, under a
    /// burst of `burst` and the idle timeout's `rules` (`None`: off).
    pub fn lags(&self, member: &Attachment, burst: u32, rules: Option<Liveness>, now: u64) -> bool {
        !(self.at_rest && Bucket::at_rest(&member.bucket, burst))
            || rules.is_some_and(|rules| rules.records(Some(self.frame_at), now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::{Rate, Verdict};

    fn member(bucket: Bucket) -> Attachment {
        Attachment {
            id: "abcdefgh".into(),
            name: "Ada".into(),
            joined_at: 0,
            sub: None,
            bucket,
            exp: None,
            typing_at: None,
        }
    }

    #[test]
    fn a_member_within_its_rate_stores_once_per_granularity() {
        let rules = Liveness::new(120);
        let rate = Rate::per_second(20);
        let mut ada = member(Bucket::full(40, 0));
        assert_eq!(ada.bucket.take(0, rate, 40), Verdict::Allow);
        let stored = Stored::of(&ada, 40);
        // A frame a second, each from a full bucket: nothing to store…
        for now in (1_000..15_000).step_by(1_000) {
            assert_eq!(ada.bucket.take(now, rate, 40), Verdict::Allow);
            assert!(!stored.lags(&ada, 40, rules, now), "{now}");
        }
        // …until the record moved by the granularity (15 s at 120 s)…
        assert_eq!(ada.bucket.take(15_000, rate, 40), Verdict::Allow);
        assert!(stored.lags(&ada, 40, rules, 15_000));
        // …and never with reaping off.
        assert!(!stored.lags(&ada, 40, None, 15_000));
    }

    #[test]
    fn a_bucket_not_at_rest_is_stored_now_and_once_more_at_rest() {
        let rate = Rate::per_second(1);
        let mut ada = member(Bucket::full(3, 0));
        ada.bucket.take(0, rate, 3);
        let rested = Stored::of(&ada, 3);
        // Two tokens spent: stored.
        ada.bucket.take(0, rate, 3);
        assert!(rested.lags(&ada, 3, None, 0));
        let spent = Stored::of(&ada, 3);
        // Back at rest, the stored copy is not yet.
        ada.bucket.take(10_000, rate, 3);
        assert!(ada.bucket.at_rest(3));
        assert!(spent.lags(&ada, 3, None, 10_000));
        assert!(!Stored::of(&ada, 3).lags(&ada, 3, None, 10_000));
    }
}
