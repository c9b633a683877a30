//! Everything TypeScript carries out: the core never calls the runtime, it
//! returns one of these and `js/index.ts` does what it says.
//!
//! - [`Route`]: what the Worker does with a request (forward it to a
//!   Durable Object, or answer it);
//! - [`Opening`]: what a Durable Object does with a request it receives
//!   (accept a socket, or answer);
//! - [`Effects`]: what it does after a socket event or when its alarm
//!   runs (send, attach, close, set the alarm).
//!
//! TypeScript gets each type from tsify (`pkg/core.d.ts`), and the shim's
//! `switch` statements over `kind` end in an exhaustiveness check, so a new
//! variant here fails `tsc` until the shim carries it out.

use serde::Serialize;
use tsify::Tsify;

use crate::close::{self, clip_reason, CloseCode};
use crate::config::ConfigError;
use crate::error::{CloseReason, HttpError};
use crate::socket::{Attachment, ROOM_TAG};
use crate::text::display;
use crate::wakes::Wakes;

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
    /// member's id for a whisper: no scan of the sockets either way. With
    /// a `seq`, `text` is a message first stored in the room's history as
    /// message `seq`, forgetting those up to `forget` (inclusive): no one
    /// gets a message that is not stored (see `perform` in `js/index.ts`).
    Send {
        tag: String,
        text: String,
        skip_self: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        seq: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        forget: Option<u64>,
        /// With a `seq`: the key a shard sent the message with, stored
        /// with it so that a retried send is stored once (see
        /// [`crate::shard`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        key: Option<String>,
    },
    /// Store `attachment` on this socket (`serializeAttachment`), so it
    /// survives hibernation.
    Attach { attachment: Attachment },
    /// Drop this socket's attachment (`serializeAttachment(null)`): its
    /// member has left, and neither its close nor a wake may bring it back.
    Detach,
    /// Start the room's history under `epoch` (SQLite: `js/history.ts`).
    Epoch { epoch: String },
    /// Send this socket a `history` frame: `head`, the stored messages
    /// with a seq above `after` (at most `count`, as stored, comma-separated)
    /// and `tail`. The shim splices the stored messages in, so a replay
    /// never passes through the Wasm memory (which never shrinks).
    Replay {
        head: String,
        after: u64,
        count: u32,
        tail: String,
    },
    /// Close this socket with `code` and `reason`.
    Close {
        #[tsify(type = "number")]
        code: CloseCode,
        reason: String,
    },
    /// Drop the attachment of every socket tagged `tag` (a member's id)
    /// and close it with `code` and `reason`: its member is gone, and
    /// neither its close nor a wake may bring it back. The alarm's way of
    /// closing a socket other than one that raised an event.
    Expel {
        tag: String,
        #[tsify(type = "number")]
        code: CloseCode,
        reason: String,
    },
    /// Set the object's one alarm to run at `at`, ms since the epoch
    /// (`ctx.storage.setAlarm`), replacing any other.
    SetAlarm { at: u64 },
    /// Store the object's wake record (`ctx.storage`, key `wakes`): the
    /// instance holds its first socket (see [`crate::wakes`]).
    StoreWakes { wakes: Wakes },
    /// Shard 0: call `deliver(epoch, after, seqs, frames)` on the shard
    /// whose object is `object`, with the stored messages with a seq above
    /// `after` (at most `count`; none for a call that only brings the shard
    /// up to date): the shard takes them if it holds every message up to
    /// `after`. If it answers with the seq it holds, carry out what
    /// `resend` decides. Tried up to [`CALL_ATTEMPTS`] times; not awaited
    /// by the event that raised it.
    Deliver {
        object: String,
        epoch: String,
        after: u64,
        count: u32,
    },
    /// A shard ≥ 1: call `publish(key, id, name, text, ts)` on shard 0
    /// (`object`), which numbers, stores and delivers the message; if
    /// every attempt fails, this socket gets what `failedFrame` says.
    Publish {
        object: String,
        key: String,
        id: String,
        name: String,
        text: String,
        ts: u64,
    },
    /// Call `whisper(to, text)` on the shard `object` that holds member
    /// `to`; if it does not, this socket gets what `unreached(to)` says.
    Relay {
        object: String,
        to: String,
        text: String,
    },
    /// Ask shard 0 (`object`) for the roster page after `after` (its
    /// `roster` method) and send the answer to this socket.
    Ask {
        object: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        after: Option<String>,
    },
    /// A shard ≥ 1: call `report(shard, members, version)` on shard 0
    /// (`object`): its count changed.
    Report {
        object: String,
        shard: u32,
        members: u64,
        version: u64,
    },
    /// Shard 0: store shard `shard`'s count (SQLite, `shards` table).
    Register {
        shard: u32,
        members: u64,
        version: u64,
    },
}

/// How many times the shim tries a call between objects (`Deliver`,
/// `Publish`, `Report`) before it gives up; a delivery that still fails is
/// made good by the next one (the shard then asks for what it missed).
/// The TypeScript type `CallAttempts` (`rust/src/wasm.rs`) is written from
/// the same literal, and the shim's constant is checked against it by `tsc`.
macro_rules! call_attempts {
    () => {
        3
    };
}
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_imports))]
pub(crate) use call_attempts;

/// How many times a call between objects is tried (the macro `call_attempts!` above writes it).
pub const CALL_ATTEMPTS: u32 = call_attempts!();

impl Effect {
    /// Closes this socket, saying why.
    pub fn close(why: &CloseReason) -> Self {
        Effect::Close {
            code: why.code(),
            reason: clip_reason(&display(why)).to_owned(),
        }
    }

