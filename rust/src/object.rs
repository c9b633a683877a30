//! One Durable Object: what a request to it gets, and which code serves
//! each of its sockets.
//!
//! An object serves `/websocket` sockets (see [`crate::echo`]), the
//! members of one room (see [`crate::room`]) and the room's stats. It
//! learns what a socket is from its tags ([`Kind`]), never from what
//! happens to be in memory, and rebuilds its room from the sockets'
//! attachments each time it is created ([`ObjectState::adopt`]). An invalid
//! configuration is kept as an error: the object then refuses every request
//! and closes every socket that sends a frame, rather than run with
//! guessed limits.
//!
//! Its alarm closes the members' sockets that died without a Close
//! ([`ObjectState::sweep`], rules in [`crate::liveness`]). It is armed by a
//! join to an empty room (a room with members has one), re-armed by each
//! run only while members remain, and run at once by an instance that
//! starts and finds none pending.

use serde::Serialize;
use tsify::Tsify;

use crate::config::{Config, ConfigError};
use crate::echo;
use crate::error::{CloseReason, Error, HttpError};
use crate::http::route::{authenticate, room_target, RoomTarget};
use crate::http::url::{query_param, split_url};
use crate::liveness::Liveness;
use crate::outcome::{Admission, Effect, Effects, HttpResponse, Opening};
use crate::protocol::{Frame, ServerFrame};
use crate::room::history::{Log, Resume};
use crate::room::Room;
use crate::shard::{Admit, Place, Registry, Role};
use crate::socket::{self, Attachment, Kind};
use crate::text::display;
use crate::wakes::{WakeCount, Wakes};

/// `GET /rooms/{room}`: the body of the answer (TypeScript reads it as this
/// generated type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
pub struct Stats {
    /// The room's name.
    pub room: String,
    /// The room's members now.
    pub connections: u64,
    /// Instances of the object counted so far: those that held a socket
    /// (see [`crate::wakes`]).
    pub wakes: u64,
    /// When the running instance was created, ms since the epoch.
    pub instance_started_at: u64,
    /// When an instance was last created while sockets were open, or `null`.
    #[tsify(type = "number | null")]
    pub last_wake_at: Option<u64>,
    /// The size of the core's Wasm linear memory, in bytes: the isolate's,
    /// shared by every object it runs. It never shrinks, so it is the
    /// high-water mark of what frames cost (see `MAX_MESSAGE_BYTES`).
    pub memory_bytes: u64,
    /// SQLite rows the running instance has written for the room's history,
    /// as the runtime counts them: the storage's billed unit (see
    /// [`crate::room::history`]).
    pub history_rows_written: u64,
    /// Each of the room's objects (see [`crate::shard`]): shard 0 first,
    /// then those shard 0 handed members to. One for a room that does not
    /// span objects.
    pub shards: Vec<ShardStats>,
}

/// One object of a room, in its stats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
pub struct ShardStats {
    /// 0 for the room's own object, `k` for `{room}#{k}`.
    pub shard: u32,
    /// Its members now.
    pub connections: u64,
    /// Its instances counted so far (see [`crate::wakes`]).
    pub wakes: u64,
}

impl Stats {
    /// The stats as JSON text.
    pub fn to_json(&self) -> String {
        // Serialising this cannot fail: string keys, no floats.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the shim reads of one open socket when the idle sweep runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe<'a> {
    /// Its tags (`ctx.getTags(ws)`).
    pub tags: &'a [String],
    /// The runtime's last automatic `pong` to it
    /// (`ctx.getWebSocketAutoResponseTimestamp(ws)`), `None` before any.
    pub pinged_at: Option<u64>,
}

/// The state of one Durable Object.
#[derive(Clone, Debug)]
pub struct ObjectState {
    room: Room,
    /// Its `/websocket` sockets.
    echoes: echo::Sockets,
    wakes: WakeCount,
    /// Set when the configuration is invalid.
    broken: Option<ConfigError>,
}

impl ObjectState {
    /// The object of an instance created at `now`, finding `sockets` open
    /// and the stored wake record `previous`, configured by `config`. Its
    /// sockets come back with [`adopt`](Self::adopt).
    pub fn start(
        previous: Option<Wakes>,
        now: u64,
        sockets: usize,
        config: Result<Config, ConfigError>,
    ) -> Self {
        let (config, broken) = match config {
            Ok(config) => (config, None),
            Err(error) => (Config::default(), Some(error)),
        };
        ObjectState {
            room: Room::with_config(config),
            echoes: echo::Sockets::default(),
            wakes: WakeCount::start(previous, now, sockets),
            broken,
        }
    }

    /// The object of the same instance (created at `now` with `sockets`
    /// open, after `previous`) whose Wasm instance was replaced after a
    /// trap. `stored` is the wake record it stored already, if it did, so
    /// it is not counted twice. Its sockets come back with `adopt`.
    pub fn resume(
        previous: Option<Wakes>,
        now: u64,
        sockets: usize,
        config: Result<Config, ConfigError>,
        stored: Option<Wakes>,
    ) -> Self {
        let mut object = Self::start(previous, now, sockets, config);
        object.wakes = object.wakes.resume(stored);
        object
    }

