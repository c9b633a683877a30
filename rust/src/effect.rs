//! What the TypeScript shim must do after Rust has decided.
//!
//! The core never calls the runtime: each decision is a list of [`Effect`]s,
//! which `js/index.ts` carries out in order with `WebSocket.send()` and
//! `WebSocket.close()`. TypeScript gets the type from tsify, so the shim's
//! `switch` on `kind` is checked against this enum.

use serde::Serialize;
use tsify::Tsify;

use crate::close::{clip_reason, CloseCode};
use crate::room::Attachment;

/// One thing to do, relative to the socket that raised the event.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Effect {
    /// Send `text` as a text frame to this socket.
    Reply { text: String },
    /// Send `text` to every socket tagged `tag` (`getWebSockets(tag)`), this
    /// one too unless `skip_self`. The tag is the room's for a broadcast, a
    /// member's id for a whisper: no scan of the sockets either way.
    Send {
        tag: String,
        text: String,
        skip_self: bool,
    },
    /// Store `attachment` on this socket (`serializeAttachment`), so it
    /// survives hibernation.
    Attach { attachment: Attachment },
    /// Close this socket with `code` and `reason`.
    Close {
        #[tsify(type = "number")]
        code: CloseCode,
        reason: String,
    },
}

impl Effect {
    /// A close whose reason is clipped to what a Close frame can carry.
    pub fn close(code: CloseCode, reason: &str) -> Self {
        Effect::Close {
            code,
            reason: clip_reason(reason).to_owned(),
        }
    }
}

/// The effects of one event, in the order they must happen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Tsify)]
pub struct Effects(pub Vec<Effect>);

impl Effects {
    /// Appends one effect.
    pub fn push(&mut self, effect: Effect) {
        self.0.push(effect);
    }
}

impl Effect {
    /// `text` to every socket of the room, this one too unless `skip_self`.
    pub fn broadcast(text: String, skip_self: bool) -> Self {
        Effect::Send {
            tag: crate::room::ROOM_TAG.to_owned(),
            text,
            skip_self,
        }
    }
}

impl From<Effect> for Effects {
    fn from(effect: Effect) -> Self {
        Effects(vec![effect])
    }
}
