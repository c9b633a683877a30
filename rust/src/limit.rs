//! Per-socket rate limiting: a token bucket that lives in the socket's
//! attachment, so a client cannot reset it by waiting for the object to be
//! evicted (stored whenever it is not at rest: see
//! [`crate::room::stored`]), the strikes that close a client that keeps flooding, and the
//! size check on every frame.

use std::fmt;

use serde::Serialize;

use crate::records::{Item, Record};
use tsify::Tsify;

/// How many strikes, in bursts, close a socket with 1008. Every dropped
/// frame is a strike, and strikes fade as tokens refill (one per token), so
/// a client is closed once it has been dropped more than `5 × burst` times
/// beyond what the refill forgave: a sustained flood (more than twice the
/// rate) always is, whatever it lets through in between; a client that
/// bursts now and then never is.
pub const STRIKE_BURSTS: u32 = 5;

/// A frame's cost, in milli-tokens. Tokens are counted in thousandths so
/// fractional rates (`0.5` per second) need no floating point, whose
/// formatting and parsing code would double the size of the Wasm module.
const MILLI: u64 = 1000;

/// Tokens per second, with up to three decimals: `RATE_LIMIT_PER_SECOND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    milli_per_second: u32,
}

impl Rate {
    /// The largest rate: a million tokens per second.
    pub const MAX_PER_SECOND: u32 = 1_000_000;

    /// `n` tokens per second (at most [`Rate::MAX_PER_SECOND`]).
    pub fn per_second(n: u32) -> Rate {
        Rate {
            milli_per_second: n.min(Self::MAX_PER_SECOND) * MILLI as u32,
        }
    }

