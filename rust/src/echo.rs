//! `/websocket`: Cloudflare's "WebSocket server with WebSocket Hibernation"
//! example (the project's starting point), decided in Rust.
//!
//! Every text frame is answered with the text and the number of open sockets;
//! a client's Close is completed with the client's code.

use crate::error::CloseReason;
use crate::outcome::{Effect, Effects};
use crate::protocol::{Frame, Payload};

/// The reply to a text frame, word for word the example's: written into a
/// buffer of its size (a `format!` would grow it by doubling, and a large
/// frame would leave twice its size in Wasm memory).
pub fn reply_text(message: &str, connections: u32) -> String {
    let mut reply = String::with_capacity(message.len() + 64);
    reply.push_str("[Durable Object] message: ");
    reply.push_str(message);
    reply.push_str(", connections: ");
    reply.push_str(&connections.to_string());
    reply
}

/// Decides the answer to one frame, given how many sockets the object holds
/// and the largest frame it takes (`MAX_MESSAGE_BYTES`).
///
/// A frame over the limit closes the socket with 1009. Binary frames are
/// refused with 1003, rather than echoing `[object ArrayBuffer]` as the
/// example did.
pub fn on_message(frame: Frame<'_>, connections: u32, max_message_bytes: u32) -> Effects {
    match frame.within(max_message_bytes) {
        Err(why) => Effect::close(&why).into(),
        Ok(Payload::Text(text)) => Effect::Reply {
            text: reply_text(text, connections),
        }
        .into(),
        Ok(Payload::Binary(_)) => Effect::close(&CloseReason::BinaryOnEcho).into(),
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
        assert_eq!(code_of(Frame::LongText(5)), Some(1009));
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
