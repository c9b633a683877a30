//! A model of one Durable Object and its room: any sequence of joins,
//! frames, closes, errors, adoptions and evictions, with any clock, keeps
//! every invariant a client relies on. The model knows, from the
//! operations alone, who is in the room and what each socket's attachment
//! holds; after every step the object must agree with it, and every member
//! who goes is announced exactly once (while the room pushes presence),
//! whatever order the runtime reports closes and errors in. The alarm
//! closes exactly the members idle for longer than the timeout (judged from
//! what their sockets store and the runtime's ping times), is armed
//! whenever the room has members, and is not re-armed once it has none.

mod common;

use std::collections::{BTreeMap, HashSet};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

use common::*;
use websocket_hibernation_server::close::CloseCode;
use websocket_hibernation_server::config::{self, Config};
use websocket_hibernation_server::liveness::Liveness;
use websocket_hibernation_server::object::{ObjectState, Probe};
use websocket_hibernation_server::outcome::{Effect, Effects, Opening};
use websocket_hibernation_server::protocol::{self, ClientFrame, Frame, ServerFrame};
use websocket_hibernation_server::records;
use websocket_hibernation_server::room::history::MemoryLog;
use websocket_hibernation_server::room::{typing, Room};
use websocket_hibernation_server::socket::{Attachment, ROOM_TAG};
use websocket_hibernation_server::token::{self, Claims};

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
    let typing_at = prop::option::weighted(0.3, number.clone());
    prop_oneof![
        4 => (
            "[A-Za-z0-9_-]{1,12}",
            any_text(),
            number,
            prop::option::of(any_text()),
            bucket,
            typing_at,
            prop::option::weighted(0.3, any::<Index>()),
        )
            .prop_map(|(id, name, joined_at, sub, bucket, typing_at, reuse)| {
                let mut object = json!({"id": id, "name": name, "joined_at": joined_at});
                if let Some(sub) = sub {
                    object["sub"] = sub.into();
                }
                if let Some(bucket) = bucket {
                    object["bucket"] = bucket;
                }
                if let Some(typing_at) = typing_at {
                    object["typing_at"] = typing_at;
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
        /// With `AUTH_SECRET`: the token expires a second after the join
        /// (else never).
        expiring: bool,
        /// With `AUTH_SECRET`: the token's subject, one of a few.
        subject: u8,
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
    /// The runtime reports an error on a member's socket.
    Error {
        who: Option<Index>,
    },
    /// A socket with a member's tags (or its own) and a stored attachment
    /// of any shape is found open when the object is created.
    Adopt {
        json: Value,
        reuse: Option<Index>,
    },
    /// The object is evicted and created again: every open socket is
    /// adopted, except those that closed meanwhile, whose closes arrive
    /// at the new object.
    Evict {
        closed: Vec<Index>,
    },
    /// A frame on a `/websocket` socket the object opened (or on one
    /// without tags, from before sockets had ids).
    Echo {
        who: Option<Index>,
        text: String,
    },
    /// A `/websocket` socket the object opened closes, or fails and then
    /// closes.
    EchoGone {
        who: Index,
        error_first: bool,
        code: u16,
    },
    /// The alarm runs; the runtime answered some sockets' text `ping`
    /// this many ms ago (negative: its clock is ahead).
    Alarm {
        pings: Vec<Option<i64>>,
    },
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
        3 => (prop::option::of(any_text()), entropy.clone(), prop::bool::weighted(0.2), 0u8..3)
            .prop_map(|(name, entropy, expiring, subject)| Op::Join { name, entropy, expiring, subject }),
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
        1 => who().prop_map(|who| Op::Error { who }),
        1 => attachment_json().prop_map(|(json, reuse)| Op::Adopt { json, reuse }),
        1 => vec(any::<Index>(), 0..3).prop_map(|closed| Op::Evict { closed }),
        1 => (prop::option::weighted(0.8, any::<Index>()), any_text())
            .prop_map(|(who, text)| Op::Echo { who, text }),
        1 => (any::<Index>(), any::<bool>(), close_code())
            .prop_map(|(who, error_first, code)| Op::EchoGone { who, error_first, code }),
        2 => vec(prop::option::of(-2_000i64..8_000), 0..6).prop_map(|pings| Op::Alarm { pings }),
    ]
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
        1u32..4,
        prop::option::of(0u32..5),
        (0u32..4, 0u32..4),
    )
        .prop_map(
            |(
                bytes,
                connections,
                rate,
                burst,
                chars,
                presence,
                auth,
                per_subject,
                idle,
                history,
            )| {
                let vars = BTreeMap::from([
                    ("MAX_MESSAGE_BYTES", bytes.to_string()),
                    ("MAX_CONNECTIONS_PER_ROOM", connections.to_string()),
                    ("MAX_CONNECTIONS_PER_SUBJECT", per_subject.to_string()),
                    ("RATE_LIMIT_PER_SECOND", rate),
                    ("RATE_LIMIT_BURST", burst.to_string()),
                    ("MAX_TEXT_CHARS", chars.to_string()),
                    ("PRESENCE_LIMIT", presence.to_string()),
                    ("HISTORY_LIMIT", history.0.to_string()),
                    ("HISTORY_ON_JOIN", history.1.to_string()),
                    ("AUTH_SECRET", SECRET.to_owned()),
                ]);
                Config::from_vars(|name| {
                    if name == "IDLE_TIMEOUT_SECONDS" {
                        return idle.map(|s| s.to_string());
                    }
                    (auth || name != "AUTH_SECRET")
                        .then(|| vars.get(name).cloned())
                        .flatten()
                })
                .expect("generated configuration is valid")
            },
        )
}

// ------------------------------------------------------------- invariants

/// Every effect of a room is one the shim can carry out and a client can
/// read: sendable closes, JSON frames with a `type`, its own attachment.
fn check_effects(effects: &Effects, actor: Option<&str>) -> Result<(), TestCaseError> {
    check_closes(effects)?;
    for effect in &effects.0 {
        match effect {
            Effect::Close { .. } => {}
            Effect::Reply { text } => check_server_frame(text)?,
            Effect::Send { text, seq, .. } => {
                check_server_frame(text)?;
                // Only messages are stored.
                let message = text.starts_with(r#"{"type":"message""#);
                prop_assert!(seq.is_none() || message, "stored {}", text);
            }
            Effect::Attach { attachment } => {
                if let Some(actor) = actor {
                    prop_assert_eq!(&attachment.id, actor, "attached to another socket");
                }
            }
            Effect::Detach | Effect::StoreWakes { .. } | Effect::SetAlarm { .. } => {}
            Effect::Epoch { epoch } => {
                prop_assert!(!epoch.is_empty() && epoch.len() <= 32, "epoch {:?}", epoch);
            }
            Effect::Replay {
                head, count, tail, ..
            } => {
                // A history frame, its stored messages spliced in between.
                check_server_frame(&format!("{head}{tail}"))?;
                prop_assert!(*count > 0, "a replay of nothing");
            }
            Effect::Expel { tag, .. } => {
                prop_assert!(
                    actor.is_none(),
                    "expelled {} from a socket's own event",
                    tag
                )
            }
            // A room on one object (the model's) never calls another.
            Effect::Deliver { .. }
            | Effect::Publish { .. }
            | Effect::Relay { .. }
            | Effect::Ask { .. }
            | Effect::Report { .. }
            | Effect::Register { .. } => {
                prop_assert!(
                    false,
                    "a call between objects from a room on one: {:?}",
                    effect
                )
            }
        }
    }
    Ok(())
}

/// Stores the history writes among `effects`, as the shim does, checking
/// that every message gets a seq above any used before, through evictions.
fn store(log: &mut MemoryLog, last_seq: &mut u64, effects: &Effects) -> Result<(), TestCaseError> {
    for effect in &effects.0 {
        if let Effect::Send { seq: Some(seq), .. } = effect {
            prop_assert!(*seq > *last_seq, "seq {} after {}", seq, last_seq);
            *last_seq = *seq;
        }
    }
    log.apply(effects);
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

fn left_announcements(effects: &Effects) -> usize {
    effects
        .0
        .iter()
        .filter(|e| matches!(e, Effect::Send { text, skip_self: true, .. } if text.contains(r#""type":"left""#)))
        .count()
}

/// A member's socket tags, as the object accepted it with.
fn tags(id: &str) -> Vec<String> {
    vec![id.to_owned(), ROOM_TAG.to_owned()]
}

/// Percent-encodes every byte, so any name survives the query string.
fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The object as a test sees it, maintained from the operations alone: the
/// members the room holds, and every open room socket's stored attachment
/// (`None` once it was dropped).
struct Model {
    ids: Vec<String>,
    sockets: BTreeMap<String, Option<Attachment>>,
    /// The object's alarm as the runtime stores it.
    alarm: Option<u64>,
    /// Each member's last frame, when the model sent it one.
    last_frame: BTreeMap<String, u64>,
    /// The tags of each open `/websocket` socket.
    echoes: Vec<Vec<String>>,
    /// Wake records this instance stored.
    stored: usize,
}

impl Model {
    fn pick(&self, who: Option<Index>) -> String {
        match who {
            Some(i) if !self.ids.is_empty() => i.get(&self.ids).clone(),
            _ => "ghost-not-a-member".to_owned(),
        }
    }

    /// Carries out the alarm effects among `effects`.
    fn schedule(&mut self, effects: &Effects) {
        for effect in &effects.0 {
            if let Effect::SetAlarm { at } = effect {
                self.alarm = Some(*at);
            }
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        self.last_frame.remove(id);
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

    /// What the runtime would store on socket `id` after `effects`.
    fn store(&mut self, id: &str, effects: &Effects) {
        for effect in &effects.0 {
            match effect {
                Effect::Attach { attachment } => {
                    self.sockets.insert(id.to_owned(), Some(attachment.clone()));
                }
                Effect::Detach => {
                    self.sockets.insert(id.to_owned(), None);
                }
                Effect::Expel { tag, .. } => {
                    self.sockets.insert(tag.clone(), None);
                }
                _ => {}
            }
        }
    }

    /// Sockets the object holds: members and `/websocket` sockets.
    fn held(&self) -> usize {
        self.ids.len() + self.echoes.len()
    }

    /// Counts the wake records `effects` store: at most one per instance,
    /// and one as soon as the instance holds a socket.
    fn store_wakes(&mut self, effects: &Effects) -> Result<(), TestCaseError> {
        self.stored += effects
            .0
            .iter()
            .filter(|e| matches!(e, Effect::StoreWakes { .. }))
            .count();
        prop_assert!(self.stored <= 1, "the wake record stored twice");
        Ok(())
    }

    /// The attachment stored on socket `id`, if any.
    fn attachment(&self, id: &str) -> Option<Attachment> {
        self.sockets.get(id).cloned().flatten()
    }

    fn check(&self, room: &Room) -> Result<(), TestCaseError> {
        prop_assert_eq!(room.len(), self.ids.len(), "joins minus leaves");
        if let Some(rules) = room.liveness() {
            prop_assert!(
                self.ids.is_empty() || self.alarm.is_some(),
                "members and no alarm"
            );
            // The stored record of a member's last frame (its bucket's
            // refill time) never lags that frame by the granularity, which
            // the rules add: no member is reaped early, however seldom the
            // attachment is stored.
            for (id, last) in &self.last_frame {
                let stored = self.attachment(id).map(|a| a.bucket.updated_at);
                prop_assert!(
                    stored.is_some_and(|at| *last < at.saturating_add(rules.granularity())),
                    "{} sent a frame at {} but stores {:?}",
                    id,
                    last,
                    stored
                );
            }
        }
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
        for id in &self.ids {
            prop_assert!(
                self.attachment(id).is_some(),
                "member {} has no attachment",
                id
            );
        }
        if self.held() > 0 {
            prop_assert_eq!(self.stored, 1, "an instance holding sockets is counted");
        }
        Ok(())
    }
}

/// Checks a member's departure: `effects` announce it exactly once if the
/// room, now without it, still pushes presence, and never otherwise.
fn check_departure(
    effects: &Effects,
    object: &ObjectState,
    announced: bool,
) -> Result<(), TestCaseError> {
    let want = usize::from(announced && announces(object.room()));
    prop_assert_eq!(
        left_announcements(effects),
        want,
        "left announcements: {:?}",
        effects
    );
    Ok(())
}

fn run(config: Config, start: u64, ops: Vec<(Tick, Op)>) -> Result<(), TestCaseError> {
    let mut object = ObjectState::start(None, start, 0, Ok(config.clone()));
    // The object's storage: it outlives every eviction.
    let mut log = MemoryLog::default();
    let mut last_seq = 0;
    let mut model = Model {
        ids: Vec::new(),
        sockets: BTreeMap::new(),
        alarm: None,
        last_frame: BTreeMap::new(),
        echoes: Vec::new(),
        stored: 0,
    };
    let mut now = start;
    for (tick, op) in ops {
        now = tick.apply(now);
        match op {
            Op::Join {
                name,
                entropy,
                expiring,
                subject,
            } => {
                let sub = format!("sub{subject}");
                let mut query = name
                    .as_deref()
                    .map(|n| format!("name={}", encode(n)))
                    .unwrap_or_default();
                if config.auth_secret.is_some() {
                    let claims = Claims {
                        sub: sub.clone(),
                        name: "Token Name".into(),
                        room: None,
                        exp: if expiring { now / 1000 + 1 } else { u64::MAX },
                    };
                    query.push_str(&format!(
                        "&token={}",
                        token::mint(SECRET.as_bytes(), &claims)
                    ));
                }
                let full = model.held() >= config.max_connections_per_room as usize;
                let name_ok = config.auth_secret.is_some()
                    || name.as_deref().is_none_or(|n| protocol::name(n).is_ok());
                let same_subject = model
                    .ids
                    .iter()
                    .filter(|id| model.attachment(id).and_then(|a| a.sub).as_deref() == Some(&sub))
                    .count();
                let crowded = config.auth_secret.is_some()
                    && same_subject >= config.max_connections_per_subject as usize;
                match object.open(
                    &format!("http://h/rooms/r/websocket?{query}"),
                    now,
                    &entropy,
                    0,
                    &mut log,
                ) {
                    Opening::Join(admission) => {
                        store(&mut log, &mut last_seq, &admission.effects)?;
                        prop_assert!(!full && name_ok && !crowded, "admitted past a refusal");
                        prop_assert_eq!(&admission.tags, &tags(&admission.id));
                        check_effects(&admission.effects, Some(&admission.id))?;
                        check_presence(&admission.effects, object.room())?;
                        model.admit(&admission.id)?;
                        model.store(&admission.id, &admission.effects);
                        model.store_wakes(&admission.effects)?;
                        model.schedule(&admission.effects);
                    }
                    Opening::Respond(response) => {
                        check_response(&response)?;
                        prop_assert!(
                            full || !name_ok || crowded,
                            "refused a valid join: {:?}",
                            response
                        );
                        let want = if full {
                            "room_full"
                        } else if crowded {
                            "too_many_connections"
                        } else {
                            "invalid_field"
                        };
                        let body = response.body.unwrap_or_default();
                        prop_assert!(body.contains(want), "{} for {}", body, want);
                    }
                    Opening::Echo(_) => {
                        return Err(TestCaseError::fail("a room upgrade became an echo socket"))
                    }
                    Opening::Forward { .. } | Opening::Survey { .. } => {
                        return Err(TestCaseError::fail("a room on one object used another"))
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
                let before = object.room().len();
                let held = model.held();
                match object.open(&url, now, &entropy, 0, &mut log) {
                    Opening::Echo(admission) => {
                        prop_assert_eq!(object.room().len(), before);
                        prop_assert!(held < config.max_connections_per_room as usize);
                        prop_assert!(admission
                            .tags
                            .iter()
                            .all(|t| t != ROOM_TAG && !model.ids.contains(t)));
                        prop_assert!(
                            !model.echoes.contains(&admission.tags),
                            "echo tags given twice"
                        );
                        check_effects(&admission.effects, None)?;
                        model.store_wakes(&admission.effects)?;
                        model.echoes.push(admission.tags);
                    }
                    Opening::Respond(response) => {
                        check_response(&response)?;
                        prop_assert_eq!(object.room().len(), before);
                    }
                    Opening::Join(admission) => {
                        store(&mut log, &mut last_seq, &admission.effects)?;
                        prop_assert!(held < config.max_connections_per_room as usize);
                        check_effects(&admission.effects, Some(&admission.id))?;
                        check_presence(&admission.effects, object.room())?;
                        model.admit(&admission.id)?;
                        model.store(&admission.id, &admission.effects);
                        model.store_wakes(&admission.effects)?;
                        model.schedule(&admission.effects);
                    }
                    Opening::Forward { .. } | Opening::Survey { .. } => {
                        return Err(TestCaseError::fail("a room on one object used another"))
                    }
                }
            }
            Op::Text { who, frame } => {
                let id = model.pick(who);
                let text = frame.render(&model.ids);
                let before = model.attachment(&id);
                let effects = object.message(&tags(&id), Frame::Text(&text), now, &mut log);
                store(&mut log, &mut last_seq, &effects)?;
                model.framed(&id, now);
                after_frame(&mut model, &object, &id, &effects)?;
                check_typing(&text, &effects, before, &model, &object, &id, now)?;
            }
            Op::Binary { who, len } => {
                let id = model.pick(who);
                let effects = object.message(&tags(&id), Frame::Binary(len), now, &mut log);
                model.framed(&id, now);
                after_frame(&mut model, &object, &id, &effects)?;
                if !closes(&effects) {
                    // Refused with an error, or dropped without a word (a
                    // rate_limited was sent less than a refill interval ago).
                    let refused = effects.0.iter().any(|e| {
                        matches!(e,
                        Effect::Reply { text } if text.contains(r#""type":"error""#))
                    }) || matches!(effects.0.as_slice(), [Effect::Attach { .. }]);
                    prop_assert!(refused, "binary frame not refused: {:?}", effects);
                }
            }
            Op::Close { who, code } => {
                let id = model.pick(who);
                let effects = object.close(&tags(&id), code, model.attachment(&id));
                check_effects(&effects, None)?;
                check_presence(&effects, object.room())?;
                let was_member = model.remove(&id);
                model.sockets.remove(&id);
                check_departure(&effects, &object, was_member)?;
                // Every close is answered with one: the handshake, or (1006,
                // 1015) the release of a socket whose peer is gone.
                prop_assert!(closes(&effects), "close {} not answered", code);
            }
            Op::Error { who } => {
                let id = model.pick(who);
                let effects = object.error(&tags(&id), model.attachment(&id));
                check_effects(&effects, None)?;
                check_presence(&effects, object.room())?;
                let was_member = model.remove(&id);
                check_departure(&effects, &object, was_member)?;
                model.store(&id, &effects);
                prop_assert!(
                    model.attachment(&id).is_none(),
                    "an errored socket keeps its member"
                );
                // The close that follows announces nothing more.
                let closed = object.close(&tags(&id), 1006, model.attachment(&id));
                check_departure(&closed, &object, false)?;
                model.sockets.remove(&id);
            }
            Op::Adopt { mut json, reuse } => {
                if let (Some(i), false) = (reuse, model.ids.is_empty()) {
                    json["id"] = i.get(&model.ids).clone().into();
                }
                let attachment = records::parse(json.to_string().as_bytes(), Attachment::read);
                let id = json["id"].as_str().unwrap_or("no-id-tag").to_owned();
                let effects = object.adopt(&tags(&id), attachment.clone());
                check_effects(&effects, None)?;
                model.store_wakes(&effects)?;
                match attachment {
                    Some(attachment) => {
                        prop_assert!(
                            !closes(&effects),
                            "a readable attachment refused: {:?}",
                            effects
                        );
                        if !model.ids.contains(&id) {
                            model.ids.push(id.clone());
                            model.sockets.insert(id, Some(attachment));
                        }
                        // What the shim does once an instance has adopted its sockets.
                        let pending = model.alarm;
                        sweep(&mut model, &mut object, &config, now, &[], pending)?;
                    }
                    None => {
                        let refused = matches!(effects.0.as_slice(),
                            [Effect::Close { code, .. }] if *code == CloseCode::INTERNAL);
                        prop_assert!(refused, "an unreadable attachment kept: {:?}", effects);
                    }
                }
            }
            Op::Evict { closed } => {
                let gone: HashSet<String> = closed
                    .iter()
                    .filter(|_| !model.sockets.is_empty())
                    .map(|i| {
                        i.get(&model.sockets.keys().cloned().collect::<Vec<_>>())
                            .clone()
                    })
                    .collect();
                let open = model.sockets.len() + model.echoes.len();
                object = ObjectState::start(None, now, open, Ok(config.clone()));
                model.stored = 0;
                for (id, attachment) in model.sockets.clone() {
                    if gone.contains(&id) {
                        continue;
                    }
                    let effects = object.adopt(&tags(&id), attachment.clone());
                    check_effects(&effects, None)?;
                    model.store_wakes(&effects)?;
                    // A socket whose member already left (its close still
                    // on its way) is closed again, never readmitted.
                    prop_assert_eq!(!closes(&effects), attachment.is_some());
                }
                for echo in model.echoes.clone() {
                    let effects = object.adopt(&echo, None);
                    prop_assert!(!closes(&effects));
                    model.store_wakes(&effects)?;
                }
                let pending = model.alarm;
                sweep(&mut model, &mut object, &config, now, &[], pending)?;
                for id in &gone {
                    let attachment = model.attachment(id);
                    let effects = object.close(&tags(id), 1006, attachment.clone());
                    check_effects(&effects, None)?;
                    let was_member = model.remove(id);
                    prop_assert_eq!(was_member, attachment.is_some());
                    check_departure(&effects, &object, was_member)?;
                    model.sockets.remove(id);
                }
            }
            Op::Echo { who, text } => {
                let tags = match who {
                    Some(i) if !model.echoes.is_empty() => i.get(&model.echoes).clone(),
                    _ => Vec::new(),
                };
                let effects = object.message(&tags, Frame::Text(&text), now, &mut log);
                check_closes(&effects)?;
                prop_assert_eq!(effects.0.len(), 1);
                match effects.0.as_slice() {
                    // The count is every socket of the object, kept in Rust.
                    [Effect::Reply { text }] => {
                        let count = format!("connections: {}", model.held());
                        prop_assert!(text.ends_with(&count), "{} for {}", text, count);
                    }
                    // Closed by the server (too big, binary, its token
                    // expired): it no longer counts.
                    _ => model.echoes.retain(|echo| *echo != tags),
                }
            }
            Op::EchoGone {
                who,
                error_first,
                code,
            } => {
                if model.echoes.is_empty() {
                    continue;
                }
                let tags = model.echoes.remove(who.index(model.echoes.len()));
                if error_first {
                    prop_assert_eq!(object.error(&tags, None), Effects::default());
                }
                let effects = object.close(&tags, code, None);
                check_closes(&effects)?;
                prop_assert_eq!(object.sockets(), model.held(), "echo sockets counted");
            }
            Op::Alarm { pings } => {
                model.alarm = None; // it runs
                sweep(&mut model, &mut object, &config, now, &pings, None)?;
            }
        }
        model.check(object.room())?;
        prop_assert_eq!(object.sockets(), model.held(), "sockets counted");
    }
    Ok(())
}

impl Model {
    /// Member `id` (if it is one) sent a frame at `now`.
    fn framed(&mut self, id: &str, now: u64) {
        if self.ids.iter().any(|m| m == id) {
            self.last_frame.insert(id.to_owned(), now);
        }
    }
}

/// The idle sweep over every socket the model holds open (members', then
/// `/websocket` ones), the runtime
/// having answered the `i`-th one's `ping` `pings[i]` ms ago (negative: its
/// clock is ahead), with the alarm `pending` besides this run: closes
/// exactly the members that are idle by what their sockets store, one
/// `left` each, and re-arms only while members remain.
fn sweep(
    model: &mut Model,
    object: &mut ObjectState,
    config: &Config,
    now: u64,
    pings: &[Option<i64>],
    pending: Option<u64>,
) -> Result<(), TestCaseError> {
    let rules = Liveness::new(config.idle_timeout_seconds);
    let ids: Vec<String> = model.sockets.keys().cloned().collect();
    let socket_tags: Vec<Vec<String>> = ids.iter().map(|id| tags(id)).collect();
    let pinged: Vec<Option<u64>> = (0..ids.len())
        .map(|i| {
            pings
                .get(i)
                .copied()
                .flatten()
                .map(|ago| now.saturating_add_signed(-ago))
        })
        .collect();
    // `/websocket` sockets are listed too, long silent: never reaped.
    let probes = socket_tags
        .iter()
        .zip(&pinged)
        .map(|(tags, pinged_at)| Probe {
            tags,
            pinged_at: *pinged_at,
        })
        .chain(model.echoes.iter().map(|tags| Probe {
            tags,
            pinged_at: None,
        }));
    // What the stored attachments and the runtime's ping times say: the
    // idle members (none while another run is pending).
    let idle: Vec<String> = match rules.filter(|_| pending.is_none()) {
        None => Vec::new(),
        Some(rules) => ids
            .iter()
            .zip(&pinged)
            .filter(|(id, _)| model.ids.contains(id))
            .filter(|(id, pinged_at)| {
                let attachment = model.attachment(id).expect("member attached");
                rules.is_idle(&attachment.activity(**pinged_at), now)
            })
            .map(|(id, _)| id.clone())
            .collect(),
    };
    let members = model.ids.len();
    let effects = object.sweep(probes, now, pending);
    check_effects(&effects, None)?;
    // Each idle member: expelled with 1001, then one `left` with the count
    // after it, while the room pushes presence; in socket order.
    let mut expelled = Vec::new();
    for effect in &effects.0 {
        match effect {
            Effect::Expel { tag, code, .. } => {
                prop_assert_eq!(code.get(), 1001);
                expelled.push(tag.clone());
                model.store(tag, &Effect::Detach.into());
                prop_assert!(model.remove(tag), "{} expelled but not a member", tag);
            }
            Effect::Send {
                text,
                tag,
                skip_self: true,
                ..
            } if text.contains(r#""type":"left""#) => {
                prop_assert_eq!(tag, ROOM_TAG);
                let count = members - expelled.len();
                prop_assert!(count <= config.presence_limit as usize, "{}", text);
                let counted = format!(r#""count":{count}}}"#);
                prop_assert!(
                    text.ends_with(&counted),
                    "{} after {} left",
                    text,
                    expelled.len()
                );
                let last = expelled.last().map_or("", String::as_str);
                prop_assert!(text.contains(last), "left for another: {}", text);
            }
            Effect::SetAlarm { .. } => {}
            other => return Err(TestCaseError::fail(format!("sweep gave {other:?}"))),
        }
    }
    let lefts = left_announcements(&effects);
    let want = (0..expelled.len())
        .filter(|k| members - k - 1 <= config.presence_limit as usize)
        .count();
    prop_assert_eq!(lefts, want, "one left per expelled member: {:?}", effects);
    prop_assert_eq!(&expelled, &idle, "reaped exactly the idle members");
    let set: Vec<u64> = effects
        .0
        .iter()
        .filter_map(|e| match e {
            Effect::SetAlarm { at } => Some(*at),
            _ => None,
        })
        .collect();
    match (rules, pending, set.as_slice()) {
        (None, _, []) | (Some(_), Some(_), []) => {}
        (Some(rules), None, [at]) => {
            prop_assert!(!model.ids.is_empty(), "re-armed for an empty room");
            prop_assert!(
                *at >= now.saturating_add(rules.min_interval()),
                "alarm at {} too soon after {}",
                at,
                now
            );
        }
        (Some(_), None, []) => prop_assert!(model.ids.is_empty(), "members left without an alarm"),
        _ => return Err(TestCaseError::fail(format!("alarms set: {set:?}"))),
    }
    model.schedule(&effects);
    Ok(())
}

/// A `typing` is relayed to the others exactly when a valid one was served
/// (not refused, not over a limit) in a room that pushes presence, and the
/// member's previous relay, as its stored attachment had it, is at least
/// [`typing::TYPING_INTERVAL_MS`] ago; the relay's time is then stored. No
/// other frame relays one, and nothing else changes `typing_at`.
fn check_typing(
    text: &str,
    effects: &Effects,
    before: Option<Attachment>,
    model: &Model,
    object: &ObjectState,
    id: &str,
    now: u64,
) -> Result<(), TestCaseError> {
    let relays: Vec<&Effect> = effects
        .0
        .iter()
        .filter(
            |e| matches!(e, Effect::Send { text, .. } if text.starts_with(r#"{"type":"typing""#)),
        )
        .collect();
    let max_text_chars = object.room().config().max_text_chars as usize;
    // A frame over the rate limit may be dropped without an answer: its
    // bucket then counts one more drop in a row.
    let dropped = |a: &Attachment| a.bucket.dropped;
    let dropped_silently = model.attachment(id).map(|a| dropped(&a)) > before.as_ref().map(dropped);
    let served = matches!(
        protocol::parse(text, max_text_chars),
        Ok(ClientFrame::Typing)
    ) && !dropped_silently
        && !effects
            .0
            .iter()
            .any(|e| matches!(e, Effect::Reply { .. } | Effect::Close { .. }));
    let last = before.as_ref().and_then(|a| a.typing_at);
    let want = served && announces(object.room()) && typing::due(last, now);
    prop_assert_eq!(
        relays.len(),
        usize::from(want),
        "typing relays: {:?}",
        effects
    );
    if let (Some(relay), Some(member)) = (relays.first(), before) {
        let frame = ServerFrame::Typing {
            id: member.id,
            name: member.name,
        };
        prop_assert_eq!(*relay, &Effect::broadcast(frame.to_json(), true));
    }
    // (A socket closed by this frame keeps no attachment to compare.)
    if let Some(after) = model.attachment(id) {
        prop_assert_eq!(after.typing_at, if want { Some(now) } else { last });
    }
    Ok(())
}

/// Whether the room, as it is now, announces joins and leaves.
fn announces(room: &Room) -> bool {
    room.len() <= room.config().presence_limit as usize
}

fn after_frame(
    model: &mut Model,
    object: &ObjectState,
    id: &str,
    effects: &Effects,
) -> Result<(), TestCaseError> {
    check_effects(effects, Some(id))?;
    check_presence(effects, object.room())?;
    // A frame may get nothing at all: a `typing` coalesced (or in a room
    // above the presence limit) from a member whose attachment need not
    // be stored again (rust/src/room/stored.rs); `check` holds the stored
    // record of its last frame to the granularity.
    model.store(id, effects);
    if closes(effects) {
        let was_member = model.remove(id);
        check_departure(effects, object, was_member)?;
        if was_member {
            prop_assert!(
                model.attachment(id).is_none(),
                "an expelled member keeps its attachment"
            );
        }
    }
    Ok(())
}

// ------------------------------------------------------------- properties

proptest! {
    #![proptest_config(bounded())]

    #[test]
    fn objects_survive_any_sequence_of_events(
        config in room_config(),
        start in prop_oneof![0u64..10_000, any::<u64>()],
        ops in vec((tick(), op()), 1..40),
    ) {
        run(config, start, ops)?;
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
        let mut object = ObjectState::start(None, now, 0, Err(error));
        let log = &mut MemoryLog::default();
        for effects in [
            object.message(&tags("abcdefgh"), Frame::Text(&text), now, log),
            object.message(&tags("abcdefgh"), Frame::Binary(len), now, log),
            object.message(&[], Frame::Text(&text), now, log),
            object.message(&tags("abcdefgh"), Frame::LongText(len), now, log),
        ] {
            check_effects(&effects, None)?;
            let internal = matches!(effects.0.as_slice(),
                [Effect::Close { code, .. }] if *code == CloseCode::INTERNAL);
            prop_assert!(internal, "not closed with 1011: {:?}", effects);
        }
        let Opening::Respond(response) = object.open(&format!("http://h/{text}"), now, &[1; 9], 0, log) else {
            return Err(TestCaseError::fail("a misconfigured room opened a socket"));
        };
        prop_assert_eq!(response.status, 500);
        check_response(&response)?;
    }
}