    /// The idle timeout's rules, unless reaping is off or the object is
    /// misconfigured.
    fn liveness(&self) -> Option<Liveness> {
        self.room.liveness().filter(|_| self.broken.is_none())
    }

    /// A member joined at `now`: the first of an empty room sets the alarm
    /// (one that the room's last run left, with nobody to watch, is
    /// replaced); a room that had members has one.
    fn arm(&self, now: u64) -> Option<Effect> {
        let rules = self.liveness().filter(|_| self.room.len() == 1)?;
        Some(Effect::SetAlarm {
            at: rules.first_alarm(now),
        })
    }

    /// Tells the object its name (`ctx.id.name`; `None` if the runtime
    /// gives none) at `now`: its place in a room that may span objects.
    /// Shard 0 of such a room reads its registry of the other shards from
    /// `log` (a failed read is logged by the store and counts as none).
    pub fn place(&mut self, name: Option<&str>, now: u64, log: &mut impl Log) {
        let spans = self.room.config().spans() && self.broken.is_none();
        let registry = match name.map(Place::of) {
            Some(place) if spans && place.shard == 0 => {
                Registry::load(log.shards().unwrap_or_default())
            }
            _ => Registry::default(),
        };
        self.room.set_role(Role::of(name, spans, now, registry));
    }

    /// Why the configuration is invalid, if it is.
    pub fn config_error(&self) -> Option<&ConfigError> {
        self.broken.as_ref()
    }

    /// The room this object holds.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// The room this object holds, for the calls between its shards
    /// ([`crate::room::shards`]): nothing when misconfigured.
    pub fn room_mut(&mut self) -> Option<&mut Room> {
        self.broken.is_none().then_some(&mut self.room)
    }

    /// How many sockets the object holds: the room's members and the
    /// `/websocket` sockets, counted as they come and go (no need to ask
    /// the runtime for the list).
    pub fn sockets(&self) -> usize {
        self.room.len() + self.echoes.len()
    }

    /// `MAX_MESSAGE_BYTES`: how much of a frame the boundary may copy
    /// into the core (see [`crate::limit::text_by_length`]).
    pub fn max_message_bytes(&self) -> u32 {
        self.room.config().max_message_bytes
    }

    /// Decides what a request to this object gets, from its URL;
    /// `memory_bytes` is the Wasm memory's size, for the stats; `log` reads
    /// the room's stored history if a join needs it.
    ///
    /// An object holds at most `MAX_CONNECTIONS_PER_ROOM` sockets of either
    /// kind: the object `foo` serves `/websocket` and the room `foo`, and
    /// both count.
    pub fn open(
        &mut self,
        url: &str,
        now: u64,
        entropy: &[u8],
        memory_bytes: u64,
        log: &mut impl Log,
    ) -> Opening {
        if let Some(error) = &self.broken {
            return Opening::Respond(HttpResponse::bad_config(error));
        }
        let (path, query) = split_url(url);
        let max = self.room.config().object_cap();
        let full = self.sockets() >= max as usize;
        let who = |room| authenticate(self.room.config(), query, room, now);
        let opened = match room_target(path) {
            None => who(None).and_then(|claims| match full {
                true => Err(HttpError::RoomFull { max }),
                false => Ok(self.echo(entropy, claims.map(|c| c.exp))),
            }),
            Some(Err(error)) => Err(error),
            Some(Ok(RoomTarget::Stats(room))) => who(Some(room)).map(|_| {
                let objects = self.survey();
                if !objects.is_empty() {
                    return Opening::Survey { objects };
                }
                let stats = self.stats(room, memory_bytes, log.rows_written());
                Opening::Respond(HttpResponse::json(stats.to_json()))
            }),
            Some(Ok(RoomTarget::Socket(room))) => who(Some(room)).and_then(|claims| {
                let count = u64::from(self.room.count()) + 1;
                match self.room.admit(self.sockets() as u64) {
                    Admit::Here => {}
                    Admit::Full => {
                        return Err(HttpError::RoomFull {
                            max: self.room.config().max_connections_per_room,
                        })
                    }
                    Admit::Shard { shard, fresh } => {
                        let sync = match fresh {
                            true => Some(self.room.sync(shard, log).map_err(|_| {
                                self.room.forwarded(shard, None);
                                HttpError::Internal
                            })?),
                            false => None,
                        };
                        let object = crate::shard::object_name(room, shard);
                        let headers =
                            vec![(crate::shard::ROOM_COUNT_HEADER.to_owned(), display(&count))];
                        return Ok(Opening::Forward {
                            shard,
                            object,
                            headers,
                            sync,
                        });
                    }
                }
                let name = query_param(query, "name");
                let resume =
                    Resume::read(query_param(query, "since"), query_param(query, "epoch"))?;
                let (name, resume) = (name.as_deref(), resume.as_ref());
                let mut admission = self
                    .room
                    .join(room, name, claims, resume, now, entropy, log)?;
                admission.effects.0.extend(self.hold());
                admission.effects.0.extend(self.arm(now));
                Ok(Opening::Join(admission))
            }),
        };
        opened.unwrap_or_else(|error| Opening::Respond(HttpResponse::error(&error)))
    }

