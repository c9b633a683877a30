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
use serde_json::Value;
use tsify::Tsify;

use crate::limit::Bucket;
use crate::liveness::Activity;
use crate::records::Record;

/// The tag every room socket carries besides its id, so a broadcast is
/// `getWebSockets("room")` and leaves `/websocket` sockets of the same
/// object alone. Member ids are at least 8 characters, so no id equals it.
pub const ROOM_TAG: &str = "room";

/// What a socket is, read from the tags it was accepted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A `/websocket` socket: accepted without tags.
    Echo,
    /// A room member's socket: tagged with [`ROOM_TAG`] and its id. An id
    /// may be empty if the tags were damaged; the room then knows no such
    /// member and closes the socket.
    Member(&'a str),
}

impl<'a> Kind<'a> {
    /// The kind of a socket with `tags`, as `ctx.getTags(ws)` returns them.
    pub fn of(tags: &'a [String]) -> Kind<'a> {
        if !tags.iter().any(|tag| tag == ROOM_TAG) {
            return Kind::Echo;
        }
        let id = tags.iter().find(|tag| *tag != ROOM_TAG);
        Kind::Member(id.map_or("", String::as_str))
    }
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
    /// hibernation (a client cannot refill it by waiting for an eviction).
    pub bucket: Bucket,
    /// When a `typing` of this member was last relayed, ms since the epoch;
    /// here so that an eviction does not reopen its 2 s window. Absent until
    /// the first relay, and in attachments stored before typing existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    pub typing_at: Option<u64>,
}

impl Attachment {
    /// The attachment as `serializeAttachment` stored it (see
    /// [`crate::records`]). `sub` and `typing_at` may be absent; so may
    /// `bucket`, in an attachment stored before buckets existed: it then
    /// gets a full one.
    pub fn read(record: Record<'_>) -> Option<Attachment> {
        Some(Attachment {
            id: record.str("id")?.to_owned(),
            name: record.str("name")?.to_owned(),
            joined_at: record.u64("joined_at")?,
            sub: record.optional("sub", |value: &Value| value.as_str().map(str::to_owned))?,
            bucket: record
                .optional("bucket", |value| Bucket::read(Record::of(value)?))?
                .unwrap_or_default(),
            typing_at: record.optional("typing_at", Value::as_u64)?,
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
            (&[], Kind::Echo),
            (&["abcdefgh"], Kind::Echo),
            (&["abcdefgh", "room"], Kind::Member("abcdefgh")),
            (&["room", "abcdefgh"], Kind::Member("abcdefgh")),
            (&["room"], Kind::Member("")),
        ];
        for (list, want) in table {
            let tags = tags(list);
            assert_eq!(Kind::of(&tags), *want, "{list:?}");
        }
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
