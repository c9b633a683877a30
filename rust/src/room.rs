//! A room: who is connected, and what each frame makes happen.
//!
//! One [`Room`] lives in each Durable Object's memory, but nothing in it is
//! only there: every member is a socket [`Attachment`] (which survives
//! hibernation), and [`Room::restore`] rebuilds the room from them when the
//! object is re-created. The room never talks to sockets: it returns
//! [`Effects`] that address them by id tag or as "the room".

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use tsify::Tsify;

use crate::close::CloseCode;
use crate::config::{Config, ConfigError};
use crate::effect::{Effect, Effects};
use crate::error::{Error, HttpError};
use crate::limit::{Bucket, Verdict};
use crate::protocol::{self, ClientFrame, Peer, ServerFrame};
use crate::record::Record;
use crate::route::{authenticate, query_param, room_target, split_url, HttpResponse, RoomTarget};
use crate::seed::{self, Frame};
use crate::token::Claims;

/// The tag every room socket carries besides its id, so a broadcast is
/// `getWebSockets("room")` and leaves seed sockets of the same object alone.
/// Ids are at least 8 characters, so no id equals it.
pub const ROOM_TAG: &str = "room";

/// With the `test-hooks` feature only: the frame that makes the core panic,
/// to prove the shim recovers (test/worker/panic.test.ts).
#[cfg(feature = "test-hooks")]
pub const TEST_PANIC_FRAME: &str = "__test_panic__";

/// Per-connection state, stored on the socket with `serializeAttachment`
/// (at most 16 KiB; this is well under 300 bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
pub struct Attachment {
    /// Random, URL-safe, unique in the room; also the socket's tag.
    pub id: String,
    /// Display name, valid by [`protocol::name`].
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
}

impl Attachment {
    /// The attachment as `serializeAttachment` stored it (see
    /// [`crate::record`]). `sub` may be absent; so may `bucket`, in an
    /// attachment stored before buckets existed: it then gets a full one.
    pub fn read(record: Record<'_>) -> Option<Attachment> {
        Some(Attachment {
            id: record.str("id")?.to_owned(),
            name: record.str("name")?.to_owned(),
            joined_at: record.u64("joined_at")?,
            sub: record.optional("sub", |value| value.as_str().map(str::to_owned))?,
            bucket: record
                .optional("bucket", |value| Bucket::read(Record::of(value)?))?
                .unwrap_or_default(),
        })
    }
}

/// What the Durable Object does with an upgrade to a room.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct Admission {
    /// The new member's id.
    pub id: String,
    /// Tags to accept the socket with: its id and [`ROOM_TAG`].
    pub tags: Vec<String>,
    /// What to do once the socket is accepted: attach its state, welcome
    /// it, announce it to the others.
    pub effects: Effects,
}

/// What the Durable Object does with a request it receives.
#[derive(Clone, Debug, PartialEq, Serialize, Tsify)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Opening {
    /// The seed endpoint: accept a plain socket (no attachment, no tags).
    Seed,
    /// A room upgrade: accept with these tags, attach, welcome, announce.
    Join(Admission),
    /// Answer with this response (stats, or a refusal).
    Respond(HttpResponse),
}

/// The state of one Durable Object: its room's members in join order, how
/// often the object was (re)created, and the limits it enforces.
#[derive(Clone, Debug, Default)]
pub struct Room {
    members: Members,
    wakes: Wakes,
    started_at: u64,
    config: Config,
    /// Set when the configuration is invalid: the object then refuses
    /// every request and frame rather than run with guessed limits.
    broken: Option<ConfigError>,
}

impl Room {
    /// An empty room with the default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty room with `config`.
    pub fn with_config(config: Config) -> Self {
        Room {
            config,
            ..Self::default()
        }
    }

    /// The room of an instance created at `now`, finding `sockets` open and
    /// the stored wake record `previous`, configured by `config`. Members
    /// come back with [`restore`](Self::restore).
    pub fn start(
        previous: Option<Wakes>,
        now: u64,
        sockets: usize,
        config: Result<Config, ConfigError>,
    ) -> Self {
        Self::resume(Wakes::next(previous, now, sockets), now, config)
    }

    /// The room of an instance started at `started_at` whose Wasm instance
    /// was replaced after a trap: the wake record is kept as it was.
    pub fn resume(wakes: Wakes, started_at: u64, config: Result<Config, ConfigError>) -> Self {
        let (config, broken) = match config {
            Ok(config) => (config, None),
            Err(error) => (Config::default(), Some(error)),
        };
        Room {
            members: Members::default(),
            wakes,
            started_at,
            config,
            broken,
        }
    }

    /// The limits the room enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Why the configuration is invalid, if it is.
    pub fn config_error(&self) -> Option<&ConfigError> {
        self.broken.as_ref()
    }

    /// Decides what a frame on the seed endpoint gets: see [`seed::on_message`].
    pub fn on_seed_frame(&self, frame: Frame<'_>, connections: u32) -> Effects {
        if self.broken.is_some() {
            return misconfigured();
        }
        seed::on_message(frame, connections, self.config.max_message_bytes)
    }

    /// The wake record to store.
    pub fn wakes(&self) -> &Wakes {
        &self.wakes
    }

    /// Decides what a request to this object gets, from its URL.
    pub fn open(&mut self, url: &str, now: u64, entropy: &[u8]) -> Opening {
        if let Some(error) = &self.broken {
            return Opening::Respond(HttpResponse::bad_config(error));
        }
        let (path, query) = split_url(url);
        match room_target(path) {
            None => match authenticate(&self.config, query, None, now) {
                Ok(_) => Opening::Seed,
                Err(error) => Opening::Respond(HttpResponse::error(&error)),
            },
            Some(Err(error)) => Opening::Respond(HttpResponse::error(&error)),
            Some(Ok(RoomTarget::Stats(room))) => Opening::Respond(HttpResponse::json(stats_json(
                room,
                self.len(),
                &self.wakes,
                self.started_at,
            ))),
            Some(Ok(RoomTarget::Socket(room))) => {
                let name = query_param(query, "name");
                match authenticate(&self.config, query, Some(room), now)
                    .and_then(|claims| self.join(room, name.as_deref(), claims, now, entropy))
                {
                    Ok(admission) => Opening::Join(admission),
                    Err(error) => Opening::Respond(HttpResponse::error(&error)),
                }
            }
        }
    }

    /// Adds a member found on a socket after a wake. A duplicate id (which a
    /// sound object never holds) keeps the first.
    pub fn restore(&mut self, attachment: Attachment) {
        self.members.insert(attachment);
    }

    /// How many connections the room holds.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The whole roster, in join order. O(n): for tests and tools; frames
    /// carry at most the presence limit (see [`Room::who`]).
    pub fn roster(&self) -> Vec<Peer> {
        self.members.iter().map(peer).collect()
    }