    /// A new `/websocket` socket, whose token (if any) expires at `exp`.
    fn echo(&mut self, entropy: &[u8], exp: Option<u64>) -> Opening {
        let id = self.echoes.open(entropy);
        let mut tags = vec![id.clone()];
        tags.extend(exp.map(|exp| format!("{}{exp}", socket::EXPIRY_TAG)));
        Opening::Echo(Admission {
            id,
            tags,
            effects: Effects(self.hold().into_iter().collect()),
            headers: Vec::new(),
        })
    }

    /// The object holds a socket: its wake record is stored the first time.
    fn hold(&mut self) -> Option<Effect> {
        self.wakes.hold().map(|wakes| Effect::StoreWakes { wakes })
    }

    /// The stats of `room` as this object holds them; `rows_written` is
    /// what its history store counted.
    pub fn stats(&self, room: &str, memory_bytes: u64, rows_written: u64) -> Stats {
        let wakes = self.wakes.wakes();
        let connections = self.room.len() as u64;
        Stats {
            room: room.to_owned(),
            connections,
            wakes: wakes.count,
            instance_started_at: self.wakes.started_at(),
            last_wake_at: wakes.last_wake_at,
            memory_bytes,
            history_rows_written: rows_written,
            shards: vec![ShardStats {
                shard: 0,
                connections,
                wakes: wakes.count,
            }],
        }
    }

    /// What a shard ≥ 1 answers shard 0's survey: its members and wakes.
    pub fn counts(&self) -> (u64, u64) {
        (self.room.len() as u64, self.wakes.wakes().count)
    }

