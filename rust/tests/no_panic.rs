//! The core must not panic on any input, and what it decides must stay
//! something a client can receive: property tests over every parser and
//! decision function, fed arbitrary strings, bytes, codes and clocks.
//!
//! The run is bounded (256 cases per property unless `PROPTEST_CASES` says
//! otherwise) so it is part of `npm test`. A failure prints the shrunk input;
//! nothing is persisted to `proptest-regressions/`: the case becomes a unit
//! test next to the code it broke, where a reader finds it.

use std::collections::{BTreeMap, HashSet};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};

use websocket_hibernation_server::close::{clip_reason, CloseCode, MAX_REASON_BYTES};
use websocket_hibernation_server::config::{self, Config};
use websocket_hibernation_server::effect::{Effect, Effects};
use websocket_hibernation_server::error::HttpError;
use websocket_hibernation_server::limit::{too_large, Bucket, Rate, Verdict, STRIKE_BURSTS};
use websocket_hibernation_server::protocol::{self, ClientFrame, ServerFrame, MAX_NAME_CHARS};
use websocket_hibernation_server::record::Record;
use websocket_hibernation_server::room::{Attachment, Opening, Room, ROOM_TAG};
use websocket_hibernation_server::route::{
    self, check_room, is_websocket_upgrade, query_param, room_target, split_url, HttpResponse,
    RequestHead, Route,
};
use websocket_hibernation_server::seed::{self, Frame};
use websocket_hibernation_server::token::{self, Claims, MAX_TOKEN_BYTES};

/// 256 cases per property, or `PROPTEST_CASES`; no failure files.
fn bounded() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            256
        },
        failure_persistence: None,
        ..default
    }
}

// ---------------------------------------------------------------- inputs

