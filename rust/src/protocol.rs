//! The wire: a data frame as it arrives ([`Frame`]), and the room
//! protocol's JSON text frames, defined once here.
//!
//! TypeScript gets [`ClientFrame`] and [`ServerFrame`] from tsify (in
//! `pkg/core.d.ts`), so the client in `js/client.ts` and every test are
//! checked against these definitions. [`parse`] reads a client frame with
//! the same tags and field names serde writes (a property test in
//! `rust/tests/properties.rs` serialises every `ClientFrame` and parses it
//! back), but validates each field and answers with a precise [`Error`].

use serde::{Deserialize, Serialize};
use tsify::Tsify;

use crate::error::{CloseReason, Error, ErrorCode, Result};
use crate::invisible;
use crate::limit;
use crate::records::{self, Item, Unreadable};
use crate::text::display;

/// Longest `text` of `say` and `whisper`, in characters, unless
/// `MAX_TEXT_CHARS` says otherwise (see [`crate::config`]).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest display name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 32;

/// A data frame as the runtime hands it to `webSocketMessage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A text frame (the runtime has already checked it is UTF-8).
    Text(&'a str),
    /// A text frame of at least this many bytes, over `MAX_MESSAGE_BYTES`,
    /// that was never copied whole into the core (see
    /// [`limit::text_by_length`]).
    LongText(usize),
    /// A binary frame of this many bytes (its content is never needed to
    /// decide, so it does not cross the wasm boundary).
    Binary(usize),
}

impl<'a> Frame<'a> {
    /// The frame's size in bytes (for a [`Frame::LongText`], the least it
    /// can be).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::LongText(units) => *units,
            Frame::Binary(len) => *len,
        }
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame if it is within `max_message_bytes` (`MAX_MESSAGE_BYTES`),
    /// else why it is refused. A [`Frame::LongText`] is over it by
    /// construction.
    pub fn within(self, max_message_bytes: u32) -> Result<Payload<'a>, CloseReason> {
        let too_big = |bytes, exact| CloseReason::TooBig {
            bytes,
            max: max_message_bytes,
            exact,
        };
        match self {
            Frame::LongText(units) => Err(too_big(units, false)),
            _ if limit::too_large(self.len(), max_message_bytes) => Err(too_big(self.len(), true)),
            Frame::Text(text) => Ok(Payload::Text(text)),
            Frame::Binary(len) => Ok(Payload::Binary(len)),
        }
    }
}

/// A frame within `MAX_MESSAGE_BYTES` ([`Frame::within`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame of this many bytes.
    Binary(usize),
}

/// A connection as others see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Tsify)]
pub struct Peer {
    pub id: String,
    pub name: String,
}

/// A frame a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Tsify)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Say `text` to everyone in the room, the sender included.
    Say { text: String },
    /// Say `text` to the connection `to` only.
    Whisper { to: String, text: String },
    /// Change one's display name.
    Hello { name: String },
    /// Ask for a page of the roster: the first, or the one `after` the
    /// cursor a roster gave as `next` (opaque; still valid after its member
    /// left).
    Who {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        after: Option<String>,
    },
    /// Application-level ping; answered with `pong`. (The bare text `ping` is
    /// answered by the runtime without waking the object.)
    Ping,
    /// The sender is typing: the others get `typing` (decided in
    /// `room/typing.rs`). Nothing is answered, and nothing stored but the time.
    Typing,
}