    /// The members as frames count them.
    fn count(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    /// `PRESENCE_LIMIT`: the most peers a frame lists.
    fn presence_limit(&self) -> usize {
        (self.config.presence_limit as usize).max(1)
    }

    /// Whether presence changes are pushed to everyone: only while the room
    /// holds at most `PRESENCE_LIMIT` members, so that a join, a leave or a
    /// rename in a large room costs one frame, not one per member.
    fn pushes_presence(&self) -> bool {
        self.len() <= self.presence_limit()
    }

    /// The welcome's list: member `id` and the first `PRESENCE_LIMIT − 1`
    /// others, in join order. O(limit + log n).
    fn welcome_roster(&self, id: &str) -> Vec<Peer> {
        let Some(me) = self.members.get(id) else {
            return Vec::new();
        };
        let mut list: Vec<&Attachment> = self
            .members
            .iter()
            .filter(|m| m.id != id)
            .take(self.presence_limit() - 1)
            .collect();
        let at = list.partition_point(|m| (m.joined_at, &m.id) < (me.joined_at, &me.id));
        list.insert(at, me);
        list.into_iter().map(peer).collect()
    }

    /// A page of the roster: the first `PRESENCE_LIMIT` members in join
    /// order, or the ones after the cursor `after` (a roster's `next`);
    /// `next` is the cursor of the following page. A cursor is a place in
    /// the join order, not a member: it stays valid when its member leaves,
    /// so paging through a busy room never starts over. O(limit + log n).
    pub fn who(&self, after: Option<&str>) -> Result<ServerFrame, Error> {
        let limit = self.presence_limit();
        let (connections, next) = match after {
            None => page(self.members.iter(), limit),
            Some(after) => match Cursor::parse(after) {
                Some(cursor) => page(self.members.after(cursor), limit),
                None => {
                    return Err(Error::UnknownCursor {
                        after: after.chars().take(64).collect(),
                    })
                }
            },
        };
        Ok(ServerFrame::Roster {
            count: self.count(),
            connections,
            next,
        })
    }

    /// Admits a new connection to `room`. `name` is the raw `?name=` value,
    /// `claims` the verified token (whose name wins) when `AUTH_SECRET` is
    /// set; `entropy` is random bytes from the runtime (the core has no RNG).
    pub fn join(
        &mut self,
        room: &str,
        name: Option<&str>,
        claims: Option<Claims>,
        now: u64,
        entropy: &[u8],
    ) -> Result<Admission, HttpError> {
        let max = self.config.max_connections_per_room;
        if self.len() >= max as usize {
            return Err(HttpError::RoomFull { max });
        }
        let id = self.fresh_id(entropy);
        let (name, sub) = match (claims, name) {
            (Some(claims), _) => (claims.name, Some(claims.sub)),
            (None, Some(raw)) => (protocol::name(raw).map_err(HttpError::BadName)?, None),
            (None, None) => (
                format!("guest-{}", id.chars().take(4).collect::<String>()),
                None,
            ),
        };
        let attachment = Attachment {
            id: id.clone(),
            name: name.clone(),
            joined_at: now,
            sub,
            bucket: Bucket::full(self.config.rate_limit_burst, now),
        };
        self.members.insert(attachment.clone());
        let count = self.count();
        let welcome = ServerFrame::Welcome {
            id: id.clone(),
            room: room.to_owned(),
            count,
            presence_limit: self.config.presence_limit,
            connections: self.welcome_roster(&id),
        };
        let mut effects = Effects(vec![
            Effect::Attach { attachment },
            Effect::Reply {
                text: welcome.to_json(),
            },
        ]);
        if self.pushes_presence() {
            let joined = ServerFrame::Joined {
                id: id.clone(),
                name,
                count,
            };
            effects.push(Effect::broadcast(joined.to_json(), true));
        }
        Ok(Admission {
            id: id.clone(),
            tags: vec![id, ROOM_TAG.to_owned()],
            effects,
        })
    }

    /// Decides what a frame from member `id` makes happen, in this order:
    /// a frame over `MAX_MESSAGE_BYTES` closes the socket (1009); a frame
    /// over the rate limit is dropped (`rate_limited`), and a client that
    /// keeps going is closed (1008); a binary frame is refused
    /// (`unsupported_data`); anything else is parsed and served. The
    /// member's attachment is stored after each frame (its bucket changed).
    pub fn on_frame(&mut self, id: &str, frame: Frame<'_>, now: u64) -> Effects {
        if self.broken.is_some() {
            return misconfigured();
        }
        let (per_second, burst) = (
            self.config.rate_limit_per_second,
            self.config.rate_limit_burst,
        );
        let Some(member) = self.members.get_mut(id) else {
            return unknown_member();
        };
        if let Some(close) = seed::too_big(frame, self.config.max_message_bytes) {
            return self.expel(id, close);
        }
        let verdict = member.bucket.take(now, per_second, burst);
        let attach = |member: &Attachment| Effect::Attach {
            attachment: member.clone(),
        };
        let text = match (verdict, frame) {
            (Verdict::Close, _) => {
                let close = Effect::close(
                    CloseCode::POLICY,
                    "rate limit exceeded: kept sending after rate_limited errors",
                );
                return self.expel(id, close);
            }
            (Verdict::Drop, _) => {
                return Effects(vec![
                    reply(&Error::RateLimited { per_second, burst }),
                    attach(member),
                ])
            }
            (Verdict::Allow, Frame::Binary(_)) => {
                return Effects(vec![reply(&Error::Binary), attach(member)])
            }
            (Verdict::Allow, Frame::Text(text)) => text,
        };
        #[cfg(feature = "test-hooks")]
        if text == TEST_PANIC_FRAME {
            panic!("test-only panic requested by a frame");
        }
        let mut effects = match protocol::parse(text, self.config.max_text_chars as usize) {
            Ok(frame) => self.apply(id, frame, now),
            Err(error) => reply_error(&error),
        };
        if let Some(member) = self.members.get(id) {
            effects.push(attach(member));
        }
        effects
    }

    /// Closes member `id`'s socket with `close` and tells the others it left.
    fn expel(&mut self, id: &str, close: Effect) -> Effects {
        let mut effects = Effects(vec![close]);
        effects.0.extend(self.leave(id).0);
        effects
    }

    fn apply(&mut self, id: &str, frame: ClientFrame, now: u64) -> Effects {
        let Some(member) = self.members.get(id) else {
            return unknown_member();
        };
        let (id, name) = (member.id.clone(), member.name.clone());
        match frame {
            ClientFrame::Say { text } => Effect::broadcast(
                ServerFrame::Message {
                    id,
                    name,
                    text,
                    ts: now,
                }
                .to_json(),
                false,
            )
            .into(),
            ClientFrame::Whisper { to, text } => {
                if to == id {
                    return reply_error(&Error::WhisperToSelf);
                }
                if self.members.get(&to).is_none() {
                    return reply_error(&Error::UnknownRecipient {
                        to: to.chars().take(64).collect(),
                    });
                }
                Effect::Send {
                    tag: to,
                    skip_self: false,
                    text: ServerFrame::Whisper {
                        id,
                        name,
                        text,
                        ts: now,
                    }
                    .to_json(),
                }
                .into()
            }
            ClientFrame::Hello { name } => {
                let Some(member) = self.members.get_mut(&id) else {
                    return unknown_member();
                };
                if member.sub.is_some() {
                    return reply_error(&Error::Forbidden {
                        why: "your name comes from your token and cannot be changed",
                    });
                }
                member.name = name.clone();
                let text = ServerFrame::Renamed { id, name }.to_json();
                if self.pushes_presence() {
                    Effect::broadcast(text, false).into()
                } else {
                    // Above the presence limit only the renamer is told, as
                    // confirmation; the others see the name in `who` pages.
                    Effect::Reply { text }.into()
                }
            }
            ClientFrame::Who { after } => match self.who(after.as_deref()) {
                Ok(roster) => Effect::Reply {
                    text: roster.to_json(),
                }
                .into(),
                Err(error) => reply_error(&error),
            },
            ClientFrame::Ping => Effect::Reply {
                text: ServerFrame::Pong.to_json(),
            }
            .into(),
        }
    }

    /// Member `id`'s socket closed with `code` (1006 when it dropped):
    /// complete the handshake as the seed does and tell the others.
    pub fn on_close(&mut self, id: &str, code: u16) -> Effects {
        let mut effects = seed::on_close(code);
        effects.0.extend(self.leave(id).0);
        effects
    }

    /// Removes member `id` and tells the others while the room, without
    /// it, holds at most `PRESENCE_LIMIT`; nothing if it already left, so a
    /// close after an error reports the departure once.
    pub fn leave(&mut self, id: &str) -> Effects {
        let Some(member) = self.members.remove(id) else {
            return Effects::default();
        };
        if !self.pushes_presence() {
            return Effects::default();
        }
        Effect::broadcast(
            ServerFrame::Left {
                id: member.id,
                name: member.name,
                count: self.count(),
            }
            .to_json(),
            true,
        )
        .into()
    }

    /// A URL-safe id of at least 8 characters from `entropy`, unique in the room.
    fn fresh_id(&self, entropy: &[u8]) -> String {
        let bytes = entropy.get(..9).unwrap_or(entropy);
        let mut id = URL_SAFE_NO_PAD.encode(bytes);
        let mut n = self.members.len();
        while id.len() < 8 || self.members.get(&id).is_some() {
            id.push_str(&URL_SAFE_NO_PAD.encode(n.to_le_bytes()).replace('A', ""));
            n = n.wrapping_add(1);
        }
        id
    }
}

/// The members in join order, found by id without a scan: a frame costs
/// O(log n) in a room of thousands, not O(n).
#[derive(Clone, Debug, Default)]
struct Members {
    /// By (join time, id): iteration is join order, ties broken by id.
    ordered: BTreeMap<(u64, String), Attachment>,
    /// id → join time, the other half of the key.
    joined_at: HashMap<String, u64>,
}

impl Members {
    /// Adds a member; a duplicate id (which a sound object never holds) keeps the first.
    fn insert(&mut self, attachment: Attachment) {
        if self.joined_at.contains_key(&attachment.id) {
            return;
        }
        self.joined_at
            .insert(attachment.id.clone(), attachment.joined_at);
        self.ordered
            .insert((attachment.joined_at, attachment.id.clone()), attachment);
    }