/// Any string: arbitrary Unicode, bytes read as lossy UTF-8, or printable
/// ASCII rich in the characters parsers split on.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<u8>(), 0..48).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[ -~]{0,40}",
        "[a-z0-9:/?#&=%+.\\[\\]@ ,_-]{0,40}",
        Just(String::new()),
    ]
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            vec((any_text(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A field value for a frame: usually a string, sometimes any JSON, sometimes absent.
fn field() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        6 => any_text().prop_map(|s| Some(Value::from(s))),
        1 => "[a-zA-Z]{1,12}".prop_map(|s| Some(Value::from(s))),
        1 => any_json().prop_map(Some),
        1 => Just(None),
    ]
}

/// How a frame names a whisper's recipient.
#[derive(Clone, Debug)]
enum To {
    /// A member of the room, picked when the frame is sent.
    Member(Index),
    /// Any JSON value (or nothing).
    Raw(Option<Value>),
    /// A `who` cursor (`{joined_at}.{id}`) at a member's id and any join
    /// time, as a roster's `next` or one after its member left.
    Cursor(u64, Index),
}

/// A client text frame: JSON shaped like each frame type with arbitrary
/// field values, sometimes cut short, or any text at all.
#[derive(Clone, Debug)]
enum TextFrame {
    Shaped {
        kind: Value,
        text: Option<Value>,
        name: Option<Value>,
        to: To,
        /// `who`'s cursor: a member's id, any JSON, or absent (boxed: the
        /// variant is large enough).
        after: Box<To>,
        extra: Option<(String, Value)>,
        cut: Option<Index>,
    },
    Raw(String),
}

/// Boxed: its value tree is large, and unboxed inside [`op`] it overflows
/// the test thread's stack.
fn text_frame() -> BoxedStrategy<TextFrame> {
    let kind = prop_oneof![
        8 => prop::sample::select(vec!["say", "whisper", "hello", "who", "ping"]).prop_map(Value::from),
        1 => any_json(),
    ];
    let to = prop_oneof![
        3 => any::<Index>().prop_map(To::Member),
        1 => field().prop_map(To::Raw),
    ];
    let after = prop_oneof![
        2 => Just(To::Raw(None)),
        1 => any::<Index>().prop_map(To::Member),
        2 => (prop_oneof![0u64..5_000, any::<u64>()], any::<Index>())
            .prop_map(|(at, i)| To::Cursor(at, i)),
        1 => field().prop_map(To::Raw),
    ];
    prop_oneof![
        6 => (
            kind,
            field(),
            field(),
            to,
            after,
            prop::option::weighted(0.2, (any_text(), any_json())),
            prop::option::weighted(0.1, any::<Index>()),
        )
            .prop_map(|(kind, text, name, to, after, extra, cut)| TextFrame::Shaped {
                kind,
                text,
                name,
                to,
                after: Box::new(after),
                extra,
                cut,
            }),
        1 => any_text().prop_map(TextFrame::Raw),
    ]
    .boxed()
}

impl TextFrame {
    fn render(&self, members: &[String]) -> String {
        let TextFrame::Shaped {
            kind,
            text,
            name,
            to,
            after,
            extra,
            cut,
        } = self
        else {
            let TextFrame::Raw(text) = self else {
                unreachable!()
            };
            return text.clone();
        };
        let mut object = Map::new();
        if let Some((key, value)) = extra {
            object.insert(key.clone(), value.clone());
        }
        object.insert("type".into(), kind.clone());
        let fields = [("text", text.clone()), ("name", name.clone())];
        for (key, value) in fields {
            if let Some(value) = value {
                object.insert(key.into(), value);
            }
        }
        let member = |to: &To| match to {
            To::Member(i) if !members.is_empty() => Some(Value::from(i.get(members).clone())),
            To::Member(_) => None,
            To::Raw(value) => value.clone(),
            To::Cursor(at, i) => Some(Value::from(match members.is_empty() {
                true => format!("{at}.gone"),
                false => format!("{at}.{}", i.get(members)),
            })),
        };
        if let Some(to) = member(to) {
            object.insert("to".into(), to);
        }
        if let Some(after) = member(after) {
            object.insert("after".into(), after);
        }
        let json = Value::Object(object).to_string();
        match cut {
            Some(i) => {
                let mut end = i.index(json.len() + 1);
                while !json.is_char_boundary(end) {
                    end -= 1;
                }
                json[..end].to_owned()
            }
            None => json,
        }
    }
}

/// An attachment as stored JSON: the real shape with arbitrary values, or
/// any JSON object, sometimes reusing a member's id.
fn attachment_json() -> impl Strategy<Value = (Value, Option<Index>)> {
    let number = prop_oneof![
        any::<u64>().prop_map(Value::from),
        (0u64..10_000).prop_map(Value::from),
        any_json(),
    ];
    let tokens = prop_oneof![
        any::<u32>().prop_map(Value::from),
        (0u32..10_000).prop_map(Value::from),
        any_json(),
    ];
    let bucket = prop_oneof![
        (tokens, number.clone(), any::<u32>()).prop_map(|(t, u, d)| {
            Some(json!({"milli_tokens": t, "updated_at": u, "dropped": d}))
        }),
        any_json().prop_map(Some),
        Just(None),
    ];
    prop_oneof![
        4 => (
            "[A-Za-z0-9_-]{1,12}",
            any_text(),
            number,
            prop::option::of(any_text()),
            bucket,
            prop::option::weighted(0.3, any::<Index>()),
        )
            .prop_map(|(id, name, joined_at, sub, bucket, reuse)| {
                let mut object = json!({"id": id, "name": name, "joined_at": joined_at});
                if let Some(sub) = sub {
                    object["sub"] = sub.into();
                }
                if let Some(bucket) = bucket {
                    object["bucket"] = bucket;
                }
                (object, reuse)
            }),
        1 => any_json().prop_map(|v| (v, None)),
    ]
}

/// One thing that happens to a room.
#[derive(Clone, Debug)]
enum Op {
    Join {
        name: Option<String>,
        entropy: Vec<u8>,
    },
    Open {
        path: String,
        query: String,
        token: Option<bool>,
        entropy: Vec<u8>,
    },
    Text {
        who: Option<Index>,
        frame: TextFrame,
    },
    Binary {
        who: Option<Index>,
        len: usize,
    },
    Close {
        who: Option<Index>,
        code: u16,
    },
    Leave {
        who: Option<Index>,
    },
    Restore {
        json: Value,
        reuse: Option<Index>,
    },
    Seed {
        text: String,
        connections: u32,
    },
}

/// A close code as the runtime reports it: often one of RFC 6455's
/// 1000–1015 (the reserved 1005, 1006, 1015 included), else any.
fn close_code() -> impl Strategy<Value = u16> {
    prop_oneof![1 => 1000u16..=1015, 1 => any::<u16>()]
}

fn who() -> impl Strategy<Value = Option<Index>> {
    prop::option::weighted(0.9, any::<Index>())
}

fn op() -> impl Strategy<Value = Op> {
    // Random bytes, or a few values that repeat, so ids would collide.
    let entropy = prop_oneof![
        vec(any::<u8>(), 0..12),
        vec(any::<u8>(), 9..=9),
        prop::sample::select(vec![vec![], vec![0; 9], vec![7; 9], vec![0; 3]]),
    ];
    prop_oneof![
        3 => (prop::option::of(any_text()), entropy.clone())
            .prop_map(|(name, entropy)| Op::Join { name, entropy }),
        2 => (
            prop_oneof![
                "/rooms/[a-z.]{0,6}/websocket",
                "/rooms/[a-z]{1,6}",
                Just("/websocket".to_owned()),
                any_text(),
            ],
            any_text(),
            prop::option::of(any::<bool>()),
            entropy,
        )
            .prop_map(|(path, query, token, entropy)| Op::Open { path, query, token, entropy }),
        8 => (who(), text_frame()).prop_map(|(who, frame)| Op::Text { who, frame }),
        1 => (who(), prop_oneof![0usize..300, any::<usize>()])
            .prop_map(|(who, len)| Op::Binary { who, len }),
        1 => (who(), close_code()).prop_map(|(who, code)| Op::Close { who, code }),
        1 => who().prop_map(|who| Op::Leave { who }),
        1 => attachment_json().prop_map(|(json, reuse)| Op::Restore { json, reuse }),
        1 => (any_text(), any::<u32>()).prop_map(|(text, connections)| Op::Seed { text, connections }),
    ]
}

/// A clock step: mostly forwards, sometimes backwards, sometimes anywhere.
fn tick() -> impl Strategy<Value = Tick> {
    prop_oneof![
        8 => (-2_000i64..5_000).prop_map(Tick::By),
        1 => any::<u64>().prop_map(Tick::To),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Tick {
    By(i64),
    To(u64),
}

impl Tick {
    fn apply(self, now: u64) -> u64 {
        match self {
            Tick::By(delta) => now.saturating_add_signed(delta),
            Tick::To(at) => at,
        }
    }
}

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

/// A valid `RATE_LIMIT_PER_SECOND`: 0.001 to 1000000, at most 3 decimals.
fn rate_text() -> impl Strategy<Value = String> {
    prop_oneof![1u32..5_000, 1u32..=1_000_000_000].prop_map(|milli| match milli % 1000 {
        0 => format!("{}", milli / 1000),
        fraction => format!("{}.{fraction:03}", milli / 1000),
    })
}

/// A rate's value in thousandths, read independently of `Rate::parse`.
fn milli(rate: &str) -> u64 {
    let (whole, fraction) = rate.split_once('.').unwrap_or((rate, ""));
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().expect("digits")
    };
    whole * 1000 + format!("{fraction:0<3}").parse::<u64>().expect("digits")
}

/// A valid configuration with small limits, so rooms fill up, buckets run
/// dry and frames get too big within a few operations.
fn room_config() -> impl Strategy<Value = Config> {
    (
        1u32..300,
        1u32..6,
        rate_text(),
        1u32..6,
        1u32..40,
        1u32..4,
        any::<bool>(),
    )
        .prop_map(|(bytes, connections, rate, burst, chars, presence, auth)| {
            let vars = BTreeMap::from([
                ("MAX_MESSAGE_BYTES", bytes.to_string()),
                ("MAX_CONNECTIONS_PER_ROOM", connections.to_string()),
                ("RATE_LIMIT_PER_SECOND", rate),
                ("RATE_LIMIT_BURST", burst.to_string()),
                ("MAX_TEXT_CHARS", chars.to_string()),
                ("PRESENCE_LIMIT", presence.to_string()),
                ("AUTH_SECRET", SECRET.to_owned()),
            ]);
            Config::from_vars(|name| {
                (auth || name != "AUTH_SECRET")
                    .then(|| vars.get(name).cloned())
                    .flatten()
            })
            .expect("generated configuration is valid")
        })
}

// ------------------------------------------------------------- invariants

/// Every close can be sent: `WebSocket.close()` throws on a reserved code
/// or a reason over 123 bytes.
fn check_closes(effects: &Effects) -> Result<(), TestCaseError> {
    for effect in &effects.0 {
        if let Effect::Close { code, reason } = effect {
            prop_assert!(
                CloseCode::new(code.get()).is_some(),
                "unsendable close code {}",
                code.get()
            );
            prop_assert!(
                reason.len() <= MAX_REASON_BYTES,
                "reason too long: {reason:?}"
            );
        }
    }
    Ok(())
}

/// Every effect of a room is one the shim can carry out and a client can
/// read: sendable closes, JSON frames with a `type`, its own attachment.
fn check_effects(effects: &Effects, actor: Option<&str>) -> Result<(), TestCaseError> {
    check_closes(effects)?;
    for effect in &effects.0 {
        match effect {
            Effect::Close { .. } => {}
            Effect::Reply { text } | Effect::Send { text, .. } => check_server_frame(text)?,
            Effect::Attach { attachment } => {
                if let Some(actor) = actor {
                    prop_assert_eq!(&attachment.id, actor, "attached to another socket");
                }
            }
        }
    }
    Ok(())
}

/// A server frame is a JSON object with a string `type`.
fn check_server_frame(text: &str) -> Result<(), TestCaseError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text:?}")))?;
    prop_assert!(value["type"].is_string(), "no \"type\": {text}");
    Ok(())
}

