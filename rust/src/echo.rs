//! `/websocket`: Cloudflare's "WebSocket server with WebSocket Hibernation"
//! example (the project's starting point), decided in Rust.
//!
//! Every text frame is answered with the text and the number of open sockets;
//! a client's Close is completed with the client's code.

use crate::error::CloseReason;
use crate::outcome::{Effect, Effects};
use crate::protocol::Frame;

/// The reply to a text frame, word for word the example's.
pub fn reply_text(message: &str, connections: u32) -> String {
    format!("[Durable Object] message: {message}, connections: {connections}")
}

/// Decides the answer to one frame, given how many sockets the object holds
/// and the largest frame it takes (`MAX_MESSAGE_BYTES`).
///
/// A frame over the limit closes the socket with 1009. Binary frames are
/// refused with 1003, rather than echoing `[object ArrayBuffer]` as the
/// example did.
pub fn on_message(frame: Frame<'_>, connections: u32, max_message_bytes: u32) -> Effects {
    if let Err(why) = frame.check_size(max_message_bytes) {
        return Effect::close(&why).into();
    }
    match frame {
        Frame::Text(text) => Effect::Reply {
            text: reply_text(text, connections),
        }
        .into(),
        Frame::Binary(_) => Effect::close(&CloseReason::BinaryOnEcho).into(),
    }
}

/// Answers the close the runtime reported with `code`: see [`crate::close::answer`].
pub fn on_close(code: u16) -> Effects {
    Effect::answer_close(code).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::CloseCode;

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
    fn a_close_is_answered_with_the_handshake_reason() {
        assert_eq!(
            on_close(1001),
            Effects(vec![Effect::Close {
                code: CloseCode::GOING_AWAY,
                reason: "Durable Object is closing WebSocket".into()
            }])
        );
    }
}