    fn key(&self, id: &str) -> Option<(u64, String)> {
        self.joined_at.get(id).map(|&at| (at, id.to_owned()))
    }

    fn get(&self, id: &str) -> Option<&Attachment> {
        self.ordered.get(&self.key(id)?)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut Attachment> {
        let key = self.key(id)?;
        self.ordered.get_mut(&key)
    }

    fn remove(&mut self, id: &str) -> Option<Attachment> {
        let key = self.key(id)?;
        self.joined_at.remove(id);
        self.ordered.remove(&key)
    }

    fn len(&self) -> usize {
        self.joined_at.len()
    }

    fn is_empty(&self) -> bool {
        self.joined_at.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = &Attachment> {
        self.ordered.values()
    }

    /// The members after the place `cursor`, in join order.
    fn after(&self, cursor: Cursor) -> impl Iterator<Item = &Attachment> {
        self.ordered
            .range((
                Bound::Excluded((cursor.joined_at, cursor.id)),
                Bound::Unbounded,
            ))
            .map(|(_, member)| member)
    }
}

/// A place in the join order: a roster's `next`, written `{joined_at}.{id}`
/// (ids are base64url, so they hold no `.`). Clients treat it as opaque.
struct Cursor {
    joined_at: u64,
    id: String,
}

impl Cursor {
    /// Just after `member`.
    fn at(member: &Attachment) -> String {
        format!("{}.{}", member.joined_at, member.id)
    }

    /// A cursor this server wrote, or `None` for anything else.
    fn parse(text: &str) -> Option<Cursor> {
        let (joined_at, id) = text.split_once('.')?;
        if joined_at.is_empty() || !joined_at.bytes().all(|b| b.is_ascii_digit()) || id.is_empty() {
            return None;
        }
        Some(Cursor {
            joined_at: joined_at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

fn peer(member: &Attachment) -> Peer {
    Peer {
        id: member.id.clone(),
        name: member.name.clone(),
    }
}

/// The first `limit` of `members`, and the cursor just after the last one
/// if more follow.
fn page<'a>(
    members: impl Iterator<Item = &'a Attachment>,
    limit: usize,
) -> (Vec<Peer>, Option<String>) {
    let mut members = members.peekable();
    let mut connections = Vec::new();
    let mut last = None;
    for member in members.by_ref().take(limit) {
        connections.push(peer(member));
        last = Some(member);
    }
    let next = match members.peek() {
        Some(_) => last.map(Cursor::at),
        None => None,
    };
    (connections, next)
}

fn reply(error: &Error) -> Effect {
    Effect::Reply {
        text: ServerFrame::error(error).to_json(),
    }
}

fn reply_error(error: &Error) -> Effects {
    reply(error).into()
}

/// A frame to an object whose configuration is invalid: the socket is
/// closed (the log already says why; new requests get `500 bad_config`).
fn misconfigured() -> Effects {
    Effect::close(
        CloseCode::INTERNAL,
        "server configuration is invalid; see the server log",
    )
    .into()
}

/// A socket tagged as a room member that the room does not know: its
/// attachment was lost or unreadable. Refuse it loudly rather than guess.
fn unknown_member() -> Effects {
    Effect::close(
        CloseCode::INTERNAL,
        "connection unknown to the room; reconnect",
    )
    .into()
}

/// How often this object was (re)created, kept in Durable Object storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Tsify)]
pub struct Wakes {
    /// Instances created so far, this one included.
    pub count: u64,
    /// When an instance was last created while sockets were open (a wake
    /// from hibernation), ms since the epoch.
    pub last_wake_at: Option<u64>,
}

impl Wakes {
    /// The record as stored (see [`crate::record`]).
    pub fn read(record: Record<'_>) -> Option<Wakes> {
        Some(Wakes {
            count: record.u64("count")?,
            last_wake_at: record.optional("last_wake_at", Value::as_u64)?,
        })
    }

    /// The record after an instance starts at `now` finding `sockets` open.
    pub fn next(previous: Option<Wakes>, now: u64, sockets: usize) -> Wakes {
        let previous = previous.unwrap_or_default();
        Wakes {
            count: previous.count.saturating_add(1),
            last_wake_at: if sockets > 0 {
                Some(now)
            } else {
                previous.last_wake_at
            },
        }
    }
}

/// `GET /rooms/{room}`: the room's stats as JSON.
pub fn stats_json(room: &str, connections: usize, wakes: &Wakes, started_at: u64) -> String {
    #[derive(Serialize)]
    struct Stats<'a> {
        room: &'a str,
        connections: usize,
        wakes: u64,
        instance_started_at: u64,
        last_wake_at: Option<u64>,
    }
    let stats = Stats {
        room,
        connections,
        wakes: wakes.count,
        instance_started_at: started_at,
        last_wake_at: wakes.last_wake_at,
    };
    // Serialising this cannot fail: string keys, no floats.
    serde_json::to_string(&stats).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room_with(names: &[&str]) -> (Room, Vec<String>) {
        let mut room = Room::new();
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                room.join("r", Some(name), None, 1000 + i as u64, &[i as u8; 9])
                    .map(|a| a.id)
                    .unwrap_or_default()
            })
            .collect();
        (room, ids)
    }

    /// The effects of a text frame at t=5, minus the attachment update
    /// that ends every served frame (checked here).
    fn frame(room: &mut Room, id: &str, text: &str) -> Effects {
        strip_attach(room.on_frame(id, Frame::Text(text), 5))
    }

    fn strip_attach(mut effects: Effects) -> Effects {
        match effects.0.pop() {
            Some(Effect::Attach { .. }) => effects,
            other => panic!("expected a final attach, got {other:?}"),
        }
    }

    fn error_code(effects: &Effects) -> Option<String> {
        match effects.0.as_slice() {
            [Effect::Reply { text }] => serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned)),
            _ => None,
        }
    }