/// Presence frames keep the presence limit: lists of at most `limit` with
/// the room's count; `joined`/`left` (with the count) and a `renamed` to
/// everyone only while the room holds at most `limit`, a `renamed` to the
/// renamer alone above it.
fn check_presence(effects: &Effects, room: &Room) -> Result<(), TestCaseError> {
    let limit = room.config().presence_limit as usize;
    let count = room.len();
    for effect in &effects.0 {
        let (text, broadcast) = match effect {
            Effect::Reply { text } => (text, false),
            Effect::Send { text, tag, .. } => (text, tag == ROOM_TAG),
            _ => continue,
        };
        let frame: Value = serde_json::from_str(text)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text:?}")))?;
        match frame["type"].as_str() {
            Some("welcome" | "roster") => {
                let listed = frame["connections"].as_array().map_or(usize::MAX, Vec::len);
                prop_assert!(listed <= limit, "{listed} listed, limit {limit}: {text}");
                prop_assert_eq!(frame["count"].as_u64(), Some(count as u64), "{}", text);
                if let Some(next) = frame.get("next") {
                    prop_assert_eq!(listed, limit, "next before a full page: {}", text);
                    let last = frame["connections"][listed - 1]["id"]
                        .as_str()
                        .unwrap_or("");
                    let cursor = next.as_str().unwrap_or("");
                    prop_assert!(
                        cursor.ends_with(&format!(".{last}")),
                        "next is not a cursor at the last id: {}",
                        text
                    );
                }
            }
            Some("joined" | "left") => {
                prop_assert!(broadcast && count <= limit, "{text} in a room of {count}");
                prop_assert_eq!(frame["count"].as_u64(), Some(count as u64), "{}", text);
            }
            Some("renamed") => prop_assert_eq!(broadcast, count <= limit, "{}", text),
            _ => {}
        }
    }
    Ok(())
}

