//! The seed endpoint `/websocket`: Cloudflare's hibernation example, decided in Rust.
//!
//! Every text frame is answered with the text and the number of open sockets;
//! a client's Close is completed with the client's code.

use crate::close::CloseCode;
use crate::effect::{Effect, Effects};
use crate::limit;

/// The reason the server gives when it completes a client's close handshake.
pub const CLOSE_REASON: &str = "Durable Object is closing WebSocket";

/// A data frame as the runtime hands it to `webSocketMessage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A text frame (the runtime has already checked it is UTF-8).
    Text(&'a str),
    /// A binary frame of this many bytes (its content is never needed to
    /// decide, so it does not cross the wasm boundary).
    Binary(usize),
}

/// The seed's reply to a text frame.
pub fn reply_text(message: &str, connections: u32) -> String {
    format!("[Durable Object] message: {message}, connections: {connections}")
}

/// Decides the answer to one frame, given how many sockets the object holds
/// and the largest frame it takes (`MAX_MESSAGE_BYTES`).
///
/// A frame over the limit closes the socket with 1009 ("message too big").
/// Binary frames are refused with 1003 (RFC 6455 §7.4.1: "an endpoint that
/// understands only text data MAY send this if it receives a binary message"),
/// rather than echoing `[object ArrayBuffer]` as the seed did.
pub fn on_message(frame: Frame<'_>, connections: u32, max_message_bytes: u32) -> Effects {
    if let Some(close) = too_big(frame, max_message_bytes) {
        return close.into();
    }
    match frame {
        Frame::Text(text) => Effect::Reply {
            text: reply_text(text, connections),
        }
        .into(),
        Frame::Binary(_) => Effect::close(
            CloseCode::UNSUPPORTED_DATA,
            "binary frames are not supported on /websocket",
        )
        .into(),
    }
}

/// The close for a frame over `max_message_bytes`, if it is one.
pub fn too_big(frame: Frame<'_>, max_message_bytes: u32) -> Option<Effect> {
    let bytes = frame.len();
    limit::too_large(bytes, max_message_bytes).then(|| {
        Effect::close(
            CloseCode::TOO_BIG,
            &format!("frame of {bytes} bytes is over the limit of {max_message_bytes}"),
        )
    })
}

impl Frame<'_> {
    /// The frame's size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(len) => *len,
        }
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decides how to answer the close the runtime reported with `code`.
///
/// - a code a Close frame may carry: echo it (RFC 6455 §5.5.1);
/// - 1005, "no status code" (the client's Close frame had none): answer 1000;
/// - 1006 and 1015, the connection dropped without a Close frame: close with
///   1000 (`close()` throws on either code). Nothing reaches the peer, but
///   the runtime lets go of its side of the connection only when the object
///   closes it: left open, each dropped socket kept 4 descriptors in
///   `wrangler dev` until the process ended (measured; see bench/RESULTS.md);
/// - any other code, which no conforming peer sends: 1002, protocol error.
pub fn on_close(code: u16) -> Effects {
    let reply = match code {
        1005 | 1006 | 1015 => CloseCode::NORMAL,
        _ => CloseCode::new(code).unwrap_or(CloseCode::PROTOCOL),
    };
    Effect::close(reply, CLOSE_REASON).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(code: u16) -> Effects {
        Effect::Close {
            code: CloseCode::new(code).expect("sendable"),
            reason: CLOSE_REASON.to_owned(),
        }
        .into()
    }

    #[test]
    fn replies_with_text_and_count() {
        assert_eq!(
            on_message(Frame::Text("hi"), 2, 64),
            Effects(vec![Effect::Reply {
                text: "[Durable Object] message: hi, connections: 2".into()
            }])
        );
    }

    #[test]
    fn keeps_unicode_and_empty_text() {
        assert_eq!(
            reply_text("héllo 👋", 1),
            "[Durable Object] message: héllo 👋, connections: 1"
        );
        assert_eq!(
            reply_text("", 1),
            "[Durable Object] message: , connections: 1"
        );
    }

    #[test]
    fn refuses_binary_with_1003() {
        let effects = on_message(Frame::Binary(3), 1, 64);
        assert!(matches!(
            effects.0.as_slice(),
            [Effect::Close { code, .. }] if *code == CloseCode::UNSUPPORTED_DATA
        ));
    }

    #[test]
    fn closes_frames_over_the_limit_with_1009() {
        let code_of = |frame| match on_message(frame, 1, 4).0.as_slice() {
            [Effect::Close { code, .. }] => Some(code.get()),
            _ => None,
        };
        assert_eq!(code_of(Frame::Text("abcd")), None);
        assert_eq!(code_of(Frame::Text("abcde")), Some(1009));
        assert_eq!(code_of(Frame::Text("éé")), None); // 4 bytes
        assert_eq!(code_of(Frame::Text("ééa")), Some(1009)); // 5 bytes
        assert_eq!(code_of(Frame::Binary(5)), Some(1009));
        assert_eq!(code_of(Frame::Binary(4)), Some(1003));
    }

    #[test]
    fn close_decisions() {
        let table: &[(u16, Effects)] = &[
            (1000, close(1000)),
            (1001, close(1001)),
            (1011, close(1011)),
            (3000, close(3000)),
            (4999, close(4999)),
            (1005, close(1000)),
            (1006, close(1000)),
            (1015, close(1000)),
            (1004, close(1002)),
            (2000, close(1002)),
            (0, close(1002)),
        ];
        for (code, want) in table {
            assert_eq!(&on_close(*code), want, "code {code}");
        }
    }
}