    /// The attachment, welcome and joined frame (if any) of an admission.
    fn parts(admission: &Admission) -> (Attachment, String, Option<String>) {
        match admission.effects.0.as_slice() {
            [Effect::Attach { attachment }, Effect::Reply { text: welcome }] => {
                (attachment.clone(), welcome.clone(), None)
            }
            [Effect::Attach { attachment }, Effect::Reply { text: welcome }, Effect::Send {
                tag,
                text: joined,
                skip_self: true,
            }] if tag == ROOM_TAG => (attachment.clone(), welcome.clone(), Some(joined.clone())),
            other => panic!("unexpected admission effects {other:?}"),
        }
    }

    #[test]
    fn join_welcomes_with_roster_and_announces() {
        let mut room = Room::new();
        let first = room
            .join("lobby", Some("Ada"), None, 1, &[1; 9])
            .expect("join");
        let second = room.join("lobby", None, None, 2, &[2; 9]).expect("join");
        assert_eq!(first.tags, vec![first.id.clone(), "room".into()]);
        let (attachment, welcome, joined) = parts(&second);
        assert!(attachment.name.starts_with("guest-"));
        assert_eq!(attachment.id, second.id);
        let welcome: serde_json::Value = serde_json::from_str(&welcome).expect("json");
        assert_eq!(welcome["type"], "welcome");
        assert_eq!(welcome["room"], "lobby");
        assert_eq!(welcome["connections"][0]["name"], "Ada");
        assert_eq!(welcome["connections"].as_array().map(Vec::len), Some(2));
        assert_eq!(welcome["count"], 2);
        assert_eq!(welcome["presence_limit"], 100);
        assert_eq!(
            joined,
            Some(format!(
                r#"{{"type":"joined","id":"{}","name":"{}","count":2}}"#,
                attachment.id, attachment.name
            ))
        );
    }

    #[test]
    fn join_refuses_a_bad_name() {
        let mut room = Room::new();
        let refused = room.join("r", Some("a\u{1}b"), None, 1, &[0; 9]);
        assert!(matches!(
            refused,
            Err(HttpError::BadName(Error::ControlCharacter { .. }))
        ));
        assert!(room.is_empty());
    }