fn closes(effects: &Effects) -> bool {
    effects.0.iter().any(|e| matches!(e, Effect::Close { .. }))
}

fn left_announcements(effects: &Effects) -> usize {
    effects
        .0
        .iter()
        .filter(|e| matches!(e, Effect::Send { text, skip_self: true, .. } if text.contains(r#""type":"left""#)))
        .count()
}

/// An HTTP response: a known status, and JSON when it says so.
fn check_response(response: &HttpResponse) -> Result<(), TestCaseError> {
    prop_assert!(
        [200, 400, 401, 403, 405, 426, 500, 503].contains(&response.status),
        "status {}",
        response.status
    );
    prop_assert!(!response.status_text.is_empty());
    let json = response
        .headers
        .iter()
        .any(|(k, v)| k == "Content-Type" && v.starts_with("application/json"));
    if json {
        let body = response.body.as_deref().unwrap_or_default();
        let value: Value = serde_json::from_str(body)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {body:?}")))?;
        if response.status != 200 {
            prop_assert!(value["error"]["code"].is_string(), "{body}");
        }
    }
    Ok(())
}

/// The room as a test sees it: ids in the room, maintained from the
/// operations alone.
struct Model {
    ids: Vec<String>,
}

impl Model {
    fn pick(&self, who: Option<Index>) -> String {
        match who {
            Some(i) if !self.ids.is_empty() => i.get(&self.ids).clone(),
            _ => "ghost-not-a-member".to_owned(),
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        let before = self.ids.len();
        self.ids.retain(|m| m != id);
        before != self.ids.len()
    }

    fn admit(&mut self, id: &str) -> Result<(), TestCaseError> {
        prop_assert!(!self.ids.iter().any(|m| m == id), "id {id} given twice");
        prop_assert!(id.len() >= 8 && id != ROOM_TAG, "bad id {id:?}");
        self.ids.push(id.to_owned());
        Ok(())
    }

    fn check(&self, room: &Room) -> Result<(), TestCaseError> {
        prop_assert_eq!(room.len(), self.ids.len(), "joins minus leaves");
        // Paging `who` from the start visits everyone once, in join order.
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let roster = room
                .who(after.as_deref())
                .map_err(|e| TestCaseError::fail(format!("who after {after:?}: {e}")))?;
            let ServerFrame::Roster {
                count,
                connections,
                next,
            } = roster
            else {
                return Err(TestCaseError::fail("who answered no roster"));
            };
            prop_assert_eq!(count as usize, room.len());
            paged.extend(connections);
            match next {
                Some(next) if paged.len() <= room.len() => after = Some(next),
                Some(_) => return Err(TestCaseError::fail("who pages past the room")),
                None => break,
            }
        }
        prop_assert_eq!(paged, room.roster(), "who pages");
        prop_assert_eq!(room.is_empty(), self.ids.is_empty());
        let roster: Vec<String> = room.roster().into_iter().map(|p| p.id).collect();
        let unique: HashSet<&String> = roster.iter().collect();
        prop_assert_eq!(unique.len(), roster.len(), "duplicate ids in {:?}", roster);
        let want: HashSet<&String> = self.ids.iter().collect();
        prop_assert_eq!(unique, want);
        Ok(())
    }
}

fn run_room(config: Config, start: u64, ops: Vec<(Tick, Op)>) -> Result<(), TestCaseError> {
    let mut room = Room::with_config(config.clone());
    let mut model = Model { ids: Vec::new() };
    let mut now = start;
    for (tick, op) in ops {
        now = tick.apply(now);
        match op {
            Op::Join { name, entropy } => {
                let claims = config.auth_secret.as_ref().map(|_| Claims {
                    sub: "sub".into(),
                    name: "Token Name".into(),
                    room: None,
                    exp: u64::MAX,
                });
                let full = model.ids.len() >= config.max_connections_per_room as usize;
                let name_ok =
                    claims.is_some() || name.as_deref().is_none_or(|n| protocol::name(n).is_ok());
                match room.join("r", name.as_deref(), claims, now, &entropy) {
                    Ok(admission) => {
                        prop_assert!(!full && name_ok, "admitted past a refusal");
                        prop_assert_eq!(
                            &admission.tags,
                            &vec![admission.id.clone(), ROOM_TAG.to_owned()]
                        );
                        check_effects(&admission.effects, Some(&admission.id))?;
                        check_presence(&admission.effects, &room)?;
                        model.admit(&admission.id)?;
                    }
                    Err(error) => {
                        prop_assert!(full || !name_ok, "refused a valid join: {error}");
                        let want = if full { "room_full" } else { "invalid_field" };
                        prop_assert_eq!(error.code(), want);
                    }
                }
            }
            Op::Open {
                path,
                query,
                token,
                entropy,
            } => {
                let query = match token {
                    Some(valid) => {
                        let claims = Claims {
                            sub: "s".into(),
                            name: "Tok".into(),
                            room: None,
                            exp: now / 1000 + 60,
                        };
                        let minted = token::mint(SECRET.as_bytes(), &claims);
                        let token = if valid { minted } else { format!("{minted}x") };
                        format!("{query}&token={token}")
                    }
                    None => query,
                };
                let url = format!("http://h{path}?{query}");
                let before = room.len();
                match room.open(&url, now, &entropy) {
                    Opening::Seed => prop_assert_eq!(room.len(), before),
                    Opening::Respond(response) => {
                        check_response(&response)?;
                        prop_assert_eq!(room.len(), before);
                    }
                    Opening::Join(admission) => {
                        check_effects(&admission.effects, Some(&admission.id))?;
                        check_presence(&admission.effects, &room)?;
                        model.admit(&admission.id)?;
                    }
                }
            }
            Op::Text { who, frame } => {
                let id = model.pick(who);
                let text = frame.render(&model.ids);
                let effects = room.on_frame(&id, Frame::Text(&text), now);
                after_frame(&mut model, &room, &id, &effects)?;
            }
            Op::Binary { who, len } => {
                let id = model.pick(who);
                let effects = room.on_frame(&id, Frame::Binary(len), now);
                after_frame(&mut model, &room, &id, &effects)?;
                if !closes(&effects) {
                    let refused = effects.0.iter().any(|e| {
                        matches!(e,
                        Effect::Reply { text } if text.contains(r#""type":"error""#))
                    });
                    prop_assert!(refused, "binary frame not refused: {:?}", effects);
                }
            }
            Op::Close { who, code } => {
                let id = model.pick(who);
                let effects = room.on_close(&id, code);
                check_effects(&effects, None)?;
                check_presence(&effects, &room)?;
                let was_member = model.remove(&id);
                prop_assert_eq!(
                    left_announcements(&effects),
                    usize::from(was_member && announces(&room))
                );
                // Every close is answered with one: the handshake, or (1006,
                // 1015) the release of a socket whose peer is gone.
                prop_assert!(closes(&effects), "close {} not answered", code);
            }
            Op::Leave { who } => {
                let id = model.pick(who);
                let effects = room.leave(&id);
                check_effects(&effects, None)?;
                check_presence(&effects, &room)?;
                let was_member = model.remove(&id);
                prop_assert_eq!(
                    left_announcements(&effects),
                    usize::from(was_member && announces(&room))
                );
            }
            Op::Restore { mut json, reuse } => {
                if let (Some(i), false) = (reuse, model.ids.is_empty()) {
                    json["id"] = i.get(&model.ids).clone().into();
                }
                if let Some(attachment) = Record::of(&json).and_then(Attachment::read) {
                    let id = attachment.id.clone();
                    room.restore(attachment);
                    if !model.ids.contains(&id) {
                        model.ids.push(id);
                    }
                }
            }
            Op::Seed { text, connections } => {
                let effects = room.on_seed_frame(Frame::Text(&text), connections);
                check_closes(&effects)?;
                prop_assert_eq!(effects.0.len(), 1);
            }
        }
        model.check(&room)?;
    }
    Ok(())
}

/// Whether the room, as it is now, announces joins and leaves.
fn announces(room: &Room) -> bool {
    room.len() <= room.config().presence_limit as usize
}

fn after_frame(
    model: &mut Model,
    room: &Room,
    id: &str,
    effects: &Effects,
) -> Result<(), TestCaseError> {
    check_effects(effects, Some(id))?;
    check_presence(effects, room)?;
    prop_assert!(!effects.0.is_empty(), "a frame got no answer");
    if closes(effects) {
        let was_member = model.remove(id);
        prop_assert_eq!(
            left_announcements(effects),
            usize::from(was_member && announces(room))
        );
    }
    Ok(())
}

// ------------------------------------------------------------- properties

proptest! {
    #![proptest_config(bounded())]

    #[test]
    fn rooms_survive_any_sequence_of_events(
        config in room_config(),
        start in prop_oneof![0u64..10_000, any::<u64>()],
        ops in vec((tick(), op()), 1..40),
    ) {
        run_room(config, start, ops)?;
    }

    #[test]
    fn a_misconfigured_room_closes_every_socket(
        var in prop::sample::select(config::VARIABLES),
        value in any_text(),
        text in any_text(),
        len in any::<usize>(),
        now in any::<u64>(),
    ) {
        let Err(error) = Config::from_vars(|n| (n == var).then(|| value.clone())) else {
            return Ok(());
        };
        let mut room = Room::start(None, now, 0, Err(error));
        for effects in [
            room.on_frame("abcdefgh", Frame::Text(&text), now),
            room.on_frame("abcdefgh", Frame::Binary(len), now),
            room.on_seed_frame(Frame::Text(&text), 1),
        ] {
            check_effects(&effects, None)?;
            let internal = matches!(effects.0.as_slice(),
                [Effect::Close { code, .. }] if *code == CloseCode::INTERNAL);
            prop_assert!(internal, "not closed with 1011: {:?}", effects);
        }
        let Opening::Respond(response) = room.open(&format!("http://h/{text}"), now, &[1; 9]) else {
            return Err(TestCaseError::fail("a misconfigured room opened a socket"));
        };
        prop_assert_eq!(response.status, 500);
        check_response(&response)?;
    }

    #[test]
    fn parse_accepts_only_valid_frames(
        frame in text_frame(),
        members in vec("[a-z]{8}", 0..3),
        max in prop_oneof![1usize..50, Just(protocol::MAX_TEXT_CHARS)],
    ) {
        let text = frame.render(&members);
        match protocol::parse(&text, max) {
            Ok(ClientFrame::Say { text }) | Ok(ClientFrame::Whisper { text, .. }) => {
                prop_assert!(text.chars().count() <= max);
                prop_assert!(!text.trim().is_empty());
            }
            Ok(ClientFrame::Hello { name }) => {
                prop_assert_eq!(protocol::name(&name), Ok(name.clone()));
            }
            Ok(ClientFrame::Who { .. } | ClientFrame::Ping) => {}
            Err(error) => {
                let reply = protocol::ServerFrame::error(&error).to_json();
                check_server_frame(&reply)?;
            }
        }
    }

    #[test]
    fn names_are_trimmed_short_and_printable(raw in any_text()) {
        if let Ok(name) = protocol::name(&raw) {
            prop_assert_eq!(name.trim(), name.as_str());
            let len = name.chars().count();
            prop_assert!((1..=MAX_NAME_CHARS).contains(&len));
            prop_assert!(!name.chars().any(char::is_control));
            prop_assert_eq!(protocol::name(&name), Ok(name.clone()));
        }
    }

    #[test]
    fn origins_normalise_once(text in any_text(), allowed in vec(any_text(), 0..3)) {
        if let Some(origin) = route_origin(&text) {
            prop_assert_eq!(websocket_hibernation_server::origin::parse(&origin), Some(origin.clone()));
            prop_assert!(!origin.chars().any(|c| c.is_ascii_uppercase()));
            prop_assert!(websocket_hibernation_server::origin::check(Some(&text), &[origin]).is_ok());
        }
        let allowed: Vec<String> = allowed.iter().filter_map(|a| route_origin(a)).collect();
        let checked = websocket_hibernation_server::origin::check(Some(&text), &allowed);
        if allowed.is_empty() {
            prop_assert!(checked.is_ok());
        }
        if let Err(error) = checked {
            prop_assert_eq!(error.status(), 403);
            check_server_json(&error)?;
        }
        prop_assert!(websocket_hibernation_server::origin::check(None, &allowed).is_ok());
    }

    #[test]
    fn config_reads_any_values(values in vec(prop::option::of(any_text()), config::VARIABLES.len())) {
        let vars: BTreeMap<&str, String> = config::VARIABLES
            .iter()
            .zip(values)
            .filter_map(|(name, value)| value.map(|v| (*name, v)))
            .collect();
        match Config::from_vars(|name| vars.get(name).cloned()) {
            Ok(config) => {
                prop_assert!((1..=config::PLATFORM_MAX_MESSAGE_BYTES).contains(&config.max_message_bytes));
                prop_assert!((1..=config::PLATFORM_MAX_CONNECTIONS).contains(&config.max_connections_per_room));
                let rate = config.rate_limit_per_second;
                prop_assert_eq!(Rate::parse(&rate.to_string()), Some(rate));
                prop_assert!(config.rate_limit_burst >= 1);
                prop_assert!(config.max_text_chars >= 1);
                if let Some(secret) = &config.auth_secret {
                    prop_assert!(secret.bytes().len() >= config::MIN_SECRET_BYTES);
                }
            }
            Err(error) => {
                prop_assert!(config::VARIABLES.contains(&error.name));
                if error.name == "AUTH_SECRET" {
                    prop_assert!(error.value.starts_with("<secret of "), "shows the secret");
                }
                prop_assert!(error.to_string().contains(error.name));
            }
        }
    }

    #[test]
    fn tokens_round_trip(
        sub in any_text().prop_filter("short", |s| s.len() <= 200),
        name in any_text().prop_filter_map("a valid name", |n| protocol::name(&n).ok()),
        room in prop::option::of(prop_oneof!["[a-z]{1,8}".boxed(), any_text().boxed()]),
        exp in 1u64..,
        now_back in any::<u64>(),
        secret in vec(any::<u8>(), config::MIN_SECRET_BYTES..64),
    ) {
        let claims = Claims { sub, name, room: room.clone(), exp };
        let token = token::mint(&secret, &claims);
        prop_assert!(token.len() <= MAX_TOKEN_BYTES);
        let now = exp.saturating_sub(now_back.max(1));
        prop_assert_eq!(token::verify(&secret, Some(&token), room.as_deref(), now), Ok(claims.clone()));
        prop_assert_eq!(
            token::verify(&secret, Some(&token), room.as_deref(), exp).map_err(|e| e.reason()),
            Err("expired")
        );
        if room.is_some() {
            prop_assert!(token::verify(&secret, Some(&token), None, now).is_err());
        }
        let mut other = secret.clone();
        other[0] ^= 1;
        prop_assert_eq!(
            token::verify(&other, Some(&token), room.as_deref(), now).map_err(|e| e.reason()),
            Err("bad_signature")
        );
    }

    #[test]
    fn any_single_byte_change_refuses_a_token(
        name in "[A-Za-z][A-Za-z ]{0,30}[a-z]",
        room in prop::option::of("[a-z]{1,8}"),
        at in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let claims = Claims { sub: "u1".into(), name, room: room.clone(), exp: 1_000 };
        let token = token::mint(SECRET.as_bytes(), &claims);
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let changed = String::from_utf8_lossy(&bytes);
        prop_assert!(
            token::verify(SECRET.as_bytes(), Some(&changed), room.as_deref(), 0).is_err(),
            "{changed} verified (changed byte {i} of {token})"
        );
    }

    #[test]
    fn verify_refuses_anything_forged(
        token in prop_oneof![
            any_text(),
            "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,60}=*",
            any_json().prop_map(|v| format!("{}.{}", b64(&v.to_string()), b64("sig"))),
        ],
        room in prop::option::of(any_text()),
        now in any::<u64>(),
        secret in vec(any::<u8>(), 0..64),
    ) {
        let got = token::verify(&secret, Some(&token), room.as_deref(), now);
        prop_assert!(got.is_err(), "forged token accepted: {got:?}");
        let error = got.unwrap_err();
        prop_assert!(!error.reason().is_empty() && !error.message().is_empty());
    }

    #[test]
    fn buckets_never_exceed_burst_plus_refill(
        burst in 1u32..50,
        rate in rate_text(),
        start in prop_oneof![0u64..1_000, any::<u64>()],
        ticks in vec(tick(), 1..200),
    ) {
        let per_second = Rate::parse(&rate).expect("generated rate is valid");
        // Exact arithmetic for the bound: milli-tokens per second.
        let milli_per_second = u128::from(milli(&rate));
        let mut bucket = Bucket::full(burst, start);
        let (mut now, mut latest, mut allowed, mut refused_in_a_row) = (start, start, 0u64, 0u64);
        for tick in ticks {
            now = tick.apply(now);
            latest = latest.max(now);
            match bucket.take(now, per_second, burst) {
                Verdict::Allow => {
                    allowed += 1;
                    refused_in_a_row = 0;
                }
                Verdict::Drop => refused_in_a_row += 1,
                Verdict::Close => {
                    refused_in_a_row += 1;
                    prop_assert!(refused_in_a_row > u64::from(burst * STRIKE_BURSTS),
                        "closed after {refused_in_a_row} drops");
                }
            }
            // allowed <= burst + rate × elapsed, in millionths of a frame.
            let elapsed_ms = u128::from(latest - start);
            let bound = u128::from(burst) * 1_000_000 + milli_per_second * elapsed_ms;
            prop_assert!(u128::from(allowed) * 1_000_000 <= bound,
                "{allowed} frames let through in {elapsed_ms} ms at {rate}/s, burst {burst}");
            prop_assert!(bucket.milli_tokens <= burst * 1000);
        }
    }

    #[test]
    fn buckets_take_any_state(
        milli_tokens in any::<u32>(),
        updated_at in any::<u64>(),
        dropped in any::<u32>(),
        now in any::<u64>(),
        per_second in prop_oneof![
            any::<u32>().prop_map(Rate::per_second),
            rate_text().prop_map(|r| Rate::parse(&r).expect("valid")),
        ],
        burst in any::<u32>(),
        bytes in any::<usize>(),
        max in any::<u32>(),
    ) {
        let mut bucket = Bucket { milli_tokens, updated_at, dropped };
        let _ = bucket.take(now, per_second, burst);
        prop_assert!(bucket.updated_at >= updated_at, "the clock went back");
        prop_assert_eq!(too_large(bytes, max), bytes > max as usize);
    }

    #[test]
    fn routes_any_request(
        method in prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), any_text()],
        path in prop_oneof![
            "/rooms/[a-zA-Z0-9._%/-]{0,12}(/websocket)?",
            Just("/websocket".to_owned()),
            any_text(),
        ],
        rest in any_text(),
        upgrade in prop::option::of(prop_oneof![Just("websocket".to_owned()), any_text()]),
        origin in prop::option::of(any_text()),
        allowed in vec("https://[a-z]{1,5}\\.example", 0..2),
        auth in any::<bool>(),
        now in any::<u64>(),
    ) {
        let config = Config {
            allowed_origins: allowed,
            auth_secret: auth.then(|| Config::from_vars(|n| (n == "AUTH_SECRET").then(|| SECRET.to_owned()))
                .expect("valid").auth_secret).flatten(),
            ..Config::default()
        };
        let url = format!("https://host{path}{rest}");
        let head = RequestHead { method: &method, url: &url, upgrade: upgrade.as_deref(), origin: origin.as_deref() };
        match route::route(head, &config, now) {
            Route::Forward { object } => {
                prop_assert!(object == route::SEED_OBJECT || check_room(&object).is_ok(),
                    "forwarded to object {object:?}");
            }
            Route::Respond(response) => check_response(&response)?,
        }
        let (path, query) = split_url(&url);
        prop_assert!(path.starts_with('/') && !path.contains(['?', '#']), "{path:?}");
        prop_assert!(!query.contains('#'));
        if let Some(Ok(target)) = room_target(path) {
            let (route::RoomTarget::Socket(room) | route::RoomTarget::Stats(room)) = target;
            prop_assert!(check_room(room).is_ok());
        }
        let _ = route::authenticate(&config, query, Some("r"), now);
    }

    #[test]
    fn room_names_are_safe(room in any_text()) {
        if check_room(&room).is_ok() {
            prop_assert!((1..=route::MAX_ROOM_CHARS).contains(&room.len()));
            prop_assert!(room.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            prop_assert!(room != "." && room != "..");
        } else if let Err(error) = check_room(&room) {
            prop_assert_eq!(error.status(), 400);
            check_server_json(&error)?;
        }
    }

    #[test]
    fn query_params_decode_like_url_search_params(
        value in "[a-z0-9%+=?A-F ]{0,20}",
        key in "[a-z]{1,6}",
        noise in "[a-z0-9%=]{0,10}",
    ) {
        let query = format!("{noise}&{key}={value}");
        // `noise` may itself set the key first.
        if !noise.split('&').any(|pair| reference_decode(pair.split('=').next().unwrap_or("")) == key) {
            prop_assert_eq!(query_param(&query, &key), Some(reference_decode(&value)));
        }
    }

    #[test]
    fn query_params_round_trip(value in any::<String>()) {
        let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
        prop_assert_eq!(query_param(&format!("x=1&name={encoded}"), "name"), Some(value));
    }

    #[test]
    fn upgrade_headers(
        value in any_text(),
        case in vec(any::<bool>(), 9),
        space in "[ \t]{0,2}",
        other in "[a-z0-9/.]{1,6}",
    ) {
        let _ = is_websocket_upgrade(Some(&value));
        let websocket: String = "websocket"
            .chars()
            .zip(case)
            .map(|(c, upper)| if upper { c.to_ascii_uppercase() } else { c })
            .collect();
        let header = format!("{space}{websocket}{space}");
        prop_assert!(is_websocket_upgrade(Some(&header)), "{:?}", header);
        // A list is refused: the runtime returns no WebSocket for it.
        let list = format!("{other}, {websocket}");
        prop_assert!(!is_websocket_upgrade(Some(&list)), "{:?}", list);
    }

    #[test]
    fn rates_read_back_as_they_show(text in any_text(), rate in rate_text()) {
        if let Some(parsed) = Rate::parse(&text) {
            prop_assert_eq!(Rate::parse(&parsed.to_string()), Some(parsed));
        }
        let parsed = Rate::parse(&rate).expect("generated rate is valid");
        prop_assert_eq!(milli(&parsed.to_string()), milli(&rate));
    }

    #[test]
    fn close_codes_and_reasons_are_sendable(code in any::<u16>(), reason in any_text(), long in "é{60,70}") {
        if let Some(close) = CloseCode::new(code) {
            prop_assert_eq!(close.get(), code);
            prop_assert!(!matches!(code, 1004..=1006 | 1015) && (1000..5000).contains(&code));
        }
        for reason in [reason.as_str(), long.as_str()] {
            let clipped = clip_reason(reason);
            prop_assert!(clipped.len() <= MAX_REASON_BYTES);
            prop_assert!(reason.starts_with(clipped));
            if reason.len() <= MAX_REASON_BYTES {
                prop_assert_eq!(clipped, reason);
            } else {
                prop_assert!(clipped.len() > MAX_REASON_BYTES - 4, "clipped more than a character");
            }
        }
    }

    #[test]
    fn seed_answers_every_frame_and_close(
        text in any_text(),
        len in any::<usize>(),
        connections in any::<u32>(),
        max in any::<u32>(),
        code in close_code(),
    ) {
        let reply = seed::on_message(Frame::Text(&text), connections, max);
        check_closes(&reply)?;
        if too_large(text.len(), max) {
            let too_big = matches!(reply.0.as_slice(), [Effect::Close { code, .. }] if code.get() == 1009);
            prop_assert!(too_big, "not closed with 1009: {:?}", reply);
        } else {
            prop_assert_eq!(reply, Effect::Reply { text: seed::reply_text(&text, connections) }.into());
        }
        let binary = seed::on_message(Frame::Binary(len), connections, max);
        check_closes(&binary)?;
        prop_assert!(closes(&binary));
        let closed = seed::on_close(code);
        check_closes(&closed)?;
        prop_assert_eq!(closed.0.len(), 1);
        prop_assert!(closes(&closed));
    }
}

fn route_origin(text: &str) -> Option<String> {
    websocket_hibernation_server::origin::parse(text)
}

fn check_server_json(error: &HttpError) -> Result<(), TestCaseError> {
    let body: Value = serde_json::from_str(&error.to_json())
        .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
    prop_assert_eq!(body["error"]["code"].as_str(), Some(error.code()));
    Ok(())
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// `application/x-www-form-urlencoded` decoding as WHATWG URL specifies it
/// (what `URLSearchParams` does): `+` is a space, `%` and two hex digits is
/// a byte, any other `%` is itself.
fn reference_decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