/// A frame the server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Tsify)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// To a new connection: who it is, how many are there (itself
    /// included) and who: itself and the first `presence_limit − 1` others,
    /// in join order. `connections` is everyone when `count ≤ presence_limit`.
    /// With history on, the room's `epoch` and the `seq` of its last
    /// message (0 if none); a `history` frame follows.
    Welcome {
        id: String,
        room: String,
        count: u32,
        presence_limit: u32,
        connections: Vec<Peer>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        epoch: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        seq: Option<u64>,
    },
    /// To the others: a connection joined; sent only while `count`, the
    /// members now, is at most the presence limit.
    Joined {
        id: String,
        name: String,
        count: u32,
    },
    /// To the others: a connection closed or dropped; sent only while
    /// `count`, the members after it left, is at most the presence limit.
    Left {
        id: String,
        name: String,
        count: u32,
    },
    /// A `say`, to everyone. With history on, `seq` numbers it: strictly
    /// increasing per room from 1, never reused.
    Message {
        id: String,
        name: String,
        text: String,
        ts: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        seq: Option<u64>,
    },
    /// Right after `welcome`, with history on: the messages a resume
    /// (`?since=S&epoch=E`) missed, exactly those with `seq > S` and
    /// `recovered: true`; otherwise the latest kept ones (at most
    /// `HISTORY_ON_JOIN`) and `recovered: false`. Built from the stored
    /// frames by [`crate::room::history::frame`].
    History {
        recovered: bool,
        #[tsify(type = "Array<Extract<ServerFrame, { type: \"message\" }>>")]
        messages: Vec<ServerFrame>,
    },
    /// A `whisper`, to its recipient.
    Whisper {
        id: String,
        name: String,
        text: String,
        ts: u64,
    },
    /// A connection changed its name: to everyone while the room holds at
    /// most the presence limit, to the renamer alone above it.
    Renamed { id: String, name: String },
    /// To the sender of `who`: `count` members, a page of at most the
    /// presence limit in join order, and the cursor of the next page
    /// (absent on the last).
    Roster {
        count: u32,
        connections: Vec<Peer>,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[tsify(optional)]
        next: Option<String>,
    },
    /// To the sender of `ping`.
    Pong,
    /// To the others: member `id` is typing. At most one per member per
    /// 2 s, only while the room holds at most the presence limit; never
    /// stored or replayed (`room/typing.rs`).
    Typing { id: String, name: String },
    /// A refused frame; the connection stays open.
    Error {
        #[tsify(type = "ErrorCode")]
        code: ErrorCode,
        message: String,
    },
}