    #[test]
    fn ids_are_url_safe_long_and_unique_even_with_poor_entropy() {
        let mut room = Room::new();
        let mut seen = std::collections::HashSet::new();
        for entropy in [&[][..], &[0; 9], &[0; 9], &[1], &[255; 9], &[255; 9]] {
            let id = room.join("r", None, None, 1, entropy).expect("join").id;
            assert!(id.len() >= 8, "{id}");
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn say_broadcasts_to_everyone_with_sender_and_ts() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        assert_eq!(
            frame(&mut room, &ids[0], r#"{"type":"say","text":"hi"}"#),
            Effects(vec![Effect::broadcast(
                format!(
                    r#"{{"type":"message","id":"{}","name":"Ada","text":"hi","ts":5}}"#,
                    ids[0]
                ),
                false,
            )])
        );
    }

    #[test]
    fn whisper_goes_to_its_recipient_only() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        let text = format!(r#"{{"type":"whisper","to":"{}","text":"psst"}}"#, ids[1]);
        assert!(matches!(
            frame(&mut room, &ids[0], &text).0.as_slice(),
            [Effect::Send { tag, text, .. }] if *tag == ids[1] && text.contains(r#""type":"whisper""#)
        ));
        let to_self = format!(r#"{{"type":"whisper","to":"{}","text":"x"}}"#, ids[0]);
        assert_eq!(
            error_code(&frame(&mut room, &ids[0], &to_self)).as_deref(),
            Some("unknown_recipient")
        );
        let unknown = r#"{"type":"whisper","to":"nobody-here","text":"x"}"#;
        assert_eq!(
            error_code(&frame(&mut room, &ids[0], unknown)).as_deref(),
            Some("unknown_recipient")
        );
    }

    #[test]
    fn hello_renames_and_updates_the_attachment() {
        let (mut room, ids) = room_with(&["Ada"]);
        let effects = room.on_frame(
            &ids[0],
            Frame::Text(r#"{"type":"hello","name":" Grace "}"#),
            5,
        );
        assert!(matches!(
            effects.0.as_slice(),
            [Effect::Send { tag, text, skip_self: false }, Effect::Attach { attachment }]
                if attachment.name == "Grace" && tag == ROOM_TAG && text.contains(r#""type":"renamed""#)
        ));
        assert_eq!(room.roster()[0].name, "Grace");
    }

    #[test]
    fn who_ping_and_errors_reply_to_the_sender() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        assert!(matches!(
            frame(&mut room, &ids[0], r#"{"type":"who"}"#).0.as_slice(),
            [Effect::Reply { text }] if text.starts_with(r#"{"type":"roster","count":2,"connections":[{"id""#)
        ));
        assert_eq!(
            frame(&mut room, &ids[0], r#"{"type":"ping"}"#),
            Effects(vec![Effect::Reply {
                text: r#"{"type":"pong"}"#.into()
            }])
        );
        let table = [
            ("nope", "bad_json"),
            (r#"{"type":"x"}"#, "unknown_type"),
            (r#"{"type":"say"}"#, "invalid_field"),
        ];
        for (text, code) in table {
            assert_eq!(
                error_code(&frame(&mut room, &ids[0], text)).as_deref(),
                Some(code),
                "{text}"
            );
        }
        assert_eq!(
            error_code(&strip_attach(room.on_frame(&ids[0], Frame::Binary(3), 5))).as_deref(),
            Some("unsupported_data")
        );
    }

    #[test]
    fn close_completes_handshake_and_announces_once() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        let effects = room.on_close(&ids[1], 1000);
        assert!(matches!(
            effects.0.as_slice(),
            [Effect::Close { .. }, Effect::Send { text, skip_self: true, .. }] if text.contains(r#""type":"left""#)
        ));
        // Announced once; the socket is still closed (releasing it).
        assert_eq!(room.on_close(&ids[1], 1006), seed::on_close(1006));
        assert_eq!(room.len(), 1);
    }

    #[test]
    fn restore_rebuilds_the_room_in_join_order() {
        let (room, _) = room_with(&["Ada", "Bob", "Cy"]);
        let mut restored = Room::new();
        let mut attachments: Vec<Attachment> = room.members.iter().cloned().collect();
        attachments.reverse();
        for attachment in attachments
            .iter()
            .cloned()
            .chain(attachments.first().cloned())
        {
            restored.restore(attachment);
        }
        assert_eq!(restored.roster(), room.roster());
    }

    fn config(edit: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        edit(&mut config);
        config
    }

    fn close_code(effects: &Effects) -> Option<u16> {
        effects.0.iter().find_map(|effect| match effect {
            Effect::Close { code, .. } => Some(code.get()),
            _ => None,
        })
    }

    fn announces_left(effects: &Effects) -> bool {
        effects.0.iter().any(|effect| {
            matches!(effect, Effect::Send { text, skip_self: true, .. } if text.contains(r#""type":"left""#))
        })
    }

    #[test]
    fn frames_over_the_size_limit_close_with_1009_and_leave() {
        let mut room = Room::with_config(config(|c| c.max_message_bytes = 30));
        let a = room
            .join("r", Some("Ada"), None, 1, &[1; 9])
            .expect("join")
            .id;
        let b = room
            .join("r", Some("Bob"), None, 1, &[2; 9])
            .expect("join")
            .id;
        let at_limit = r#"{"type":"say","text":"123456"}"#; // 30 bytes
        assert_eq!(at_limit.len(), 30);
        assert_eq!(
            close_code(&room.on_frame(&a, Frame::Text(at_limit), 2)),
            None
        );
        let over = r#"{"type":"say","text":"1234567"}"#;
        let effects = room.on_frame(&a, Frame::Text(over), 3);
        assert_eq!(close_code(&effects), Some(1009));
        assert!(announces_left(&effects));
        assert_eq!(room.roster().len(), 1);
        assert_eq!(
            close_code(&room.on_frame(&b, Frame::Binary(31), 4)),
            Some(1009)
        );
        assert!(room.is_empty());
    }

    #[test]
    fn rate_limit_drops_then_closes_with_1008_and_survives_a_wake() {
        let mut room = Room::with_config(config(|c| {
            c.rate_limit_burst = 2;
            c.rate_limit_per_second = crate::limit::Rate::per_second(1);
        }));
        let id = room.join("r", None, None, 0, &[1; 9]).expect("join").id;
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        for _ in 0..2 {
            assert_eq!(strip_attach(room.on_frame(&id, ping, 0)), frame_pong());
        }
        // The bucket is empty: the attachment says so, and a room rebuilt
        // from it (as after an eviction) keeps refusing.
        let effects = room.on_frame(&id, ping, 0);
        let Some(Effect::Attach { attachment }) = effects.0.last().cloned() else {
            panic!("expected an attach, got {effects:?}");
        };
        assert_eq!(
            error_code(&strip_attach(effects)).as_deref(),
            Some("rate_limited")
        );
        let mut woken = Room::with_config(room.config().clone());
        woken.restore(attachment);
        for _ in 0..9 {
            let effects = strip_attach(woken.on_frame(&id, ping, 0));
            assert_eq!(error_code(&effects).as_deref(), Some("rate_limited"));
        }
        // 11 drops in a row is more than 5 × the burst of 2.
        let effects = woken.on_frame(&id, ping, 0);
        assert_eq!(close_code(&effects), Some(1008));
        assert!(woken.is_empty());
    }

    #[test]
    fn rate_limit_refills_with_time() {
        let mut room = Room::with_config(config(|c| {
            c.rate_limit_burst = 1;
            c.rate_limit_per_second = crate::limit::Rate::per_second(10);
        }));
        let id = room.join("r", None, None, 0, &[1; 9]).expect("join").id;
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        assert_eq!(strip_attach(room.on_frame(&id, ping, 0)), frame_pong());
        assert_ne!(strip_attach(room.on_frame(&id, ping, 50)), frame_pong());
        assert_eq!(strip_attach(room.on_frame(&id, ping, 150)), frame_pong());
    }

    fn frame_pong() -> Effects {
        Effects(vec![Effect::Reply {
            text: r#"{"type":"pong"}"#.into(),
        }])
    }

    #[test]
    fn text_limit_comes_from_the_config() {
        let (mut room, ids) = {
            let mut room = Room::with_config(config(|c| c.max_text_chars = 3));
            let id = room.join("r", None, None, 0, &[1; 9]).expect("join").id;
            (room, vec![id])
        };
        assert_eq!(
            error_code(&frame(
                &mut room,
                &ids[0],
                r#"{"type":"say","text":"abcd"}"#
            ))
            .as_deref(),
            Some("invalid_field")
        );
        assert!(error_code(&frame(&mut room, &ids[0], r#"{"type":"say","text":"abc"}"#)).is_none());
    }

    #[test]
    fn room_full_refuses_with_503() {
        let mut room = Room::with_config(config(|c| c.max_connections_per_room = 2));
        for i in 0..2 {
            room.join("r", None, None, 0, &[i; 9]).expect("join");
        }
        let refused = room.join("r", None, None, 0, &[9; 9]).expect_err("full");
        assert_eq!((refused.status(), refused.code()), (503, "room_full"));
        assert_eq!(room.len(), 2);
    }

    #[test]
    fn with_auth_the_token_names_the_member_and_hello_is_forbidden() {
        let secret = "k".repeat(32);
        let mut room = Room::with_config(Config {
            auth_secret: crate::config::Config::from_vars(|n| {
                (n == "AUTH_SECRET").then(|| secret.clone())
            })
            .expect("config")
            .auth_secret,
            ..Config::default()
        });
        let claims = Claims {
            sub: "user-7".into(),
            name: "Token Ada".into(),
            room: Some("lobby".into()),
            exp: 2_000,
        };
        let token = crate::token::mint(secret.as_bytes(), &claims);
        let url = |query: &str| format!("http://h/rooms/lobby/websocket?{query}");
        let refused = |opening: Opening| match opening {
            Opening::Respond(r) => Some((r.status, r.body.unwrap_or_default())),
            _ => None,
        };
        let (status, body) = refused(room.open(&url("name=x"), 1_000, &[1; 9])).expect("refused");
        assert_eq!(status, 401);
        assert!(body.contains(r#""reason":"missing""#), "{body}");
        let expired = room.open(&url(&format!("token={token}")), 2_000_000, &[1; 9]);
        assert!(refused(expired).is_some_and(|(_, body)| body.contains("expired")));
        let Opening::Join(admission) =
            room.open(&url(&format!("token={token}&name=Eve")), 1_000, &[1; 9])
        else {
            panic!("expected a join");
        };
        let (attachment, _, _) = parts(&admission);
        assert_eq!(
            (attachment.name.as_str(), attachment.sub.as_deref()),
            ("Token Ada", Some("user-7"))
        );
        assert_eq!(
            error_code(&frame(
                &mut room,
                &admission.id,
                r#"{"type":"hello","name":"Eve"}"#
            ))
            .as_deref(),
            Some("forbidden")
        );
        assert_eq!(room.roster()[0].name, "Token Ada");
        // The seed endpoint needs a token without a room.
        assert!(
            refused(room.open(&format!("http://h/websocket?token={token}"), 1_000, &[])).is_some()
        );
    }

    #[test]
    fn a_broken_config_refuses_requests_and_frames() {
        let error = Config::from_vars(|n| (n == "RATE_LIMIT_BURST").then(|| "lots".to_owned()))
            .expect_err("invalid");
        let mut room = Room::start(None, 0, 0, Err(error));
        let Opening::Respond(response) = room.open("http://h/rooms/r/websocket", 0, &[1; 9]) else {
            panic!("expected a refusal");
        };
        assert_eq!(response.status, 500);
        assert!(response.body.unwrap_or_default().contains("bad_config"));
        assert!(response
            .log
            .unwrap_or_default()
            .contains("RATE_LIMIT_BURST = lots"));
        assert_eq!(
            close_code(&room.on_frame("x", Frame::Text("{}"), 0)),
            Some(1011)
        );
        assert_eq!(
            close_code(&room.on_seed_frame(Frame::Text("hi"), 1)),
            Some(1011)
        );
    }

    #[test]
    fn attachments_and_wakes_read_back_what_was_stored() {
        let attachment = Attachment {
            id: "abcdefgh".into(),
            name: "Ada".into(),
            joined_at: 1_764_300_000_000,
            sub: Some("u-1".into()),
            bucket: Bucket {
                milli_tokens: 2500,
                updated_at: 1_764_300_000_500,
                dropped: 3,
            },
        };
        let without_sub = Attachment {
            sub: None,
            ..attachment.clone()
        };
        for stored in [attachment, without_sub] {
            let json = serde_json::to_string(&stored).expect("json");
            assert_eq!(
                crate::record::parse(json.as_bytes(), Attachment::read),
                Some(stored)
            );
        }
        for wakes in [
            Wakes::default(),
            Wakes {
                count: 9,
                last_wake_at: Some(1_764_300_000_000),
            },
        ] {
            let json = serde_json::to_string(&wakes).expect("json");
            assert_eq!(
                crate::record::parse(json.as_bytes(), Wakes::read),
                Some(wakes)
            );
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
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"bucket":{"milli_tokens":1}}"#,
            r#"{"id":"abcdefgh","name":"Ada","joined_at":1,"bucket":{"milli_tokens":4294967296,"updated_at":0,"dropped":0}}"#,
            r#"["abcdefgh","Ada",1]"#,
        ] {
            assert_eq!(
                crate::record::parse(json.as_bytes(), Attachment::read),
                None,
                "{json}"
            );
        }
    }

    #[test]
    fn an_attachment_from_before_rate_limits_still_restores() {
        let old = crate::record::parse(
            br#"{"id":"abcdefgh","name":"Ada","joined_at":1}"#,
            Attachment::read,
        )
        .expect("old");
        let mut room = Room::new();
        room.restore(old);
        assert_eq!(
            strip_attach(room.on_frame("abcdefgh", Frame::Text(r#"{"type":"ping"}"#), 5)),
            frame_pong()
        );
    }

    #[test]
    fn unknown_member_is_closed_with_1011() {
        let mut room = Room::new();
        assert!(matches!(
            room.on_frame("ghost123", Frame::Text(r#"{"type":"ping"}"#), 5)
                .0
                .as_slice(),
            [Effect::Close { code, .. }] if *code == CloseCode::INTERNAL
        ));
    }

    #[test]
    fn open_decides_seed_join_stats_and_refusals() {
        let mut room = Room::start(None, 100, 0, Ok(Config::default()));
        assert_eq!(room.open("http://h/websocket", 1, &[1; 9]), Opening::Seed);
        let Opening::Join(admission) =
            room.open("http://h/rooms/lobby/websocket?name=Ada", 2, &[2; 9])
        else {
            panic!("expected a join");
        };
        let (attachment, _, _) = parts(&admission);
        assert_eq!(attachment.name, "Ada");
        assert_eq!(attachment.joined_at, 2);
        let Opening::Respond(stats) = room.open("http://h/rooms/lobby", 3, &[]) else {
            panic!("expected stats");
        };
        assert_eq!(
            stats.body.as_deref(),
            Some(
                r#"{"room":"lobby","connections":1,"wakes":1,"instance_started_at":100,"last_wake_at":null}"#
            )
        );
        let Opening::Respond(bad) =
            room.open("http://h/rooms/lobby/websocket?name=%07", 4, &[4; 9])
        else {
            panic!("expected a refusal");
        };
        assert_eq!(bad.status, 400);
        assert_eq!(room.len(), 1);
    }

    #[test]
    fn wakes_count_and_record_wakes_from_hibernation() {
        let first = Wakes::next(None, 10, 0);
        assert_eq!(
            first,
            Wakes {
                count: 1,
                last_wake_at: None
            }
        );
        let woke = Wakes::next(Some(first), 20, 2);
        assert_eq!(
            woke,
            Wakes {
                count: 2,
                last_wake_at: Some(20)
            }
        );
        assert_eq!(Wakes::next(Some(woke), 30, 0).last_wake_at, Some(20));
        assert_eq!(
            stats_json(
                "r",
                2,
                &Wakes {
                    count: 3,
                    last_wake_at: None
                },
                7
            ),
            r#"{"room":"r","connections":2,"wakes":3,"instance_started_at":7,"last_wake_at":null}"#
        );
    }

    // ------------------------------------------------ presence limit

    /// A room with `PRESENCE_LIMIT = limit` and `names` joined in order
    /// (ids from entropy `[i; 9]`, join times 1000 + i).
    fn limited(limit: u32, names: &[&str]) -> (Room, Vec<String>) {
        let mut room = Room::with_config(config(|c| c.presence_limit = limit));
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, name)| join_at(&mut room, name, i).id)
            .collect();
        (room, ids)
    }

    fn join_at(room: &mut Room, name: &str, i: usize) -> Admission {
        room.join("r", Some(name), None, 1000 + i as u64, &[i as u8; 9])
            .expect("join")
    }

    fn peers(ids: &[&String], names: &[&str]) -> String {
        let list: Vec<String> = ids
            .iter()
            .zip(names)
            .map(|(id, name)| format!(r#"{{"id":"{id}","name":"{name}"}}"#))
            .collect();
        list.join(",")
    }

    fn reply_text(effects: &Effects) -> &str {
        match effects.0.as_slice() {
            [Effect::Reply { text }] => text,
            other => panic!("expected one reply, got {other:?}"),
        }
    }

    #[test]
    fn at_the_limit_welcome_lists_everyone_and_joined_carries_the_count() {
        let (mut room, ids) = limited(3, &["Ada", "Bob"]);
        let cy = join_at(&mut room, "Cy", 2);
        let (_, welcome, joined) = parts(&cy);
        assert_eq!(
            welcome,
            format!(
                r#"{{"type":"welcome","id":"{}","room":"r","count":3,"presence_limit":3,"connections":[{}]}}"#,
                cy.id,
                peers(&[&ids[0], &ids[1], &cy.id], &["Ada", "Bob", "Cy"])
            )
        );
        assert_eq!(
            joined,
            Some(format!(
                r#"{{"type":"joined","id":"{}","name":"Cy","count":3}}"#,
                cy.id
            ))
        );
    }

    #[test]
    fn above_the_limit_welcome_lists_self_and_the_first_others_and_nobody_is_told() {
        let (mut room, ids) = limited(2, &["Ada", "Bob"]);
        for (i, name) in [(2, "Cy"), (3, "Dee")] {
            let admission = join_at(&mut room, name, i);
            let (_, welcome, joined) = parts(&admission);
            assert_eq!(
                welcome,
                format!(
                    r#"{{"type":"welcome","id":"{}","room":"r","count":{},"presence_limit":2,"connections":[{}]}}"#,
                    admission.id,
                    i + 1,
                    peers(&[&ids[0], &admission.id], &["Ada", name])
                )
            );
            assert_eq!(joined, None, "{name}");
        }
        // With a limit of 1 the list is the newcomer alone.
        let (mut room, _) = limited(1, &["Ada"]);
        let bob = join_at(&mut room, "Bob", 1);
        let (_, welcome, joined) = parts(&bob);
        assert!(welcome.ends_with(&format!(
            r#""count":2,"presence_limit":1,"connections":[{}]}}"#,
            peers(&[&bob.id], &["Bob"])
        )));
        assert_eq!(joined, None);
    }

    #[test]
    fn left_is_sent_only_once_the_room_is_back_within_the_limit() {
        let (mut room, ids) = limited(2, &["Ada", "Bob", "Cy", "Dee"]);
        assert_eq!(room.on_close(&ids[3], 1006), seed::on_close(1006));
        assert_eq!(
            room.leave(&ids[2]),
            Effects(vec![Effect::broadcast(
                format!(
                    r#"{{"type":"left","id":"{}","name":"Cy","count":2}}"#,
                    ids[2]
                ),
                true
            )])
        );
        assert_eq!(
            room.leave(&ids[1]),
            Effects(vec![Effect::broadcast(
                format!(
                    r#"{{"type":"left","id":"{}","name":"Bob","count":1}}"#,
                    ids[1]
                ),
                true
            )])
        );
        assert_eq!(room.len(), 1);
    }

    #[test]
    fn renamed_goes_to_everyone_within_the_limit_and_to_the_renamer_above_it() {
        let (mut room, ids) = limited(2, &["Ada", "Bob"]);
        let hello = r#"{"type":"hello","name":"Grace"}"#;
        let renamed = format!(r#"{{"type":"renamed","id":"{}","name":"Grace"}}"#, ids[0]);
        assert_eq!(
            frame(&mut room, &ids[0], hello),
            Effects(vec![Effect::broadcast(renamed.clone(), false)])
        );
        join_at(&mut room, "Cy", 2);
        let hello = r#"{"type":"hello","name":"Grace"}"#;
        assert_eq!(
            frame(&mut room, &ids[0], hello),
            Effects(vec![Effect::Reply { text: renamed }])
        );
    }

    #[test]
    fn who_pages_through_a_large_room_with_next_as_the_cursor() {
        let names = ["Ada", "Bob", "Cy", "Dee", "Eve"];
        let (mut room, ids) = limited(2, &names);
        let who = |after: Option<&String>| match after {
            None => r#"{"type":"who"}"#.to_owned(),
            Some(cursor) => format!(r#"{{"type":"who","after":"{cursor}"}}"#),
        };
        let first = frame(&mut room, &ids[4], &who(None));
        let next = roster_next(&first).expect("a first page with next");
        assert_eq!(
            reply_text(&first),
            format!(
                r#"{{"type":"roster","count":5,"connections":[{}],"next":"{next}"}}"#,
                peers(&[&ids[0], &ids[1]], &names[..2]),
            )
        );
        let second = frame(&mut room, &ids[4], &who(Some(&next)));
        let next = roster_next(&second).expect("a second page with next");
        assert_eq!(
            reply_text(&second),
            format!(
                r#"{{"type":"roster","count":5,"connections":[{}],"next":"{next}"}}"#,
                peers(&[&ids[2], &ids[3]], &names[2..4]),
            )
        );
        let last = frame(&mut room, &ids[4], &who(Some(&next)));
        assert_eq!(
            reply_text(&last),
            format!(
                r#"{{"type":"roster","count":5,"connections":[{}]}}"#,
                peers(&[&ids[4]], &names[4..])
            )
        );
        // Following `next` from the start visits everyone once, in join
        // order, also after members left and the room was rebuilt from its
        // attachments (as after an eviction).
        room.leave(&ids[1]);
        room.leave(&ids[2]);
        let mut woken = Room::with_config(room.config().clone());
        let mut attachments: Vec<Attachment> = room.members.iter().cloned().collect();
        attachments.reverse();
        for attachment in attachments {
            woken.restore(attachment);
        }
        assert_eq!(
            listing(&woken, |_| {}),
            [ids[0].clone(), ids[3].clone(), ids[4].clone()]
        );
    }

    #[test]
    fn a_cursor_outlives_its_member_so_paging_never_starts_over() {
        let names = ["Ada", "Bob", "Cy", "Dee", "Eve"];
        let (mut room, ids) = limited(2, &names);
        let first = frame(&mut room, &ids[0], r#"{"type":"who"}"#);
        let next = roster_next(&first).expect("a first page with next");
        // Bob, the last of the first page (the cursor's member), and Cy, the
        // first of the next, leave; Fay joins.
        room.leave(&ids[1]);
        room.leave(&ids[2]);
        let fay = join_at(&mut room, "Fay", 5).id;
        let text = format!(r#"{{"type":"who","after":"{next}"}}"#);
        let second = frame(&mut room, &ids[0], &text);
        let next = roster_next(&second).expect("a second page with next");
        assert_eq!(
            reply_text(&second),
            format!(
                r#"{{"type":"roster","count":4,"connections":[{}],"next":"{next}"}}"#,
                peers(&[&ids[3], &ids[4]], &names[3..5]),
            )
        );
        let text = format!(r#"{{"type":"who","after":"{next}"}}"#);
        assert_eq!(
            reply_text(&frame(&mut room, &ids[0], &text)),
            format!(
                r#"{{"type":"roster","count":4,"connections":[{}]}}"#,
                peers(&[&fay], &["Fay"]),
            )
        );
    }

    #[test]
    fn a_listing_under_churn_sees_everyone_who_stayed_exactly_once() {
        // Between every two pages the oldest remaining member leaves and a
        // new one joins: those present throughout are all listed, once each.
        let names: Vec<String> = (0..12).map(|i| format!("m{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let (mut room, ids) = limited(3, &names);
        let mut gone = Vec::new();
        let mut joined = 0;
        let seen = listing_with(&mut room, |room| {
            let oldest = room.members.iter().next().map(|m| m.id.clone());
            if let Some(oldest) = oldest {
                room.leave(&oldest);
                gone.push(oldest);
            }
            join_at(room, &format!("new{joined}"), 50 + joined);
            joined += 1;
        });
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "listed twice: {seen:?}");
        for id in ids.iter().filter(|id| !gone.contains(id)) {
            assert!(seen.contains(id), "{id} stayed but was not listed");
        }
    }

    #[test]
    fn who_within_the_limit_is_one_page_without_next() {
        let (mut room, ids) = limited(2, &["Ada", "Bob"]);
        assert_eq!(
            reply_text(&frame(&mut room, &ids[0], r#"{"type":"who"}"#)),
            format!(
                r#"{{"type":"roster","count":2,"connections":[{}]}}"#,
                peers(&[&ids[0], &ids[1]], &["Ada", "Bob"])
            )
        );
    }

    #[test]
    fn who_after_anything_but_a_cursor_is_unknown_cursor() {
        let (mut room, ids) = limited(2, &["Ada", "Bob", "Cy"]);
        // A member id is not a cursor; nor are cursors with a part missing
        // or a join time that is not a number.
        for after in [
            ids[1].as_str(),
            "",
            ".",
            "12.",
            ".abc",
            "-1.abc",
            "1e3.abc",
            "99999999999999999999999.abc",
        ] {
            let text = format!(r#"{{"type":"who","after":"{after}"}}"#);
            assert_eq!(
                reply_text(&frame(&mut room, &ids[0], &text)),
                format!(
                    r#"{{"type":"error","code":"unknown_cursor","message":"\"{after}\" is not a cursor from a roster's \"next\"; ask who again without \"after\""}}"#,
                ),
                "{after}"
            );
        }
        let long = format!(r#"{{"type":"who","after":"{}"}}"#, "x".repeat(500));
        assert_eq!(
            room.who(Some(&"x".repeat(500))),
            Err(Error::UnknownCursor {
                after: "x".repeat(64)
            })
        );
        assert_eq!(
            error_code(&frame(&mut room, &ids[0], &long)).as_deref(),
            Some("unknown_cursor")
        );
        // A well-formed cursor past everyone is the empty last page.
        assert_eq!(
            room.who(Some(&format!("{}.zzz", u64::MAX))),
            Ok(ServerFrame::Roster {
                count: 3,
                connections: Vec::new(),
                next: None
            })
        );
    }

    fn roster_next(effects: &Effects) -> Option<String> {
        match serde_json::from_str::<ServerFrame>(reply_text(effects)) {
            Ok(ServerFrame::Roster { next, .. }) => next,
            _ => None,
        }
    }

    /// The ids a listing that follows `next` from the start sees.
    fn listing(room: &Room, mut between: impl FnMut(&Room)) -> Vec<String> {
        let mut room = room.clone();
        listing_with(&mut room, |room| between(room))
    }

    /// The same, calling `between` before each page after the first.
    fn listing_with(room: &mut Room, mut between: impl FnMut(&mut Room)) -> Vec<String> {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for page in 0.. {
            assert!(page < 100, "the listing does not end");
            if page > 0 {
                between(room);
            }
            let Ok(ServerFrame::Roster {
                connections, next, ..
            }) = room.who(after.as_deref())
            else {
                panic!("expected a roster");
            };
            assert!(connections.len() <= room.presence_limit());
            seen.extend(connections.into_iter().map(|p| p.id));
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        seen
    }
}
