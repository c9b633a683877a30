//! What the server keeps on each socket, so that it survives hibernation:
//! its tags (what kind of socket it is, and which member) and its
//! attachment (the member's state).
//!
//! Both are written once by the runtime on the server's behalf: tags when the
//! socket is accepted (`ctx.acceptWebSocket(ws, tags)`, read back with
//! `ctx.getTags(ws)`), the attachment with `serializeAttachment` (at most
//! 16 KiB; this one is well under 300 bytes). A woken object learns
//! everything about a socket from these two.

use serde::Serialize;
use tsify::Tsify;

use crate::limit::Bucket;
use crate::liveness::Activity;
use crate::records::{Item, Record};

/// The tag every room socket carries besides its id, so a broadcast is
/// `getWebSockets("room")` and leaves `/websocket` sockets of the same
/// object alone. Member ids are at least 8 characters, so no id equals it.
/// The TypeScript type `RoomTag` (`rust/src/wasm.rs`) is written from the
/// same literal: the shim's delivery from another shard (`deliver` in
/// `js/index.ts`) broadcasts with a constant of that type.
macro_rules! room_tag {
    () => {
        "room"
    };
}
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_imports))]
pub(crate) use room_tag;

/// The room tag (the macro `room_tag!` above writes it).
pub const ROOM_TAG: &str = room_tag!();

/// The start of a `/websocket` socket's id tag. Member ids are base64url,
/// which has no `:`, so no echo tag is ever a member's id (a whisper to an
/// id reaches members only).
pub const ECHO_TAG: &str = "echo:";

/// The start of the tag that holds the expiry (Unix seconds) of the token
/// a `/websocket` socket was opened with. (A member keeps its token's
/// expiry in its attachment.)
pub const EXPIRY_TAG: &str = "exp:";

/// What a socket is, read from the tags it was accepted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A `/websocket` socket, with its id tag ([`ECHO_TAG`]); `None` for
    /// one accepted without tags, before sockets had ids.
    Echo(Option<&'a str>),
    /// A room member's socket: tagged with [`ROOM_TAG`] and its id. An id
    /// may be empty if the tags were damaged; the room then knows no such
    /// member and closes the socket.
    Member(&'a str),
}

impl<'a> Kind<'a> {
    /// The kind of a socket with `tags`, as `ctx.getTags(ws)` returns them.
    pub fn of(tags: &'a [String]) -> Kind<'a> {
        if !tags.iter().any(|tag| tag == ROOM_TAG) {
            let id = tags.iter().find(|tag| tag.starts_with(ECHO_TAG));
            return Kind::Echo(id.map(String::as_str));
        }
        let id = tags.iter().find(|tag| *tag != ROOM_TAG);
        Kind::Member(id.map_or("", String::as_str))
    }
}

/// The token expiry a socket's tags hold ([`EXPIRY_TAG`]), if any.
pub fn expiry(tags: &[String]) -> Option<u64> {
    tags.iter()
        .find_map(|tag| tag.strip_prefix(EXPIRY_TAG)?.parse().ok())
}

/// A room member's state, stored on its socket.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
pub struct Attachment {
    /// Random, URL-safe, unique in the room; also the socket's tag.
    pub id: String,
    /// Display name, valid by [`crate::protocol::name`].
    pub name: String,
    /// When the connection joined, ms since the epoch.
    pub joined_at: u64,
    /// The token's subject when `AUTH_SECRET` is set; the name then comes
    /// from the token and cannot change.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub sub: Option<String>,
    /// The connection's rate limit bucket, here so that it survives
    /// hibernation (a client cannot refill it by waiting for an eviction:
    /// it is stored whenever it is not at rest, see
    /// [`crate::room::stored`]).
    pub bucket: Bucket,
    /// When the token the member joined with expires (Unix seconds, its
    /// `exp`), when `AUTH_SECRET` is set: its first frame at or after that
    /// closes the socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub exp: Option<u64>,
    /// When a `typing` of this member was last relayed, ms since the epoch;
    /// here so that an eviction does not reopen its 2 s window. Absent until
    /// the first relay, and in attachments stored before typing existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub typing_at: Option<u64>,
}

impl Attachment {
    /// The attachment as `serializeAttachment` stored it (see
    /// [`crate::records`]). `sub`, `exp` and `typing_at` may be absent; so
    /// may `bucket`, in an attachment stored before buckets existed: it then
    /// gets a full one.
    pub fn read(record: Record<'_>) -> Option<Attachment> {
        Some(Attachment {
            id: record.str("id")?.to_owned(),
            name: record.str("name")?.to_owned(),
            joined_at: record.u64("joined_at")?,
            sub: record.optional("sub", |value| value.as_str().map(str::to_owned))?,
            bucket: record
                .optional("bucket", |value| Bucket::read(Record::of(value)?))?
                .unwrap_or_default(),
            exp: record.optional("exp", Item::as_u64)?,
            typing_at: record.optional("typing_at", Item::as_u64)?,
        })
    }

    /// When the member last showed it was alive, as far as the room knows
    /// (the runtime's last `pong` to it comes from the shim): its join, and
    /// its last frame, read from its bucket's `updated_at`, which every
    /// frame but one too big to serve moves (see [`crate::liveness`]).
    pub fn activity(&self, pinged_at: Option<u64>) -> Activity {
        Activity {
            since: self.joined_at,
            frame_at: Some(self.bucket.updated_at),
            pinged_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|tag| (*tag).to_owned()).collect()
    }

    #[test]
    fn kind_comes_from_the_tags() {
        let table: &[(&[&str], Kind)] = &[
            (&[], Kind::Echo(None)),
            (&["abcdefgh"], Kind::Echo(None)),
            (&["echo:abc"], Kind::Echo(Some("echo:abc"))),
            (&["exp:99", "echo:abc"], Kind::Echo(Some("echo:abc"))),
            (&["abcdefgh", "room"], Kind::Member("abcdefgh")),
            (&["room", "abcdefgh"], Kind::Member("abcdefgh")),
            (&["room"], Kind::Member("")),
        ];
        for (list, want) in table {
            let tags = tags(list);
            assert_eq!(Kind::of(&tags), *want, "{list:?}");
        }
        assert_eq!(
            expiry(&tags(&["echo:abc", "exp:1764300000"])),
            Some(1_764_300_000)
        );
        assert_eq!(expiry(&tags(&["echo:abc", "exp:x"])), None);
        assert_eq!(expiry(&tags(&["echo:abc"])), None);
    }

    #[test]
    fn unreadable_attachments_are_refused() {
        for json in [
            r#"{"name":"Ada","joined_at":1}"#,
            r#"{"id":7,"name":"Ada","joined_at":1}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":-1}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1.5}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"sub":5}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"typing_at":"1"}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"typing_at":-1}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"bucket":{"milli_tokens":1}}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"bucket":{"milli_tokens":4294967296,"updated_at":0,"dropped":0}}"#,
            r#"["abcdefgh","Ada",1]"#,
        ] {
            assert_eq!(
                crate::records::parse(json.as_bytes(), Attachment::read),
                None,
                "{json}"
            );
        }
    }
}
