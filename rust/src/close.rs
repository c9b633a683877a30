//! Close codes the server can send, as a type (RFC 6455 §7.4).
//!
//! A [`CloseCode`] can only hold a code that may appear in a Close frame, so the
//! reserved codes 1005, 1006 and 1015 (RFC 6455 §7.4.1: "MUST NOT be set as a
//! status code in a Close control frame by an endpoint") can never reach
//! `WebSocket.close()`, which throws on them.

use serde::Serialize;

/// A close code that may be sent in a Close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u16")]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the server is going away.
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL: Self = Self(1002);
    /// 1003: a type of data the endpoint cannot accept (e.g. binary on a text-only endpoint).
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1007: data inconsistent with the message type (e.g. non-UTF-8 text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: Self = Self(1009);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL: Self = Self(1011);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN: Self = Self(1013);

    /// The code, if an endpoint may send it: 1000–1003, 1007–1014 (the RFC's
    /// codes and the IANA registry's later ones) and 3000–4999 (registered and
    /// private use). `None` for the reserved 1004–1006 and 1015, and for codes
    /// outside any assigned range.
    pub fn new(code: u16) -> Option<Self> {
        match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => Some(Self(code)),
            _ => None,
        }
    }

    /// The numeric code.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl TryFrom<u16> for CloseCode {
    type Error = u16;

    fn try_from(code: u16) -> Result<Self, u16> {
        Self::new(code).ok_or(code)
    }
}

/// The longest close reason, in bytes: a control frame's payload is at most 125
/// bytes (RFC 6455 §5.5), two of which hold the code.
pub const MAX_REASON_BYTES: usize = 123;

/// Cuts `reason` to at most [`MAX_REASON_BYTES`] bytes on a character boundary,
/// so `WebSocket.close()` never throws on an over-long reason.
pub fn clip_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.get(..end).unwrap_or_default()
}

/// The reason the server gives when it completes a client's close handshake
/// (the seed example's words, kept on every endpoint).
pub const HANDSHAKE_REASON: &str = "Durable Object is closing WebSocket";

/// The code the server answers a close with, given the code the runtime
/// reported to `webSocketClose`:
///
/// - a code a Close frame may carry: echo it (RFC 6455 §5.5.1);
/// - 1005, "no status code" (the client's Close frame had none): 1000;
/// - 1006 and 1015, the connection dropped without a Close frame: 1000
///   (`close()` throws on either). Nothing reaches the peer, but the runtime
///   lets go of its side of the connection only when the object closes it:
///   left open, each dropped socket kept 4 descriptors under `wrangler dev`
///   until the process ended (bench/RESULTS.md, Findings 9);
/// - any other code, which no conforming peer sends: 1002, protocol error.
pub fn answer(code: u16) -> CloseCode {
    match code {
        1005 | 1006 | 1015 => CloseCode::NORMAL,
        _ => CloseCode::new(code).unwrap_or(CloseCode::PROTOCOL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_codes() {
        let table: &[(u16, bool)] = &[
            (0, false),
            (999, false),
            (1000, true),
            (1001, true),
            (1003, true),
            (1004, false),
            (1005, false),
            (1006, false),
            (1007, true),
            (1011, true),
            (1014, true),
            (1015, false),
            (1016, false),
            (2999, false),
            (3000, true),
            (4999, true),
            (5000, false),
            (u16::MAX, false),
        ];
        for &(code, ok) in table {
            assert_eq!(CloseCode::new(code).is_some(), ok, "code {code}");
        }
    }

    #[test]
    fn round_trips_through_u16() {
        assert_eq!(u16::from(CloseCode::TOO_BIG), 1009);
        assert_eq!(CloseCode::try_from(4000).map(u16::from), Ok(4000));
        assert_eq!(CloseCode::try_from(1005), Err(1005));
    }

    #[test]
    fn clips_reason_on_char_boundary() {
        assert_eq!(clip_reason("short"), "short");
        let long = "é".repeat(100); // 200 bytes
        let clipped = clip_reason(&long);
        assert_eq!(clipped.len(), 122);
        assert!(clipped.chars().all(|c| c == 'é'));
    }

    #[test]
    fn answers_to_a_close() {
        let table: &[(u16, u16)] = &[
            (1000, 1000),
            (1001, 1001),
            (1011, 1011),
            (3000, 3000),
            (4999, 4999),
            (1005, 1000),
            (1006, 1000),
            (1015, 1000),
            (1004, 1002),
            (2000, 1002),
            (0, 1002),
        ];
        for &(code, want) in table {
            assert_eq!(answer(code).get(), want, "code {code}");
        }
    }
}
