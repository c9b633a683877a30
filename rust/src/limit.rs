//! Per-socket rate limiting: a token bucket that lives in the socket's
//! attachment, so a client cannot reset it by waiting for the object to be
//! evicted, and the size check on every frame.

use serde::{Deserialize, Serialize};
use tsify::Tsify;

/// How many times the burst a client may keep sending into a dry bucket
/// before it is closed with 1008.
pub const STRIKE_BURSTS: u32 = 5;

/// The bucket of one socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Tsify)]
pub struct Bucket {
    /// Tokens left; a frame costs one.
    pub tokens: f64,
    /// When `tokens` was last brought up to date, ms since the epoch.
    pub updated_at: u64,
    /// Frames dropped in a row since the last one let through.
    pub dropped: u32,
}

/// What happens to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// Drop it and tell the client `rate_limited`.
    Drop,
    /// The client kept going past [`STRIKE_BURSTS`] × the burst: close 1008.
    Close,
}

impl Default for Bucket {
    /// A bucket as full as any burst (an attachment stored before buckets
    /// existed gets one): the next frame caps it at the configured burst.
    fn default() -> Self {
        Bucket {
            tokens: f64::MAX,
            updated_at: 0,
            dropped: 0,
        }
    }
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(burst: u32, now: u64) -> Self {
        Bucket {
            tokens: f64::from(burst),
            updated_at: now,
            dropped: 0,
        }
    }

    /// Refills for the time since the last frame, then takes a token for a
    /// frame arriving at `now`. A clock that goes backwards refills nothing.
    pub fn take(&mut self, now: u64, per_second: f64, burst: u32) -> Verdict {
        let burst = f64::from(burst);
        let elapsed_ms = now.saturating_sub(self.updated_at) as f64;
        let tokens = if self.tokens.is_finite() {
            self.tokens
        } else {
            0.0
        };
        self.tokens = (tokens + elapsed_ms * per_second / 1000.0).clamp(0.0, burst);
        self.updated_at = self.updated_at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropped = 0;
            return Verdict::Allow;
        }
        self.dropped = self.dropped.saturating_add(1);
        if f64::from(self.dropped) > burst * f64::from(STRIKE_BURSTS) {
            Verdict::Close
        } else {
            Verdict::Drop
        }
    }
}

/// Whether a frame of `bytes` bytes is over the limit.
pub fn too_large(bytes: usize, max_message_bytes: u32) -> bool {
    bytes > max_message_bytes as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_drops() {
        let mut bucket = Bucket::full(3, 0);
        let verdicts: Vec<_> = (0..5).map(|_| bucket.take(0, 1.0, 3)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Allow,
                Verdict::Allow,
                Verdict::Allow,
                Verdict::Drop,
                Verdict::Drop
            ]
        );
        assert_eq!(bucket.dropped, 2);
    }

    #[test]
    fn refills_with_time_up_to_the_burst() {
        let mut bucket = Bucket::full(2, 0);
        bucket.take(0, 10.0, 2);
        bucket.take(0, 10.0, 2);
        assert_eq!(bucket.take(50, 10.0, 2), Verdict::Drop); // half a token
        assert_eq!(bucket.take(100, 10.0, 2), Verdict::Allow);
        assert_eq!(bucket.dropped, 0);
        bucket.take(1_000_000, 10.0, 2);
        assert_eq!(bucket.tokens, 1.0); // capped at the burst, minus this frame
    }

    #[test]
    fn closes_past_five_bursts_of_drops() {
        let mut bucket = Bucket::full(2, 0);
        let verdicts: Vec<_> = (0..2 + 11).map(|_| bucket.take(0, 1.0, 2)).collect();
        assert_eq!(verdicts[..2], [Verdict::Allow, Verdict::Allow]);
        assert!(verdicts[2..12].iter().all(|v| *v == Verdict::Drop));
        assert_eq!(verdicts[12], Verdict::Close);
    }

    #[test]
    fn survives_odd_clocks_and_values() {
        let mut bucket = Bucket {
            tokens: f64::NAN,
            updated_at: 100,
            dropped: u32::MAX,
        };
        assert_eq!(bucket.take(0, 1.0, 1), Verdict::Close); // clock went back: no refill
        assert_eq!(bucket.updated_at, 100);
        assert_eq!(bucket.take(1_100, 1.0, 1), Verdict::Allow);
        assert_eq!(bucket.take(u64::MAX, 1e6, u32::MAX), Verdict::Allow);
    }

    #[test]
    fn size_limit_is_inclusive() {
        assert!(!too_large(65_536, 65_536));
        assert!(too_large(65_537, 65_536));
    }
}