    /// The other shards shard 0 must ask for the stats of its room, by
    /// object name (none for a room on one object).
    fn survey(&self) -> Vec<String> {
        match self.room.role() {
            Role::Leader { place, registry } => {
                registry.shards().map(|(k, _)| place.object(k)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Shard 0's stats of `room` with the answers of the shards it
    /// surveyed, in order: each one's `(connections, wakes)` (`None`: it
    /// did not answer, and counts 0). `connections` is the room's total.
    pub fn surveyed(
        &self,
        room: &str,
        answers: &[Option<(u64, u64)>],
        memory_bytes: u64,
        rows_written: u64,
    ) -> Stats {
        let mut stats = self.stats(room, memory_bytes, rows_written);
        let shards = match self.room.role() {
            Role::Leader { registry, .. } => registry.shards().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        };
        for (shard, answer) in shards.into_iter().zip(answers) {
            let (connections, wakes) = answer.unwrap_or_default();
            stats.connections += connections;
            stats.shards.push(ShardStats {
                shard,
                connections,
                wakes,
            });
        }
        stats
    }

    /// Takes back a socket found open when the instance was created. A room
    /// socket's member rejoins from its `attachment`; a room socket whose
    /// attachment is missing or unreadable (which a sound object never
    /// has) is closed with 1011 at once, so it neither hears broadcasts nor
    /// gets answers meant for `/websocket`.
    pub fn adopt(&mut self, tags: &[String], attachment: Option<Attachment>) -> Effects {
        match (Kind::of(tags), attachment) {
            (Kind::Echo(id), _) => {
                self.echoes.adopt(id);
                Effects(self.hold().into_iter().collect())
            }
            (Kind::Member(id), Some(attachment)) if attachment.id == id => {
                self.room.restore(attachment);
                Effects(self.hold().into_iter().collect())
            }
            (Kind::Member(_), _) => Effect::close(&CloseReason::UnknownConnection).into(),
        }
    }

    /// A frame on a socket with `tags`, at `now`; `log` reads the room's
    /// stored history if a `say` needs it.
    pub fn message(
        &mut self,
        tags: &[String],
        frame: Frame<'_>,
        now: u64,
        log: &mut impl Log,
    ) -> Effects {
        if self.broken.is_some() {
            return Effect::close(&CloseReason::Misconfigured).into();
        }
        match Kind::of(tags) {
            Kind::Echo(id) => {
                let effects = match socket::expiry(tags).filter(|&exp| now / 1000 >= exp) {
                    Some(exp) => Effect::close(&CloseReason::TokenExpired { exp }).into(),
                    None => {
                        echo::on_message(frame, self.sockets() as u64, self.max_message_bytes())
                    }
                };
                // A socket the server closes stops counting at once, as an
                // expelled member does; its close, later, finds it gone.
                if effects.0.iter().any(|e| matches!(e, Effect::Close { .. })) {
                    self.echoes.leave(id);
                }
                effects
            }
            Kind::Member(id) => self.room.on_frame(id, frame, now, log),
        }
    }

    /// The answer to a frame the server failed to handle (a trap, an
    /// exception in the shim): a room member is told `internal` and may
    /// send the next frame; `/websocket`, whose protocol has no errors,
    /// gets nothing.
    pub fn failed(tags: &[String]) -> Effects {
        match Kind::of(tags) {
            Kind::Echo(_) => Effects::default(),
            Kind::Member(_) => Effect::Reply {
                text: ServerFrame::error(&Error::Internal).to_json(),
            }
            .into(),
        }
    }

    /// The runtime reported the close of a socket with `tags` with `code`;
    /// `attachment` is the socket's own (see [`Room::depart`]).
    pub fn close(&mut self, tags: &[String], code: u16, attachment: Option<Attachment>) -> Effects {
        match Kind::of(tags) {
            Kind::Echo(id) => {
                self.echoes.leave(id);
                echo::on_close(code)
            }
            Kind::Member(id) => self.room.on_close(id, code, attachment),
        }
    }

    /// The runtime reported a close or an error of a socket it had already
    /// released, whose tags it no longer gives: one the server closed
    /// itself (an expelled member, a `/websocket` socket closed with 1003
    /// or 1009), whose departure was handled then. Nothing is left to do.
    pub fn released() -> Effects {
        Effects::default()
    }

    /// The runtime reported an error on a socket with `tags`: see
    /// [`Room::on_error`]. A `/websocket` socket stops counting at once;
    /// the close that may follow finds it gone.
    pub fn error(&mut self, tags: &[String], attachment: Option<Attachment>) -> Effects {
        match Kind::of(tags) {
            Kind::Echo(id) => {
                self.echoes.leave(id);
                Effects::default()
            }
            Kind::Member(id) => self.room.on_error(id, attachment),
        }
    }

    /// The idle sweep at `now` over the object's open `sockets`, run by
    /// the alarm, and by an instance that finds no alarm `pending` when it
    /// starts (the alarm's last run failed, or reaping was just turned on).
    /// An instance that finds one pending leaves it to run.
    ///
    /// Expels every member idle for longer than the timeout (by its tag:
    /// detached, closed with 1001, `left` to the others, as any expelled
    /// member) and sets the next run just after the earliest deadline of
    /// the members that remain (see [`Liveness::next_alarm`]); with none
    /// left, the alarm is not re-armed. `/websocket` sockets are never
    /// reaped: they keep the example's behaviour.
    pub fn sweep<'a>(
        &mut self,
        sockets: impl IntoIterator<Item = Probe<'a>>,
        now: u64,
        pending: Option<u64>,
    ) -> Effects {
        let mut effects = Effects::default();
        let Some(rules) = self.liveness() else {
            return effects;
        };
        if pending.is_some() {
            return effects;
        }
        let mut earliest: Option<u64> = None;
        for probe in sockets {
            let Kind::Member(id) = Kind::of(probe.tags) else {
                continue;
            };
            // A member already gone (its close on its way) is not judged.
            let Some(activity) = self.room.activity(id, probe.pinged_at) else {
                continue;
            };
            if rules.is_idle(&activity, now) {
                effects.extend(self.room.reap(id));
            } else {
                let deadline = rules.deadline(&activity);
                earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
            }
        }
        effects.0.extend(
            rules
                .next_alarm(now, earliest)
                .map(|at| Effect::SetAlarm { at }),
        );
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::Bucket;
    use crate::room::testing::*;
    use crate::socket::ROOM_TAG;
    use crate::token::Claims;

    fn member(id: &str) -> Vec<String> {
        vec![id.to_owned(), ROOM_TAG.to_owned()]
    }

    /// A text frame from member `id` at t=5, minus the final attachment update.
    fn frame_of(object: &mut ObjectState, id: &str, text: &str) -> Effects {
        strip_attach(object.message(&member(id), Frame::Text(text), 5, &mut log()))
    }

    #[test]
    fn with_auth_the_token_names_the_member_and_hello_is_forbidden() {
        let secret = "k".repeat(32);
        let config = Config::from_vars(|n| (n == "AUTH_SECRET").then(|| secret.clone()));
        let mut object = ObjectState::start(None, 0, 0, config);
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
        let (status, body) =
            refused(object.open(&url("name=x"), 1_000, &[1; 9], 0, &mut log())).expect("refused");
        assert_eq!(status, 401);
        assert!(body.contains(r#""reason":"missing""#), "{body}");
        let expired = object.open(
            &url(&format!("token={token}")),
            2_000_000,
            &[1; 9],
            0,
            &mut log(),
        );
        assert!(refused(expired).is_some_and(|(_, body)| body.contains("expired")));
        let admission = joined(object.open(
            &url(&format!("token={token}&name=Eve")),
            1_000,
            &[1; 9],
            0,
            &mut log(),
        ));
        let (attachment, _, _) = parts(&admission);
        assert_eq!(
            (attachment.name.as_str(), attachment.sub.as_deref()),
            ("Token Ada", Some("user-7"))
        );
        assert_eq!(
            error_code(&frame_of(
                &mut object,
                &admission.id,
                r#"{"type":"hello","name":"Eve"}"#
            ))
            .as_deref(),
            Some("forbidden")
        );
        assert_eq!(object.room().roster()[0].name, "Token Ada");
        // `/websocket` needs a token without a room.
        assert!(refused(object.open(
            &format!("http://h/websocket?token={token}"),
            1_000,
            &[],
            0,
            &mut log()
        ))
        .is_some());
    }

    #[test]
    fn a_broken_config_refuses_requests_and_frames() {
        let error = Config::from_vars(|n| (n == "RATE_LIMIT_BURST").then(|| "lots".to_owned()))
            .expect_err("invalid");
        let mut object = ObjectState::start(None, 0, 0, Err(error));
        let Opening::Respond(response) =
            object.open("http://h/rooms/r/websocket", 0, &[1; 9], 0, &mut log())
        else {
            panic!("expected a refusal");
        };
        assert_eq!(response.status, 500);
        assert!(response.body.unwrap_or_default().contains("bad_config"));
        assert!(response
            .log
            .unwrap_or_default()
            .contains("RATE_LIMIT_BURST = lots"));
        assert_eq!(
            close_code(&object.message(&member("x"), Frame::Text("{}"), 0, &mut log())),
            Some(1011)
        );
        assert_eq!(
            close_code(&object.message(&[], Frame::Text("hi"), 0, &mut log())),
            Some(1011)
        );
    }

    /// The admission of a join, without the wake record it may store.
    fn joined(opening: Opening) -> Admission {
        let Opening::Join(mut admission) = opening else {
            panic!("expected a join, got {opening:?}");
        };
        admission
            .effects
            .0
            .retain(|e| !matches!(e, Effect::StoreWakes { .. }));
        admission
    }

    fn stored(effects: &Effects) -> Vec<Wakes> {
        effects
            .0
            .iter()
            .filter_map(|effect| match effect {
                Effect::StoreWakes { wakes } => Some(wakes.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn open_decides_echo_join_stats_and_refusals() {
        let mut object = ObjectState::start(None, 100, 0, Ok(Config::default()));
        let Opening::Echo(echo) = object.open("http://h/websocket", 1, &[1; 9], 0, &mut log())
        else {
            panic!("expected an echo socket");
        };
        assert!(echo.id.starts_with("echo:"));
        assert_eq!(echo.tags, vec![echo.id.clone()]);
        let admission = joined(object.open(
            "http://h/rooms/lobby/websocket?name=Ada",
            2,
            &[2; 9],
            0,
            &mut log(),
        ));
        let (attachment, _, _) = parts(&admission);
        assert_eq!(attachment.name, "Ada");
        assert_eq!(attachment.joined_at, 2);
        let Opening::Respond(stats) =
            object.open("http://h/rooms/lobby", 3, &[], 65_536, &mut log())
        else {
            panic!("expected stats");
        };
        assert_eq!(
            stats.body.as_deref(),
            Some(
                r#"{"room":"lobby","connections":1,"wakes":1,"instance_started_at":100,"last_wake_at":null,"memory_bytes":65536,"history_rows_written":0,"shards":[{"shard":0,"connections":1,"wakes":1}]}"#
            )
        );
        let Opening::Respond(bad) = object.open(
            "http://h/rooms/lobby/websocket?name=%07",
            4,
            &[4; 9],
            0,
            &mut log(),
        ) else {
            panic!("expected a refusal");
        };
        assert_eq!(bad.status, 400);
        assert_eq!((object.room().len(), object.sockets()), (1, 2));
    }

    #[test]
    fn the_wake_record_is_stored_once_the_instance_holds_a_socket() {
        // A room that never had a member: stats store nothing.
        let mut object = ObjectState::start(None, 100, 0, Ok(Config::default()));
        let Opening::Respond(stats) = object.open("http://h/rooms/r", 1, &[], 0, &mut log()) else {
            panic!("expected stats");
        };
        assert!(stats.body.unwrap_or_default().contains(r#""wakes":0"#));
        // The first join stores the record, once.
        let Opening::Join(first) =
            object.open("http://h/rooms/r/websocket", 2, &[1; 9], 0, &mut log())
        else {
            panic!("expected a join");
        };
        let counted = Wakes {
            count: 1,
            last_wake_at: None,
        };
        assert_eq!(stored(&first.effects), std::slice::from_ref(&counted));
        let Opening::Join(second) =
            object.open("http://h/rooms/r/websocket", 3, &[2; 9], 0, &mut log())
        else {
            panic!("expected a join");
        };
        assert_eq!(stored(&second.effects), []);
        // A wake: the first socket adopted stores it, as a wake.
        let mut woken = ObjectState::start(Some(counted.clone()), 500, 2, Ok(Config::default()));
        let effects = woken.adopt(&[], None);
        assert_eq!(
            stored(&effects),
            [Wakes {
                count: 2,
                last_wake_at: Some(500)
            }]
        );
        assert_eq!(stored(&woken.adopt(&[], None)), []);
        // An instance created by stats alone, after the room had members:
        // nothing stored, the count as it was.
        let mut polled = ObjectState::start(Some(counted), 900, 0, Ok(Config::default()));
        let Opening::Respond(stats) = polled.open("http://h/rooms/r", 901, &[], 0, &mut log())
        else {
            panic!("expected stats");
        };
        assert!(stats.body.unwrap_or_default().contains(r#""wakes":1,"#));
        // After a trap, an instance that stored its record is not counted again.
        let mut resumed = ObjectState::resume(
            None,
            500,
            2,
            Ok(Config::default()),
            Some(Wakes {
                count: 2,
                last_wake_at: Some(500),
            }),
        );
        assert_eq!(stored(&resumed.adopt(&[], None)), []);
    }

    #[test]
    fn with_auth_stats_need_a_token_for_the_room() {
        let secret = "k".repeat(32);
        let config = || Config::from_vars(|n| (n == "AUTH_SECRET").then(|| secret.clone()));
        let mut object = ObjectState::start(None, 0, 0, config());
        let token = |room: Option<&str>| {
            let claims = Claims {
                sub: "u".into(),
                name: "Ada".into(),
                room: room.map(Into::into),
                exp: 2_000,
            };
            crate::token::mint(secret.as_bytes(), &claims)
        };
        let status = |opening: Opening| match opening {
            Opening::Respond(response) => response.status,
            other => panic!("expected an answer, got {other:?}"),
        };
        let url = |query: String| format!("http://h/rooms/lobby?{query}");
        assert_eq!(
            status(object.open(&url(String::new()), 1_000, &[], 0, &mut log())),
            401
        );
        let other_room = format!("token={}", token(Some("other")));
        assert_eq!(
            status(object.open(&url(other_room), 1_000, &[], 0, &mut log())),
            401
        );
        let this_room = format!("token={}", token(Some("lobby")));
        assert_eq!(
            status(object.open(&url(this_room.clone()), 1_000, &[], 0, &mut log())),
            200
        );
        assert_eq!(
            status(object.open(&url(this_room), 2_000_000, &[], 0, &mut log())),
            401
        );
        let any_room = format!("token={}", token(None));
        assert_eq!(
            status(object.open(&url(any_room), 1_000, &[], 0, &mut log())),
            200
        );
    }

    #[test]
    fn an_object_holds_at_most_max_connections_sockets_of_both_kinds() {
        let config = config(|c| c.max_connections_per_room = 2);
        let mut object = ObjectState::start(None, 0, 0, Ok(config));
        assert!(matches!(
            object.open("http://h/websocket", 0, &[1; 9], 0, &mut log()),
            Opening::Echo(_)
        ));
        joined(object.open("http://h/rooms/foo/websocket", 0, &[2; 9], 0, &mut log()));
        for url in ["http://h/websocket", "http://h/rooms/foo/websocket"] {
            let Opening::Respond(full) = object.open(url, 0, &[3; 9], 0, &mut log()) else {
                panic!("expected room_full for {url}");
            };
            assert_eq!(full.status, 503, "{url}");
            assert!(full.body.unwrap_or_default().contains("room_full"));
        }
        assert_eq!(object.sockets(), 2);
    }

    #[test]
    fn echo_sockets_are_counted_exactly_across_errors_closes_and_wakes() {
        let mut object = ObjectState::start(None, 0, 0, Ok(Config::default()));
        let mut open = |entropy: u8| match object.open(
            "http://h/websocket",
            0,
            &[entropy; 9],
            0,
            &mut log(),
        ) {
            Opening::Echo(admission) => admission.tags,
            other => panic!("expected an echo socket, got {other:?}"),
        };
        let (a, b, c) = (open(1), open(2), open(3));
        let reply = |object: &mut ObjectState, tags: &[String]| {
            reply_text(&object.message(tags, Frame::Text("hi"), 0, &mut log())).to_owned()
        };
        assert!(reply(&mut object, &a).ends_with("connections: 3"));
        // An error, then its close: one socket less, once.
        object.error(&b, None);
        object.close(&b, 1006, None);
        assert!(reply(&mut object, &a).ends_with("connections: 2"));
        // An eviction: a and c are adopted; a socket that closed while the
        // object was evicted reports its close to the new object.
        let mut woken = ObjectState::start(None, 10, 2, Ok(Config::default()));
        woken.adopt(&a, None);
        woken.adopt(&c, None);
        woken.close(&b, 1006, None);
        assert!(reply(&mut woken, &c).ends_with("connections: 2"));
        // Members count too (the example counted every socket of the object).
        joined(woken.open("http://h/rooms/foo/websocket", 10, &[9; 9], 0, &mut log()));
        assert!(reply(&mut woken, &c).ends_with("connections: 3"));
    }

    #[test]
    fn a_frame_at_the_token_expiry_closes_with_1008_token_expired() {
        let secret = "k".repeat(32);
        let config = Config::from_vars(|n| (n == "AUTH_SECRET").then(|| secret.clone()));
        let mut object = ObjectState::start(None, 0, 0, config);
        let token = |room: Option<&str>| {
            let claims = Claims {
                sub: "u".into(),
                name: "Ada".into(),
                room: room.map(Into::into),
                exp: 2_000,
            };
            crate::token::mint(secret.as_bytes(), &claims)
        };
        let url = format!("http://h/rooms/r/websocket?token={}", token(Some("r")));
        let ada = joined(object.open(&url, 1_000_000, &[1; 9], 0, &mut log()));
        let bob = joined(object.open(&url, 1_000_000, &[2; 9], 0, &mut log()));
        let (attachment, _, _) = parts(&ada);
        assert_eq!(attachment.exp, Some(2_000));
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        assert_eq!(
            strip_attach(object.message(&ada.tags, ping, 1_999_999, &mut log())),
            frame_pong()
        );
        let expired = object.message(&ada.tags, ping, 2_000_000, &mut log());
        assert!(matches!(
            expired.0.as_slice(),
            [Effect::Detach, Effect::Close { code, reason }, Effect::Send { .. }]
                if code.get() == 1008
                    && reason == "token expired at 2000 (Unix seconds): reconnect with a fresh token"
        ));
        assert!(!object.room().contains(&ada.id) && object.room().contains(&bob.id));
        // `/websocket`: the expiry is in the socket's tags.
        let Opening::Echo(echo) = object.open(
            &format!("http://h/websocket?token={}", token(None)),
            1_000_000,
            &[3; 9],
            0,
            &mut log(),
        ) else {
            panic!("expected an echo socket");
        };
        assert_eq!(echo.tags[1], "exp:2000");
        assert_eq!(
            close_code(&object.message(&echo.tags, ping, 1_999_999, &mut log())),
            None
        );
        assert_eq!(
            close_code(&object.message(&echo.tags, ping, 2_000_000, &mut log())),
            Some(1008)
        );
    }

    #[test]
    fn stats_serialise_as_documented() {
        assert_eq!(
            Stats {
                room: "r".into(),
                connections: 2,
                wakes: 3,
                instance_started_at: 7,
                last_wake_at: None,
                memory_bytes: 1_179_648,
                history_rows_written: 0,
                shards: vec![ShardStats {
                    shard: 0,
                    connections: 2,
                    wakes: 3,
                }],
            }
            .to_json(),
            r#"{"room":"r","connections":2,"wakes":3,"instance_started_at":7,"last_wake_at":null,"memory_bytes":1179648,"history_rows_written":0,"shards":[{"shard":0,"connections":2,"wakes":3}]}"#
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
                milli_strikes: 3000,
                limited_at: 1_764_300_000_400,
            },
            exp: Some(1_764_300_060),
            typing_at: Some(1_764_300_000_200),
        };
        let without_optionals = Attachment {
            sub: None,
            exp: None,
            typing_at: None,
            ..attachment.clone()
        };
        for stored in [attachment, without_optionals] {
            let json = serde_json::to_string(&stored).expect("json");
            assert_eq!(
                crate::records::parse(json.as_bytes(), Attachment::read),
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
                crate::records::parse(json.as_bytes(), Wakes::read),
                Some(wakes)
            );
        }
    }

    fn join_at(object: &mut ObjectState, name: &str, now: u64) -> (String, Effects) {
        let url = format!("http://h/rooms/r/websocket?name={name}");
        let Opening::Join(admission) = object.open(&url, now, name.as_bytes(), 0, &mut log())
        else {
            panic!("expected a join");
        };
        (admission.id, admission.effects)
    }

    fn alarms(effects: &Effects) -> Vec<u64> {
        effects
            .0
            .iter()
            .filter_map(|e| match e {
                Effect::SetAlarm { at } => Some(*at),
                _ => None,
            })
            .collect()
    }

    fn expelled(effects: &Effects) -> Vec<(&str, u16)> {
        effects
            .0
            .iter()
            .filter_map(|e| match e {
                Effect::Expel { tag, code, .. } => Some((tag.as_str(), code.get())),
                _ => None,
            })
            .collect()
    }

    fn probe(tags: &[String], pinged_at: Option<u64>) -> Probe<'_> {
        Probe { tags, pinged_at }
    }

    #[test]
    fn the_first_join_arms_the_alarm_which_reaps_exactly_the_idle_members() {
        let mut object = ObjectState::start(None, 0, 0, Ok(Config::default()));
        let (ada, effects) = join_at(&mut object, "Ada-0000", 1_000);
        assert_eq!(alarms(&effects), [121_001]); // the timeout after the join
        let (bob, effects) = join_at(&mut object, "Bob-0000", 2_000);
        assert_eq!(alarms(&effects), [0u64; 0]);
        let (cy, _) = join_at(&mut object, "Cy-00000", 3_000);
        // Cy sends a frame at 100 s: stored, it stands for 15 s more.
        object.message(
            &member(&cy),
            Frame::Text(r#"{"type":"ping"}"#),
            100_000,
            &mut log(),
        );
        let (ada_tags, bob_tags, cy_tags) = (member(&ada), member(&bob), member(&cy));
        let echo: Vec<String> = vec![];
        // At 137.001 s: Ada pinged at 100 s (kept); Bob joined at 2 s and
        // said nothing (idle: the timeout after his join and its bucket's
        // refill, which stands for 15 s); Cy's frame keeps Cy; /websocket
        // is never judged.
        let sockets = [
            probe(&ada_tags, Some(100_000)),
            probe(&bob_tags, None),
            probe(&cy_tags, None),
            probe(&echo, None),
        ];
        let effects = object.sweep(sockets, 137_001, None);
        assert_eq!(expelled(&effects), [(bob.as_str(), 1001)]);
        let reason = effects.0.iter().find_map(|e| match e {
            Effect::Expel { reason, .. } => Some(reason.as_str()),
            _ => None,
        });
        assert_eq!(
            reason,
            Some("idle: no frame and no ping for 120 s; reconnect")
        );
        assert!(effects.0.iter().any(|e| matches!(e,
            Effect::Send { text, skip_self: true, .. }
                if text == &format!(r#"{{"type":"left","id":"{bob}","name":"Bob-0000","count":2}}"#))));
        // Next: just after the earliest deadline, Ada's (100 s + 120 s).
        assert_eq!(alarms(&effects), [220_001]);
        assert!(!object.room().contains(&bob));
        // Bob's socket may linger until its close arrives: not judged again.
        let sockets = [probe(&bob_tags, None), probe(&ada_tags, Some(200_000))];
        assert!(expelled(&object.sweep(sockets, 300_000, None)).is_empty());
    }

    #[test]
    fn the_alarm_is_not_rearmed_for_an_empty_room_and_a_join_arms_it_again() {
        let mut object = ObjectState::start(None, 0, 0, Ok(Config::default()));
        let (ada, _) = join_at(&mut object, "Ada-0000", 0);
        let tags = member(&ada);
        // Ada's last ping was at 200 s: a run at 121 s finds her alive; the
        // earliest deadline (320 s) is the next run.
        assert_eq!(
            alarms(&object.sweep([probe(&tags, Some(200_000))], 121_000, None)),
            [320_001]
        );
        // Never sooner than a quarter of the timeout, whatever the clocks say.
        assert_eq!(
            alarms(&object.sweep([probe(&tags, Some(5_000))], 124_000, None)),
            [154_000]
        );
        object.close(&tags, 1000, None);
        assert_eq!(object.sweep([], 130_000, None), Effects::default());
        let (_, effects) = join_at(&mut object, "Bob-0000", 140_000);
        assert_eq!(alarms(&effects), [260_001]);
    }

    #[test]
    fn a_starting_instance_leaves_a_pending_alarm_and_runs_a_missing_one() {
        let config = Ok(Config::default());
        let (mut object, ada) = {
            let mut object = ObjectState::start(None, 0, 0, config.clone());
            let (ada, effects) = join_at(&mut object, "Ada-0000", 0);
            // (after the new room's epoch)
            let Some(attachment) = effects.0.iter().find_map(|effect| match effect {
                Effect::Attach { attachment } => Some(attachment.clone()),
                _ => None,
            }) else {
                panic!("expected an attachment");
            };
            let mut woken = ObjectState::start(None, 50_000, 1, config.clone());
            woken.adopt(&member(&ada), Some(attachment));
            assert!(woken.room().contains(&ada));
            (woken, ada)
        };
        let tags = member(&ada);
        // An alarm is pending: nothing now, and a join does not re-arm.
        assert_eq!(
            object.sweep([probe(&tags, None)], 50_000, Some(120_001)),
            Effects::default()
        );
        let (bob, effects) = join_at(&mut object, "Bob-0000", 51_000);
        assert_eq!(alarms(&effects), [0u64; 0]);
        // None pending (its last run failed): the sweep runs now.
        let bob_tags = member(&bob);
        let sockets = [probe(&tags, None), probe(&bob_tags, Some(499_000))];
        let effects = object.sweep(sockets, 500_000, None);
        assert_eq!(expelled(&effects), [(ada.as_str(), 1001)]);
        assert_eq!(alarms(&effects), [619_001]);
    }

    #[test]
    fn with_reaping_off_or_a_broken_config_the_alarm_does_nothing() {
        let off = Config::from_vars(|n| (n == "IDLE_TIMEOUT_SECONDS").then(|| "0".to_owned()));
        let mut object = ObjectState::start(None, 0, 0, off);
        let (ada, effects) = join_at(&mut object, "Ada-0000", 0);
        assert_eq!(alarms(&effects), [0u64; 0]);
        let tags = member(&ada);
        assert_eq!(
            object.sweep([probe(&tags, None)], 10_000_000, None),
            Effects::default()
        );
        let error = Config::from_vars(|n| (n == "IDLE_TIMEOUT_SECONDS").then(|| "x".to_owned()))
            .expect_err("invalid");
        let mut broken = ObjectState::start(None, 0, 0, Err(error));
        assert_eq!(
            broken.sweep([probe(&tags, None)], 10_000_000, None),
            Effects::default()
        );
    }
}
