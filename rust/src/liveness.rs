//! Which sockets died without a Close, and when to look again.
//!
//! A client whose network vanishes sends no Close, and the runtime keeps
//! its socket open for as long as TCP does. The server therefore closes a
//! socket that showed no sign of life for longer than the idle timeout
//! (`IDLE_TIMEOUT_SECONDS`), from a Durable Object alarm: an alarm survives
//! hibernation and wakes the object, a timer does neither.
//!
//! A socket's signs of life are three times ([`Activity`]), all in ms since
//! the epoch:
//!
//! - `since`: when it was accepted (a member's join);
//! - `frame_at`: its last frame, as its attachment records it: the rate
//!   limit bucket's refill time, which every frame moves (to the frame's
//!   time, less the part of a token not yet earned: under 1000 / rate ms,
//!   at most 1 s at the slowest rate, 0.05 ms at the default 20 per
//!   second). A frame stores the attachment only when it must (see
//!   [`crate::room::stored`]), and at the latest once the record moved by
//!   the [granularity](Liveness::granularity) (an eighth of the timeout,
//!   at least 1 s), see [`Liveness::records`]. So the last frame is
//!   somewhere in `[frame_at, frame_at + granularity)`, and the rules take
//!   the end of that span: an idle socket is closed at most one
//!   granularity late, never early;
//! - `pinged_at`: the runtime's last automatic answer to the text `ping`
//!   (`ctx.getWebSocketAutoResponseTimestamp`), exact, kept by the runtime
//!   across hibernation, `null` before the first ping. A keepalive never
//!   wakes the object, and still counts.
//!
//! The clock may disagree with a stored time (another machine wrote it, or
//! time went backwards): a time ahead of `now` counts as activity now. A
//! socket is never closed early because of skew; a clock that went back by
//! `d` delays its closing by at most `d`.

/// The idle timeout, and the rules derived from it (a room holds `None`
/// where the timeout is 0, off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liveness {
    timeout_ms: u64,
}

/// When a socket last showed it was alive (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// When it was accepted.
    pub since: u64,
    /// Its last frame as recorded (at the granularity), if it sent one.
    pub frame_at: Option<u64>,
    /// The runtime's last automatic `pong` to it, if it ever pinged.
    pub pinged_at: Option<u64>,
}

impl Liveness {
    /// The rules for a timeout of `seconds`; `None` for 0, which turns
    /// reaping off.
    pub fn new(seconds: u32) -> Option<Liveness> {
        (seconds > 0).then(|| Liveness {
            timeout_ms: u64::from(seconds) * 1000,
        })
    }

    /// The timeout in ms.
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    /// How far a frame may move the record before it must be stored: an
    /// eighth of the timeout (15 s at the default 120 s), and at least the
    /// 1 s by which a bucket's refill time may lag its frame.
    pub fn granularity(&self) -> u64 {
        (self.timeout_ms / 8).max(1_000)
    }

    /// The least time between two alarms: a quarter of the timeout. It
    /// bounds the alarms to `4 × 3600 / timeout` an hour, and adds at most
    /// this much to the time a dead socket is closed.
    pub fn min_interval(&self) -> u64 {
        (self.timeout_ms / 4).max(1)
    }

    /// Whether a frame at `now` must be stored over the stored record
    /// `frame_at`: always the first, then once it moved the record by the
    /// granularity. A clock that went back needs nothing until it has
    /// caught up.
    pub fn records(&self, frame_at: Option<u64>, now: u64) -> bool {
        frame_at.is_none_or(|at| now >= at.saturating_add(self.granularity()))
    }

    /// The latest time the socket may have been alive: a recorded frame
    /// stands for its whole granularity.
    fn last(&self, activity: &Activity) -> u64 {
        let frame = activity
            .frame_at
            .map_or(0, |at| at.saturating_add(self.granularity()));
        activity
            .since
            .max(frame)
            .max(activity.pinged_at.unwrap_or(0))
    }

    /// When a socket with `activity` becomes idle: the timeout after its
    /// last sign of life.
    pub fn deadline(&self, activity: &Activity) -> u64 {
        self.last(activity).saturating_add(self.timeout_ms)
    }

    /// Whether a socket with `activity` has been idle for longer than the
    /// timeout at `now`.
    pub fn is_idle(&self, activity: &Activity, now: u64) -> bool {
        now > self.deadline(activity)
    }

    /// When the next alarm runs, given the earliest deadline of the
    /// sockets still watched: just after it, and never sooner than
    /// [`min_interval`](Self::min_interval) from `now`. `None` when no
    /// socket is watched: the room is empty and the alarm is not re-armed.
    pub fn next_alarm(&self, now: u64, earliest: Option<u64>) -> Option<u64> {
        earliest.map(|deadline| {
            deadline
                .saturating_add(1)
                .max(now.saturating_add(self.min_interval()))
        })
    }