impl ServerFrame {
    /// The error frame for `error`.
    pub fn error(error: &Error) -> Self {
        ServerFrame::Error {
            code: error.code(),
            message: display(error),
        }
    }

    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: string keys, no maps with
        // non-string keys, no floats.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Parses and validates one client text frame; a `text` field may hold at
/// most `max_text_chars` characters.
///
/// The frame is read by [`records::object`], never into a
/// `serde_json::Value`: the five fields a frame may use are kept, any other
/// value is read and dropped as it goes, and anything but an object is
/// refused at its first byte. So a frame costs at most about its own size
/// in memory whatever its shape, where a `Value` of `[0,0,…]` cost 24 bytes
/// per 2-byte element (a 2 MiB frame grew the Wasm memory to 51.6 MiB).
/// The nesting limit (128 levels, as serde_json's) bounds the recursion.
pub fn parse(text: &str, max_text_chars: usize) -> Result<ClientFrame> {
    let keep = |key: &str| matches!(key, "type" | "text" | "to" | "name" | "after");
    let mut fields = records::object(text, &keep, false).map_err(|error| match error {
        Unreadable::NotObject => Error::NotObject,
        Unreadable::BadJson(error) => Error::BadJson {
            detail: display(&error),
        },
    })?;
    let kind = match fields.take("type") {
        Some(Item::Str(kind)) => kind,
        _ => return Err(Error::MissingType),
    };
    let mut field = |name| fields.take(name);
    let frame = match kind.as_str() {
        "say" => ClientFrame::Say {
            text: text_field(field("text"), "text", max_text_chars)?,
        },
        "whisper" => ClientFrame::Whisper {
            to: string_field(field("to"), "to")?,
            text: text_field(field("text"), "text", max_text_chars)?,
        },
        "hello" => ClientFrame::Hello {
            name: name(&string_field(field("name"), "name")?)?,
        },
        "who" => ClientFrame::Who {
            after: match field("after") {
                None => None,
                value => Some(string_field(value, "after")?),
            },
        },
        "ping" => ClientFrame::Ping,
        "typing" => ClientFrame::Typing,
        other => {
            return Err(Error::UnknownType {
                kind: other.chars().take(64).collect(),
            })
        }
    };
    Ok(frame)
}

fn string_field(value: Option<Item>, field: &'static str) -> Result<String> {
    match value {
        Some(Item::Str(value)) => Ok(value),
        Some(other) => Err(Error::InvalidField {
            field,
            detail: format!("expected a string, got {}", other.kind()),
        }),
        None => Err(Error::InvalidField {
            field,
            detail: "missing".into(),
        }),
    }
}

fn text_field(value: Option<Item>, field: &'static str, max: usize) -> Result<String> {
    let text = string_field(value, field)?;
    let len = text.chars().count();
    if len > max {
        return Err(Error::TooLong { field, len, max });
    }
    if text.trim().is_empty() {
        return Err(Error::Empty { field });
    }
    Ok(text)
}

/// Validates a display name: trimmed, 1–32 characters, no control
/// characters and nothing a reader cannot see (see [`crate::invisible`]):
/// `Ada\u{200B}` must not pass for `Ada`.
pub fn name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::Empty { field: "name" });
    }
    let len = name.chars().count();
    if len > MAX_NAME_CHARS {
        return Err(Error::TooLong {
            field: "name",
            len,
            max: MAX_NAME_CHARS,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(Error::ControlCharacter { field: "name" });
    }
    if let Some(ch) = name.chars().find(|&ch| invisible::is_invisible(ch)) {
        return Err(Error::InvisibleCharacter { field: "name", ch });
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_frame() {
        let table: &[(&str, ClientFrame)] = &[
            (
                r#"{"type":"say","text":"hi"}"#,
                ClientFrame::Say { text: "hi".into() },
            ),
            (
                r#"{"type":"whisper","to":"abc","text":"psst"}"#,
                ClientFrame::Whisper {
                    to: "abc".into(),
                    text: "psst".into(),
                },
            ),
            (
                r#"{"type":"hello","name":"  Ada "}"#,
                ClientFrame::Hello { name: "Ada".into() },
            ),
            (r#"{"type":"who"}"#, ClientFrame::Who { after: None }),
            (
                r#"{"type":"who","after":"abcdefgh"}"#,
                ClientFrame::Who {
                    after: Some("abcdefgh".into()),
                },
            ),
            (r#"{"type":"ping","extra":1}"#, ClientFrame::Ping),
            (r#"{"type":"typing"}"#, ClientFrame::Typing),
            (r#"{"type":"typing","text":"ignored"}"#, ClientFrame::Typing),
        ];
        for (text, want) in table {
            assert_eq!(parse(text, MAX_TEXT_CHARS).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_bad_frames_with_their_code() {
        let long_text = format!(
            r#"{{"type":"say","text":"{}"}}"#,
            "x".repeat(MAX_TEXT_CHARS + 1)
        );
        let table: &[(&str, ErrorCode)] = &[
            ("not json", ErrorCode::BadJson),
            ("", ErrorCode::BadJson),
            ("[1,2]", ErrorCode::BadJson),
            ("\"say\"", ErrorCode::BadJson),
            ("{}", ErrorCode::UnknownType),
            (r#"{"type":5}"#, ErrorCode::UnknownType),
            (r#"{"type":"shout"}"#, ErrorCode::UnknownType),
            (r#"{"type":"say"}"#, ErrorCode::InvalidField),
            (r#"{"type":"say","text":5}"#, ErrorCode::InvalidField),
            (r#"{"type":"say","text":"   "}"#, ErrorCode::InvalidField),
            (&long_text, ErrorCode::InvalidField),
            (r#"{"type":"whisper","text":"x"}"#, ErrorCode::InvalidField),
            (r#"{"type":"hello","name":""}"#, ErrorCode::InvalidField),
            (r#"{"type":"who","after":7}"#, ErrorCode::InvalidField),
            (r#"{"type":"who","after":null}"#, ErrorCode::InvalidField),
            (
                r#"{"type":"hello","name":"a\u0007b"}"#,
                ErrorCode::InvalidField,
            ),
        ];
        for (text, want) in table {
            assert_eq!(
                parse(text, MAX_TEXT_CHARS).map_err(|e| e.code()),
                Err(*want),
                "{text}"
            );
        }
    }

    #[test]
    fn reads_only_the_fields_it_needs_in_any_order() {
        let deep = |depth: usize| {
            format!(
                r#"{{"type":"ping","skip":{}0{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let zeros = format!("[{}0]", "0,".repeat(100_000));
        let table: &[(&str, std::result::Result<ClientFrame, ErrorCode>)] = &[
            (
                r#"{"text":"hi","x":{"y":[1,2.5e300,null]},"type":"say"}"#,
                Ok(ClientFrame::Say { text: "hi".into() }),
            ),
            (
                r#"{"type":"say","text":"a","text":"b"}"#,
                Ok(ClientFrame::Say { text: "b".into() }),
            ),
            (
                r#"{"type":"ping","type":"shout"}"#,
                Err(ErrorCode::UnknownType),
            ),
            // Deeper than serde_json's nesting limit of 128: refused, never
            // a stack overflow.
            (&deep(126), Ok(ClientFrame::Ping)),
            (&deep(128), Err(ErrorCode::BadJson)),
            (&deep(100_000), Err(ErrorCode::BadJson)),
            (
                &format!(r#"{{"type":"say","text":{}"#, "[".repeat(100_000)),
                Err(ErrorCode::BadJson),
            ),
            (&zeros, Err(ErrorCode::BadJson)),
            (
                &format!("{{{}", "[".repeat(100_000)),
                Err(ErrorCode::BadJson),
            ),
            (
                r#"{"type":"say","text":["x"]}"#,
                Err(ErrorCode::InvalidField),
            ),
            (r#"{"type":"say","text":{}}"#, Err(ErrorCode::InvalidField)),
            (r#"{"type":"ping"} {}"#, Err(ErrorCode::BadJson)),
            (r#"{"type":"ping"}x"#, Err(ErrorCode::BadJson)),
            (r#"{"type":"ping""#, Err(ErrorCode::BadJson)),
            ("  {\"type\":\"ping\"}\n", Ok(ClientFrame::Ping)),
        ];
        for (text, want) in table {
            let got = parse(text, MAX_TEXT_CHARS).map_err(|e| e.code());
            assert_eq!(&got, want, "{}", &text[..text.len().min(60)]);
        }
        assert_eq!(parse(&zeros, MAX_TEXT_CHARS), Err(Error::NotObject));
        assert_eq!(
            parse(r#"{"type":"who","after":[1]}"#, MAX_TEXT_CHARS),
            Err(Error::InvalidField {
                field: "after",
                detail: "expected a string, got an array".into()
            })
        );
        assert!(matches!(
            parse("nope", MAX_TEXT_CHARS),
            Err(Error::BadJson { detail }) if detail == "expected ident at line 1 column 2"
        ));
    }

    #[test]
    fn text_limit_counts_characters_not_bytes() {
        let at_limit = format!(
            r#"{{"type":"say","text":"{}"}}"#,
            "é".repeat(MAX_TEXT_CHARS)
        );
        assert!(parse(&at_limit, MAX_TEXT_CHARS).is_ok());
        let over = format!(
            r#"{{"type":"say","text":"{}"}}"#,
            "é".repeat(MAX_TEXT_CHARS + 1)
        );
        assert_eq!(
            parse(&over, MAX_TEXT_CHARS),
            Err(Error::TooLong {
                field: "text",
                len: MAX_TEXT_CHARS + 1,
                max: MAX_TEXT_CHARS
            })
        );
    }

    #[test]
    fn names() {
        assert_eq!(name(" Ada Lovelace ").as_deref(), Ok("Ada Lovelace"));
        assert_eq!(name(&"n".repeat(32)).map(|n| n.len()), Ok(32));
        assert!(matches!(
            name(&"n".repeat(33)),
            Err(Error::TooLong {
                len: 33,
                max: 32,
                ..
            })
        ));
        assert_eq!(name("\t\n"), Err(Error::Empty { field: "name" }));
        assert_eq!(
            name("a\u{7f}"),
            Err(Error::ControlCharacter { field: "name" })
        );
        // The review's look-alikes: zero width space, right-to-left
        // override, left-to-right isolate, BOM, line separator.
        for (raw, ch) in [
            ("Ada\u{200B}", '\u{200B}'),
            ("\u{202E}adA", '\u{202E}'),
            ("A\u{2066}da", '\u{2066}'),
            ("\u{FEFF}Ada", '\u{FEFF}'),
            ("Ada\u{2028}Bob", '\u{2028}'),
        ] {
            assert_eq!(
                name(raw),
                Err(Error::InvisibleCharacter { field: "name", ch }),
                "{raw:?}"
            );
        }
        assert_eq!(
            Error::InvisibleCharacter {
                field: "name",
                ch: '\u{200B}'
            }
            .to_string(),
            "field \"name\" must not contain U+200B, a character that is invisible or reorders text"
        );
        assert_eq!(name("Zoë 👋🏽").as_deref(), Ok("Zoë 👋🏽"));
    }

    #[test]
    fn server_frames_serialise_with_a_type() {
        assert_eq!(ServerFrame::Pong.to_json(), r#"{"type":"pong"}"#);
        assert_eq!(
            ServerFrame::error(&Error::WhisperToSelf).to_json(),
            r#"{"type":"error","code":"unknown_recipient","message":"cannot whisper to yourself"}"#
        );
        assert_eq!(
            ServerFrame::Joined {
                id: "i".into(),
                name: "n".into(),
                count: 2
            }
            .to_json(),
            r#"{"type":"joined","id":"i","name":"n","count":2}"#
        );
        let peer = Peer {
            id: "i".into(),
            name: "n".into(),
        };
        assert_eq!(
            ServerFrame::Roster {
                count: 3,
                connections: vec![peer.clone()],
                next: Some("i".into())
            }
            .to_json(),
            r#"{"type":"roster","count":3,"connections":[{"id":"i","name":"n"}],"next":"i"}"#
        );
        assert_eq!(
            ServerFrame::Roster {
                count: 1,
                connections: vec![peer],
                next: None
            }
            .to_json(),
            r#"{"type":"roster","count":1,"connections":[{"id":"i","name":"n"}]}"#
        );
        assert_eq!(
            ServerFrame::Typing {
                id: "i".into(),
                name: "n".into()
            }
            .to_json(),
            r#"{"type":"typing","id":"i","name":"n"}"#
        );
    }
}
