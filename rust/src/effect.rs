//! What the TypeScript shim must do after Rust has decided.
//!
//! The core never calls the runtime: each decision is a list of [`Effect`]s,
//! which `js/index.ts` carries out in order with `WebSocket.send()` and
//! `WebSocket.close()`. TypeScript gets the type from tsify, so the shim's
//! `switch` on `kind` is checked against this enum.

use serde::Serialize;
use tsify::Tsify;

use crate::close::{clip_reason, CloseCode};

/// One thing to do on the socket that raised the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Send `text` as a text frame to this socket.
    Reply { text: String },
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Tsify)]
pub struct Effects(pub Vec<Effect>);

impl From<Effect> for Effects {
    fn from(effect: Effect) -> Self {
        Effects(vec![effect])
    }
}