    /// Expels the member whose socket is tagged `tag`, saying why.
    pub fn expel(tag: &str, why: &CloseReason) -> Self {
        match Effect::close(why) {
            Effect::Close { code, reason } => Effect::Expel {
                tag: tag.to_owned(),
                code,
                reason,
            },
            other => other,
        }
    }

    /// Completes the close handshake of a socket whose close the runtime
    /// reported with `code` (see [`close::answer`]).
    pub fn answer_close(code: u16) -> Self {
        Effect::Close {
            code: close::answer(code),
            reason: close::HANDSHAKE_REASON.to_owned(),
        }
    }

    /// `text` to every socket of the room, this one too unless `skip_self`.
    pub fn broadcast(text: String, skip_self: bool) -> Self {
        Effect::Send {
            tag: ROOM_TAG.to_owned(),
            text,
            skip_self,
            seq: None,
            forget: None,
            key: None,
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

    /// Appends all of `more`.
    pub fn extend(&mut self, more: Effects) {
        self.0.extend(more.0);
    }
}

impl From<Effect> for Effects {
    fn from(effect: Effect) -> Self {
        Effects(vec![effect])
    }
}

/// What the Worker does with a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Route {
    /// Hand the request to the Durable Object `idFromName(object)`, once
    /// the Rate Limiting binding allows one more request for `limit_key`
    /// (if any: see [`crate::http::address`]); else answer with
    /// [`HttpError::TooManyRequests`].
    Forward {
        object: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        limit_key: Option<String>,
    },
    /// Answer directly.
    Respond(HttpResponse),
}

impl Route {
    /// A JSON error answer: `{"error":{"code":…,"message":…}}`.
    pub fn error(error: &HttpError) -> Self {
        Route::Respond(HttpResponse::error(error))
    }
}

/// What the Durable Object does with a request it receives.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Opening {
    /// `/websocket`: accept a socket with these tags (its id, and its
    /// token's expiry), without attachment, then carry out the effects.
    Echo(Admission),
    /// A room upgrade: accept with these tags, then carry out the effects.
    Join(Admission),
    /// Answer with this response (stats, or a refusal).
    Respond(HttpResponse),
    /// Shard 0 of a full object: hand the upgrade to shard `shard` (the
    /// object `object`) with `headers` set (the room's member count,
    /// [`crate::shard::ROOM_COUNT_HEADER`]), after carrying out `sync`
    /// (bringing a shard with no members up to date); then tell `forwarded`
    /// how it answered, and answer the client with a `101` of its own.
    Forward {
        shard: u32,
        object: String,
        headers: Vec<(String, String)>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        sync: Option<Effect>,
    },
    /// Stats of a room on several shards: call `stats()` on each of
    /// `objects` (shards 1, 2, … in order) and give the answers to
    /// `surveyed`.
    Survey { objects: Vec<String> },
}

/// How an object admits a new socket.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Admission {
    /// The new socket's id.
    pub id: String,
    /// Tags to accept the socket with: a member's are its id and
    /// [`ROOM_TAG`].
    pub tags: Vec<String>,
    /// What to do once the socket is accepted: attach its state, welcome
    /// it, announce it to the others, store the wake record.
    pub effects: Effects,
    /// Headers of the `101` answer: on a shard ≥ 1, its count with this
    /// member in ([`crate::shard::COUNT_HEADER`]), which shard 0 reads and
    /// removes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[tsify(optional)]
    pub headers: Vec<(String, String)>,
}

/// An HTTP answer decided in Rust, built into a `Response` by TypeScript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    pub status: u16,
    pub status_text: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// A line for the operator's log (`console.error`), if the answer
    /// comes from a fault on the server's side.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub log: Option<String>,
}

impl HttpResponse {
    /// A JSON error answer: `{"error":{"code":…,"message":…}}`.
    pub fn error(error: &HttpError) -> Self {
        let mut headers = vec![(
            "Content-Type".to_owned(),
            "application/json;charset=UTF-8".to_owned(),
        )];
        headers.extend(
            error
                .headers()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        HttpResponse {
            status: error.status(),
            status_text: error.status_text().into(),
            headers,
            body: Some(error.to_json()),
            log: None,
        }
    }

    /// `500` JSON `bad_config`, with the full explanation for the log.
    pub fn bad_config(error: &ConfigError) -> Self {
        HttpResponse {
            log: Some(display(error)),
            ..HttpResponse::error(&HttpError::BadConfig { name: error.name })
        }
    }

    /// A `200` JSON answer.
    pub fn json(body: String) -> Self {
        HttpResponse {
            status: 200,
            status_text: "OK".into(),
            headers: vec![(
                "Content-Type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body: Some(body),
            log: None,
        }
    }

    /// A plain-text answer (the seed example's routes).
    pub fn text(
        status: u16,
        status_text: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Self {
        HttpResponse {
            status,
            status_text: status_text.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.map(str::to_owned),
            log: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_carries_its_reasons_code_and_a_sendable_reason() {
        let Effect::Close { code, reason } = Effect::close(&CloseReason::TooBig {
            bytes: 70_000,
            max: 65_536,
            exact: true,
        }) else {
            panic!("expected a close");
        };
        assert_eq!(code.get(), 1009);
        assert_eq!(reason, "frame of 70000 bytes is over the limit of 65536");
        assert_eq!(
            Effect::answer_close(1005),
            Effect::Close {
                code: CloseCode::NORMAL,
                reason: "Durable Object is closing WebSocket".into()
            }
        );
    }
}