    /// The alarm for a room whose first member joins at `now`: the timeout
    /// after the join, the earliest anyone who joins from now on can be idle
    /// (a join stands for a granularity more: the first run may find it
    /// alive, and the next comes a quarter of the timeout later).
    pub fn first_alarm(&self, now: u64) -> u64 {
        now.saturating_add(self.timeout_ms).saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 120_000;

    fn rules() -> Liveness {
        Liveness::new(120).expect("on")
    }

    fn at(since: u64, frame_at: Option<u64>, pinged_at: Option<u64>) -> Activity {
        Activity {
            since,
            frame_at,
            pinged_at,
        }
    }

    #[test]
    fn zero_turns_it_off() {
        assert_eq!(Liveness::new(0), None);
        let one = Liveness::new(1).expect("on");
        assert_eq!((one.granularity(), one.min_interval()), (1_000, 250));
        assert_eq!(rules().granularity(), 15_000);
        let day = Liveness::new(u32::MAX).expect("on");
        assert_eq!(day.timeout_ms(), u64::from(u32::MAX) * 1000);
    }

    #[test]
    fn idle_after_the_timeout_from_the_last_sign_of_life() {
        let g = rules().granularity();
        // (activity, now, idle?)
        let table: &[(Activity, u64, bool)] = &[
            // Joined and silent: idle just after the timeout.
            (at(1_000, None, None), 1_000 + T, false),
            (at(1_000, None, None), 1_000 + T + 1, true),
            // A ping keeps it, however long ago it joined.
            (at(0, None, Some(500_000)), 500_000 + T, false),
            (at(0, None, Some(500_000)), 500_000 + T + 1, true),
            // A recorded frame stands for its whole granularity.
            (at(0, Some(10_000), None), 10_000 + g + T, false),
            (at(0, Some(10_000), None), 10_000 + g + T + 1, true),
            // The latest of the three counts.
            (at(9_000, Some(1_000), Some(2_000)), 9_000 + T, false),
            (at(0, Some(1_000), Some(300_000)), 300_000 + T, false),
            (at(0, Some(300_000), Some(1_000)), 300_000 + g + T, false),
            (at(0, Some(300_000), Some(1_000)), 300_000 + g + T + 1, true),
        ];
        for (activity, now, idle) in table {
            assert_eq!(
                rules().is_idle(activity, *now),
                *idle,
                "{activity:?} at {now}"
            );
        }
    }

    #[test]
    fn skew_and_a_clock_going_back_never_reap_early() {
        let rules = rules();
        // Times ahead of the clock count as activity now.
        for ahead in [
            at(90_000, None, None),
            at(0, Some(90_000), None),
            at(0, None, Some(90_000)),
        ] {
            assert!(!rules.is_idle(&ahead, 10_000), "{ahead:?}");
            assert!(!rules.is_idle(&ahead, 0), "{ahead:?}");
        }
        // A clock that went back by d delays reaping by at most d.
        let d = 50_000;
        let future = at(200_000 + d, None, None);
        assert!(!rules.is_idle(&future, 200_000 + d + T));
        assert!(rules.is_idle(&future, 200_000 + d + T + 1));
        // Nothing overflows at the end of time.
        let end = at(u64::MAX, Some(u64::MAX), Some(u64::MAX));
        assert_eq!(rules.deadline(&end), u64::MAX);
        assert!(!rules.is_idle(&end, u64::MAX));
        assert!(rules.is_idle(&Activity::default(), u64::MAX));
    }

    #[test]
    fn frames_are_recorded_once_per_granularity() {
        let rules = rules();
        let g = rules.granularity();
        assert!(rules.records(None, 0));
        assert!(!rules.records(Some(1_000), 1_000));
        assert!(!rules.records(Some(1_000), 1_000 + g - 1));
        assert!(rules.records(Some(1_000), 1_000 + g));
        // A clock that went back records nothing until it caught up.
        assert!(!rules.records(Some(1_000_000), 10));
        assert!(!rules.records(Some(u64::MAX), u64::MAX - 1));
        // The record never lags the last frame by a granularity or more: a
        // frame every ms for a while, then silence.
        let mut record = None;
        for now in 0..3 * g {
            if rules.records(record, now) {
                record = Some(now);
            }
            let last = record.expect("recorded") + g;
            assert!(now < last, "frame at {now}, record {record:?}");
        }
    }

    #[test]
    fn the_next_alarm_is_the_earliest_deadline_but_not_too_soon() {
        let rules = rules();
        assert_eq!(rules.next_alarm(1_000, None), None);
        assert_eq!(rules.next_alarm(1_000, Some(100_000)), Some(100_001));
        // Never sooner than a quarter of the timeout.
        assert_eq!(rules.next_alarm(1_000, Some(1_000)), Some(1_000 + T / 4));
        assert_eq!(
            rules.next_alarm(u64::MAX - 5, Some(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(rules.first_alarm(1_000), 1_000 + T + 1);
        assert_eq!(rules.first_alarm(u64::MAX), u64::MAX);
    }
}
