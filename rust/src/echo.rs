//! `/websocket`: Cloudflare's "WebSocket server with WebSocket Hibernation"
//! example (the project's starting point), decided in Rust.
//!
//! Every text frame is answered with the text and the number of open sockets;
//! a client's Close is completed with the client's code.

use std::collections::HashMap;

use crate::error::CloseReason;
use crate::outcome::{Effect, Effects};
use crate::protocol::{Frame, Payload};
use crate::socket::ECHO_TAG;
use crate::text::{base64url, display};

/// The `/websocket` sockets an object holds, by their id tags, so they are
/// counted exactly without listing the runtime's sockets on every frame:
/// a socket counts from its upgrade (or its adoption after a wake) until
/// its first close or error, whatever order the runtime reports them in,
/// and a close of a socket that closed while the object was evicted (never
/// adopted) counts nothing.
#[derive(Clone, Debug, Default)]
pub struct Sockets {
    /// By id tag. (A map of the type the room's index uses, not a set: the
    /// module then carries one hash table's code, not two.)
    ids: HashMap<String, u64>,
    /// Sockets accepted without an id tag, before sockets had one.
    untagged: usize,
}

impl Sockets {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.ids.len() + self.untagged
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new socket: its id tag, made from `entropy` (random bytes from the
    /// runtime), unique among them.
    pub fn open(&mut self, entropy: &[u8]) -> String {
        let mut id = format!("{ECHO_TAG}{}", base64url(entropy));
        let mut n = self.ids.len() as u64;
        while self.ids.contains_key(&id) {
            id.push_str(&display(&n));
            n = n.wrapping_add(1);
        }
        self.ids.insert(id.clone(), 0);
        id
    }

    /// A socket found open after a wake.
    pub fn adopt(&mut self, id: Option<&str>) {
        match id {
            Some(id) => {
                self.ids.insert(id.to_owned(), 0);
            }
            None => self.untagged += 1,
        }
    }

    /// A socket closed, failed, or was closed by the server.
    pub fn leave(&mut self, id: Option<&str>) {
        match id {
            Some(id) => {
                self.ids.remove(id);
            }
            None => self.untagged = self.untagged.saturating_sub(1),
        }
    }
}

/// The reply to a text frame, word for word the example's: written into a
/// buffer of its size (a `format!` would grow it by doubling, and a large
/// frame would leave twice its size in Wasm memory).
pub fn reply_text(message: &str, connections: u64) -> String {
    let mut reply = String::with_capacity(message.len() + 64);
    reply.push_str("[Durable Object] message: ");
    reply.push_str(message);
    reply.push_str(", connections: ");
    reply.push_str(&display(&connections));
    reply
}

/// Decides the answer to one frame, given how many sockets the object holds
/// (of both kinds: the example counted every socket of the object) and the
/// largest frame it takes (`MAX_MESSAGE_BYTES`).
///
/// A frame over the limit closes the socket with 1009. Binary frames are
/// refused with 1003, rather than echoing `[object ArrayBuffer]` as the
/// example did.
pub fn on_message(frame: Frame<'_>, connections: u64, max_message_bytes: u32) -> Effects {
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
    fn sockets_count_each_socket_once_whatever_the_order_of_events() {
        let mut sockets = Sockets::default();
        let a = sockets.open(&[1; 9]);
        let b = sockets.open(&[1; 9]);
        assert!(a.starts_with(ECHO_TAG) && a != b, "{a} {b}");
        assert_eq!(sockets.len(), 2);
        // An error, then the close of the same socket.
        sockets.leave(Some(&a));
        sockets.leave(Some(&a));
        assert_eq!(sockets.len(), 1);
        // A socket that closed while the object was evicted: never adopted.
        let mut woken = Sockets::default();
        woken.adopt(Some(&b));
        woken.leave(Some("echo:closed-while-evicted"));
        assert_eq!(woken.len(), 1);
        // Untagged sockets (accepted before tags) count too, never below 0.
        woken.adopt(None);
        woken.leave(None);
        woken.leave(None);
        assert_eq!(woken.len(), 1);
        woken.leave(Some(&b));
        assert!(woken.is_empty());
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