    /// Reads a decimal such as `20`, `0.5` or `2.125`: above 0, at most a
    /// million, at most three decimals. No exponent, sign or spaces inside.
    pub fn parse(text: &str) -> Option<Rate> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty()
            || fraction.len() > 3
            || !digits(whole)
            || !digits(fraction)
            || whole.len() > 7
        {
            return None;
        }
        // Parsed as u64 (at most 7 and 3 digits), as every number the core
        // reads: one parser in the Wasm module, not one per integer type.
        let whole = if whole.is_empty() {
            0
        } else {
            u32::try_from(whole.parse::<u64>().ok()?).ok()?
        };
        let fraction = u32::try_from(format!("{fraction:0<3}").parse::<u64>().ok()?).ok()?;
        let milli = whole.checked_mul(MILLI as u32)?.checked_add(fraction)?;
        (milli > 0 && milli <= Self::MAX_PER_SECOND * MILLI as u32).then_some(Rate {
            milli_per_second: milli,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, milli) = (
            self.milli_per_second / MILLI as u32,
            self.milli_per_second % MILLI as u32,
        );
        if milli == 0 {
            return write!(f, "{whole}");
        }
        let fraction = format!("{milli:03}");
        write!(f, "{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// The bucket of one socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
pub struct Bucket {
    /// Milli-tokens left; a frame costs 1000.
    pub milli_tokens: u32,
    /// When `milli_tokens` was last brought up to date, ms since the epoch.
    pub updated_at: u64,
    /// Frames dropped in a row since the last one let through.
    pub dropped: u32,
    /// Strikes, in thousandths: a dropped frame adds 1000, and they fade by
    /// as many as the bucket regains milli-tokens. Absent (0) in an
    /// attachment stored before strikes existed.
    #[serde(skip_serializing_if = "is_zero")]
    #[tsify(optional)]
    pub milli_strikes: u32,
    /// When the client was last told `rate_limited` (ms since the epoch; 0
    /// never): at most once per refill interval.
    #[serde(skip_serializing_if = "is_zero_u64")]
    #[tsify(optional)]
    pub limited_at: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// What happens to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// Drop it; `tell` the client `rate_limited` (at most once per refill
    /// interval, the time a token takes to come back).
    Drop { tell: bool },
    /// The client struck more than [`STRIKE_BURSTS`] × the burst: close 1008.
    Close,
}

impl Default for Bucket {
    /// A bucket as full as any burst (an attachment stored before buckets
    /// existed gets one): the next frame caps it at the configured burst.
    fn default() -> Self {
        Bucket {
            milli_tokens: u32::MAX,
            updated_at: 0,
            dropped: 0,
            milli_strikes: 0,
            limited_at: 0,
        }
    }
}

impl Bucket {
    /// The bucket as an attachment stored it (see [`crate::records`]).
    pub fn read(record: Record<'_>) -> Option<Bucket> {
        Some(Bucket {
            milli_tokens: record.u32("milli_tokens")?,
            updated_at: record.u64("updated_at")?,
            dropped: record.u32("dropped")?,
            milli_strikes: record
                .optional("milli_strikes", Item::as_u64)?
                .map_or(Some(0), |n| u32::try_from(n).ok())?,
            limited_at: record.optional("limited_at", Item::as_u64)?.unwrap_or(0),
        })
    }

    /// Whether the bucket is at rest under a burst of `burst`: at most one
    /// token below full, no frame dropped in a row, no strikes. Two buckets
    /// at rest, refilled to any later time, differ by at most one token
    /// (see [`crate::room::stored`]).
    pub fn at_rest(&self, burst: u32) -> bool {
        u64::from(self.milli_tokens) + MILLI >= u64::from(capacity(burst))
            && self.dropped == 0
            && self.milli_strikes == 0
    }

    /// A full bucket at `now`.
    pub fn full(burst: u32, now: u64) -> Self {
        Bucket {
            milli_tokens: capacity(burst),
            updated_at: now,
            ..Bucket::default()
        }
    }

    /// Refills for the time since the last frame, fades the strikes as
    /// much, then takes a token for a frame arriving at `now`. A clock that
    /// goes backwards refills nothing.
    pub fn take(&mut self, now: u64, rate: Rate, burst: u32) -> Verdict {
        let rate = u64::from(rate.milli_per_second);
        let elapsed_ms = now.saturating_sub(self.updated_at);
        // ms × milli-tokens/s = thousandths of a milli-token.
        let gained = elapsed_ms.saturating_mul(rate);
        let uncapped = u64::from(self.milli_tokens).saturating_add(gained / MILLI);
        let tokens = uncapped.min(u64::from(capacity(burst)));
        let faded = u64::from(self.milli_strikes).saturating_sub(gained / MILLI);
        if now > self.updated_at {
            // The time whose gain is still under a milli-token is not spent,
            // so a slow rate refills exactly, however often frames arrive.
            let unspent_ms = match rate {
                0 => 0,
                _ if uncapped > tokens => 0,
                _ => (gained % MILLI) / rate,
            };
            self.updated_at = now - unspent_ms;
        }
        if tokens >= MILLI {
            self.milli_tokens = (tokens - MILLI) as u32;
            self.milli_strikes = faded as u32;
            self.dropped = 0;
            return Verdict::Allow;
        }
        self.milli_tokens = tokens as u32;
        self.dropped = self.dropped.saturating_add(1);
        let strikes = faded.saturating_add(MILLI);
        self.milli_strikes = strikes.min(u64::from(u32::MAX)) as u32;
        if strikes > u64::from(burst) * u64::from(STRIKE_BURSTS) * MILLI {
            return Verdict::Close;
        }
        // The time one token takes to come back, in ms (at least 1).
        let interval_ms = match rate {
            0 => u64::MAX,
            _ => (MILLI * MILLI).div_ceil(rate),
        };
        let tell =
            self.limited_at == 0 || now < self.limited_at || now - self.limited_at >= interval_ms;
        if tell {
            self.limited_at = now;
        }
        Verdict::Drop { tell }
    }
}

/// A full bucket's milli-tokens; bursts above four million saturate.
fn capacity(burst: u32) -> u32 {
    burst.saturating_mul(MILLI as u32)
}

/// Whether a frame of `bytes` bytes is over the limit.
pub fn too_large(bytes: usize, max_message_bytes: u32) -> bool {
    bytes > max_message_bytes as usize
}

/// What a text frame's length in UTF-16 code units (JavaScript's
/// `String.length`, read without copying the text) says about its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextSize {
    /// Within the limit whatever it holds: copy it.
    Fits,
    /// Over the limit whatever it holds: never copy it.
    Over,
    /// Either: copy at most `MAX_MESSAGE_BYTES` of it, and it is over the
    /// limit if that is not all of it.
    Measure,
}

/// Decides, from a text frame's length in UTF-16 units alone, whether it
/// is within `max_message_bytes`.
///
/// A code unit is 1 to 3 bytes of UTF-8 (a surrogate pair, two units, is 4
/// bytes; a lone surrogate becomes U+FFFD, 3 bytes), so a text of n units
/// is n to 3n bytes: it fits if 3n is within the limit, is over it if n
/// is, and must be measured in between.
pub fn text_by_length(utf16_units: usize, max_message_bytes: u32) -> TextSize {
    if too_large(utf16_units, max_message_bytes) {
        TextSize::Over
    } else if too_large(utf16_units.saturating_mul(3), max_message_bytes) {
        TextSize::Measure
    } else {
        TextSize::Fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_second(n: u32) -> Rate {
        Rate::per_second(n)
    }

    #[test]
    fn allows_a_burst_then_drops() {
        let mut bucket = Bucket::full(3, 1_000);
        let verdicts: Vec<_> = (0..5)
            .map(|_| bucket.take(1_000, per_second(1), 3))
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Allow,
                Verdict::Allow,
                Verdict::Allow,
                Verdict::Drop { tell: true },
                Verdict::Drop { tell: false }
            ]
        );
        assert_eq!(bucket.dropped, 2);
    }

    #[test]
    fn refills_with_time_up_to_the_burst() {
        let mut bucket = Bucket::full(2, 0);
        bucket.take(0, per_second(10), 2);
        bucket.take(0, per_second(10), 2);
        assert_eq!(
            bucket.take(50, per_second(10), 2),
            Verdict::Drop { tell: true }
        ); // half a token
        assert_eq!(bucket.take(100, per_second(10), 2), Verdict::Allow);
        assert_eq!(bucket.dropped, 0);
        bucket.take(1_000_000, per_second(10), 2);
        assert_eq!(bucket.milli_tokens, 1000); // capped at the burst, minus this frame
    }

    #[test]
    fn fractional_rates_refill_slowly() {
        let half = Rate::parse("0.5").expect("rate");
        let mut bucket = Bucket::full(1, 0);
        assert_eq!(bucket.take(0, half, 1), Verdict::Allow);
        assert_eq!(bucket.take(1_999, half, 1), Verdict::Drop { tell: true });
        assert_eq!(bucket.take(2_000, half, 1), Verdict::Allow);
    }

    #[test]
    fn closes_past_five_bursts_of_drops() {
        let mut bucket = Bucket::full(2, 0);
        let verdicts: Vec<_> = (0..2 + 11)
            .map(|_| bucket.take(0, per_second(1), 2))
            .collect();
        assert_eq!(verdicts[..2], [Verdict::Allow, Verdict::Allow]);
        assert!(verdicts[2..12]
            .iter()
            .all(|v| matches!(v, Verdict::Drop { .. })));
        assert_eq!(verdicts[12], Verdict::Close);
    }

    #[test]
    fn a_sustained_flood_is_closed_though_the_refill_lets_some_through() {
        // The review's flood: 3,000 frames/s at 20/s, burst 40. Before
        // strikes faded, every frame let through reset the count, and the
        // flood was never closed.
        let (rate, burst) = (per_second(20), 40);
        let mut bucket = Bucket::full(burst, 0);
        let (mut allowed, mut told) = (0, 0);
        let closed_at = (1..=180_000u64).find_map(|i| {
            let now = i / 3; // 3 frames per ms
            match bucket.take(now, rate, burst) {
                Verdict::Allow => allowed += 1,
                Verdict::Drop { tell } => told += u32::from(tell),
                Verdict::Close => return Some(now),
            }
            None
        });
        // The burst (40) is gone after 13 ms; 201 strikes, fading by 20 a
        // second, take 68 ms more; the refill let one more frame through
        // meanwhile, and `rate_limited` was told twice (once per 50 ms).
        assert_eq!((closed_at, allowed, told), (Some(81), 41, 2));
    }

    #[test]
    fn a_client_at_twice_the_rate_or_less_is_limited_but_not_closed() {
        let (rate, burst) = (per_second(20), 4);
        let mut bucket = Bucket::full(burst, 0);
        // 39 frames/s for ten minutes: about half dropped, never closed.
        for i in 0..39 * 600 {
            let now = i * 1000 / 39;
            assert_ne!(bucket.take(now, rate, burst), Verdict::Close, "frame {i}");
        }
        // A burst of 4 × burst now and then is forgiven as tokens refill.
        for round in 0..10 {
            let now = 1_000_000 + round * 60_000;
            for _ in 0..4 * burst {
                assert_ne!(bucket.take(now, rate, burst), Verdict::Close);
            }
        }
    }

    #[test]
    fn rate_limited_is_told_once_per_refill_interval() {
        let rate = per_second(10); // a token every 100 ms
        let mut bucket = Bucket::full(1, 0);
        assert_eq!(bucket.take(0, rate, 1), Verdict::Allow);
        let told: Vec<u64> = (1..1000)
            .filter(|&now| bucket.take(now, rate, 1000) == Verdict::Drop { tell: true })
            .collect();
        assert!(told.windows(2).all(|w| w[1] - w[0] >= 100), "{told:?}");
        assert!(!told.is_empty());
    }

    #[test]
    fn survives_odd_clocks_and_values() {
        let mut bucket = Bucket {
            milli_tokens: 0,
            updated_at: 100,
            dropped: u32::MAX,
            milli_strikes: u32::MAX,
            limited_at: u64::MAX,
        };
        assert_eq!(bucket.take(0, per_second(1), 1), Verdict::Close); // clock went back: no refill
        assert_eq!(bucket.updated_at, 100);
        assert_eq!(bucket.take(1_100, per_second(1), 1), Verdict::Allow);
        let max = Rate::parse("1000000").expect("rate");
        assert_eq!(bucket.take(u64::MAX, max, u32::MAX), Verdict::Allow);
        assert_eq!(Bucket::default().take(5, per_second(1), 40), Verdict::Allow);
    }

    #[test]
    fn parses_and_shows_rates() {
        let table: &[(&str, Option<&str>)] = &[
            ("20", Some("20")),
            ("0.5", Some("0.5")),
            ("2.125", Some("2.125")),
            ("2.10", Some("2.1")),
            (".5", Some("0.5")),
            ("5.", Some("5")),
            ("0.001", Some("0.001")),
            ("1000000", Some("1000000")),
            ("1000000.001", None),
            ("0", None),
            ("0.0004", None),
            ("", None),
            (".", None),
            ("-1", None),
            ("1e3", None),
            ("1,5", None),
            ("NaN", None),
            ("99999999999", None),
        ];
        for &(text, want) in table {
            assert_eq!(
                Rate::parse(text).map(|r| r.to_string()).as_deref(),
                want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn size_limit_is_inclusive() {
        assert!(!too_large(65_536, 65_536));
        assert!(too_large(65_537, 65_536));
    }

    #[test]
    fn a_text_is_copied_only_when_its_length_allows_it_to_fit() {
        // UTF-16 units against UTF-8 bytes: "é" is 1 unit, 2 bytes; "👋"
        // 2 units, 4 bytes; "€" 1 unit, 3 bytes.
        for text in ["abcd", "éé", "€", "👋", "€€", "a€", "\u{10FFFF}"] {
            let units = text.encode_utf16().count();
            for max in 0..14 {
                let fits = !too_large(text.len(), max);
                match text_by_length(units, max) {
                    TextSize::Fits => assert!(fits, "{text:?} {max}"),
                    TextSize::Over => assert!(!fits, "{text:?} {max}"),
                    TextSize::Measure => {}
                }
            }
        }
        assert_eq!(text_by_length(5, 4), TextSize::Over);
        assert_eq!(text_by_length(4, 4), TextSize::Measure);
        assert_eq!(text_by_length(2, 6), TextSize::Fits);
        assert_eq!(text_by_length(usize::MAX, u32::MAX), TextSize::Over);
    }
}
