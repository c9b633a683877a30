//! Typing indicators: a member's `typing` is relayed to the others as
//! `{"type":"typing","id","name"}`, at most once per member per
//! [`TYPING_INTERVAL_MS`]. A `typing` inside that window is coalesced into the
//! one already relayed: dropped without an answer, since the others are
//! showing the indicator already. A client sends `typing` while its user
//! types; each relay keeps the indicator up for a few seconds more.
//!
//! Ephemeral: a relay is a frame to the sockets open now, nothing else; it
//! is not a `message`, so nothing that keeps messages keeps it. Only the
//! time of the last relay is kept, in the member's attachment (`typing_at`),
//! so that waiting for an eviction does not reopen the window.
//!
//! Like `joined` and `left`, it is not relayed in a room above
//! `PRESENCE_LIMIT`: there a keystroke would cost a frame to each of
//! thousands of members.

use crate::protocol::ServerFrame;
use crate::socket::Attachment;

/// The shortest time between two relayed `typing` of one member, in ms.
pub const TYPING_INTERVAL_MS: u64 = 2_000;

/// Whether a `typing` arriving at `now` is relayed, the previous relay
/// having been at `last`. A clock that went backwards (an object moved to
/// another machine) relays: its window cannot be measured.
pub fn due(last: Option<u64>, now: u64) -> bool {
    match last {
        Some(last) => now < last || now - last >= TYPING_INTERVAL_MS,
        None => true,
    }
}

/// The `typing` frame to relay for `member` at `now`, if one is due in a
/// room that `pushes` presence (holds at most `PRESENCE_LIMIT`); the relay's
/// time is then kept in `member`. `None`: nothing is sent, nothing changes.
pub fn relay(member: &mut Attachment, now: u64, pushes: bool) -> Option<ServerFrame> {
    if !pushes || !due(member.typing_at, now) {
        return None;
    }
    member.typing_at = Some(now);
    Some(ServerFrame::Typing {
        id: member.id.clone(),
        name: member.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::Bucket;

    fn ada(typing_at: Option<u64>) -> Attachment {
        Attachment {
            id: "abcdefgh".into(),
            name: "Ada".into(),
            joined_at: 1,
            sub: None,
            bucket: Bucket::default(),
            exp: None,
            typing_at,
        }
    }

    #[test]
    fn relays_at_most_once_per_interval() {
        let table: &[(Option<u64>, u64, bool)] = &[
            (None, 0, true),
            (Some(10_000), 10_000, false),
            (Some(10_000), 11_999, false),
            (Some(10_000), 12_000, true),
            (Some(10_000), 9_999, true), // the clock went backwards
            (Some(u64::MAX), u64::MAX, false),
        ];
        for &(last, now, want) in table {
            assert_eq!(due(last, now), want, "{last:?} {now}");
        }
    }

    #[test]
    fn a_relay_keeps_its_time_and_a_coalesced_one_changes_nothing() {
        let mut member = ada(None);
        assert_eq!(
            relay(&mut member, 5_000, true),
            Some(ServerFrame::Typing {
                id: "abcdefgh".into(),
                name: "Ada".into()
            })
        );
        assert_eq!(member.typing_at, Some(5_000));
        assert_eq!(relay(&mut member, 6_999, true), None);
        assert_eq!(member.typing_at, Some(5_000));
        assert!(relay(&mut member, 7_000, true).is_some());
        assert_eq!(member.typing_at, Some(7_000));
    }

    #[test]
    fn nothing_above_the_presence_limit() {
        let mut member = ada(None);
        assert_eq!(relay(&mut member, 5_000, false), None);
        assert_eq!(member.typing_at, None);
    }
}
