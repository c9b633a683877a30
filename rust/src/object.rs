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
//! join to an empty room (a room with members has one), re-armed by each run only
//! while members remain, and run at once by an instance that starts and
//! finds none pending.

use serde::Serialize;
use serde_json::Value;
use tsify::Tsify;

use crate::config::{Config, ConfigError};
use crate::echo;
use crate::error::{CloseReason, Error};
use crate::http::route::{authenticate, room_target, RoomTarget};
use crate::http::url::{query_param, split_url};
use crate::liveness::Liveness;
use crate::outcome::{Effect, Effects, HttpResponse, Opening};
use crate::protocol::{Frame, ServerFrame};
use crate::records::Record;
use crate::room::Room;
use crate::socket::{Attachment, Kind};

/// How often this object was created, kept in Durable Object storage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Tsify)]
pub struct Wakes {
    /// Instances created so far, this one included.
    pub count: u64,
    /// When an instance was last created while sockets were open (a wake
    /// from hibernation), ms since the epoch.
    pub last_wake_at: Option<u64>,
}

impl Wakes {
    /// The record as stored (see [`crate::records`]).
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

/// `GET /rooms/{room}`: the body of the answer (TypeScript reads it as this
/// generated type).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Tsify)]
pub struct Stats {
    /// The room's name.
    pub room: String,
    /// The room's members now.
    pub connections: u64,
    /// Instances of the object created so far (see [`Wakes`]).
    pub wakes: u64,
    /// When the running instance was created, ms since the epoch.
    pub instance_started_at: u64,
    /// When an instance was last created while sockets were open, or `null`.
    #[tsify(type = "number | null")]
    pub last_wake_at: Option<u64>,
}

impl Stats {
    /// The stats as JSON text.
    pub fn to_json(&self) -> String {
        // Serialising this cannot fail: string keys, no floats.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the shim reads of one open socket when the alarm runs.
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
    wakes: Wakes,
    started_at: u64,
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
        Self::resume(Wakes::next(previous, now, sockets), now, config)
    }

    /// The object of an instance started at `started_at` whose Wasm
    /// instance was replaced after a trap: the wake record stays as it was.
    pub fn resume(wakes: Wakes, started_at: u64, config: Result<Config, ConfigError>) -> Self {
        let (config, broken) = match config {
            Ok(config) => (config, None),
            Err(error) => (Config::default(), Some(error)),
        };
        ObjectState {
            room: Room::with_config(config),
            wakes,
            started_at,
            broken,
        }
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

    /// Why the configuration is invalid, if it is.
    pub fn config_error(&self) -> Option<&ConfigError> {
        self.broken.as_ref()
    }

    /// The wake record to store.
    pub fn wakes(&self) -> &Wakes {
        &self.wakes
    }

    /// The room this object holds.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Decides what a request to this object gets, from its URL.
    pub fn open(&mut self, url: &str, now: u64, entropy: &[u8]) -> Opening {
        if let Some(error) = &self.broken {
            return Opening::Respond(HttpResponse::bad_config(error));
        }
        let config = self.room.config();
        let (path, query) = split_url(url);
        match room_target(path) {
            None => match authenticate(config, query, None, now) {
                Ok(_) => Opening::Echo,
                Err(error) => Opening::Respond(HttpResponse::error(&error)),
            },
            Some(Err(error)) => Opening::Respond(HttpResponse::error(&error)),
            Some(Ok(RoomTarget::Stats(room))) => {
                Opening::Respond(HttpResponse::json(self.stats(room).to_json()))
            }
            Some(Ok(RoomTarget::Socket(room))) => {
                let name = query_param(query, "name");
                match authenticate(config, query, Some(room), now)
                    .and_then(|claims| self.room.join(room, name.as_deref(), claims, now, entropy))
                {
                    Ok(mut admission) => {
                        admission.effects.0.extend(self.arm(now));
                        Opening::Join(admission)
                    }
                    Err(error) => Opening::Respond(HttpResponse::error(&error)),
                }
            }
        }
    }

    /// The stats of `room` as this object holds them.
    pub fn stats(&self, room: &str) -> Stats {
        Stats {
            room: room.to_owned(),
            connections: self.room.len() as u64,
            wakes: self.wakes.count,
            instance_started_at: self.started_at,
            last_wake_at: self.wakes.last_wake_at,
        }
    }

    /// Takes back a socket found open when the instance was created. A room
    /// socket's member rejoins from its `attachment`; a room socket whose
    /// attachment is missing or unreadable (which a sound object never
    /// has) is closed with 1011 at once, so it neither hears broadcasts nor
    /// gets answers meant for `/websocket`.
    pub fn adopt(&mut self, tags: &[String], attachment: Option<Attachment>) -> Effects {
        match (Kind::of(tags), attachment) {
            (Kind::Echo, _) => Effects::default(),
            (Kind::Member(id), Some(attachment)) if attachment.id == id => {
                self.room.restore(attachment);
                Effects::default()
            }
            (Kind::Member(_), _) => Effect::close(&CloseReason::UnknownConnection).into(),
        }
    }

    /// A frame on a socket with `tags`, at `now`. `connections` counts the
    /// sockets the object holds, for the `/websocket` reply; it is asked
    /// only there (the runtime lists every socket to count them).
    pub fn message(
        &mut self,
        tags: &[String],
        frame: Frame<'_>,
        now: u64,
        connections: impl FnOnce() -> u32,
    ) -> Effects {
        let max_message_bytes = self.room.config().max_message_bytes;
        match (Kind::of(tags), &self.broken) {
            (_, Some(_)) => Effect::close(&CloseReason::Misconfigured).into(),
            (Kind::Echo, None) => echo::on_message(frame, connections(), max_message_bytes),
            (Kind::Member(id), None) => self.room.on_frame(id, frame, now),
        }
    }

    /// The answer to a frame the server failed to handle (a trap, an
    /// exception in the shim): a room member is told `internal` and may
    /// send the next frame; `/websocket`, whose protocol has no errors,
    /// gets nothing.
    pub fn failed(tags: &[String]) -> Effects {
        match Kind::of(tags) {
            Kind::Echo => Effects::default(),
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
            Kind::Echo => echo::on_close(code),
            Kind::Member(id) => self.room.on_close(id, code, attachment),
        }
    }

    /// The runtime reported an error on a socket with `tags`: see
    /// [`Room::on_error`].
    pub fn error(&mut self, tags: &[String], attachment: Option<Attachment>) -> Effects {
        match Kind::of(tags) {
            Kind::Echo => Effects::default(),
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
        strip_attach(object.message(&member(id), Frame::Text(text), 5, || 1))
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
        let (status, body) = refused(object.open(&url("name=x"), 1_000, &[1; 9])).expect("refused");
        assert_eq!(status, 401);
        assert!(body.contains(r#""reason":"missing""#), "{body}");
        let expired = object.open(&url(&format!("token={token}")), 2_000_000, &[1; 9]);
        assert!(refused(expired).is_some_and(|(_, body)| body.contains("expired")));
        let Opening::Join(admission) =
            object.open(&url(&format!("token={token}&name=Eve")), 1_000, &[1; 9])
        else {
            panic!("expected a join");
        };
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
        assert!(
            refused(object.open(&format!("http://h/websocket?token={token}"), 1_000, &[]))
                .is_some()
        );
    }

    #[test]
    fn a_broken_config_refuses_requests_and_frames() {
        let error = Config::from_vars(|n| (n == "RATE_LIMIT_BURST").then(|| "lots".to_owned()))
            .expect_err("invalid");
        let mut object = ObjectState::start(None, 0, 0, Err(error));
        let Opening::Respond(response) = object.open("http://h/rooms/r/websocket", 0, &[1; 9])
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
            close_code(&object.message(&member("x"), Frame::Text("{}"), 0, || 1)),
            Some(1011)
        );
        assert_eq!(
            close_code(&object.message(&[], Frame::Text("hi"), 0, || 1)),
            Some(1011)
        );
    }

    #[test]
    fn open_decides_echo_join_stats_and_refusals() {
        let mut object = ObjectState::start(None, 100, 0, Ok(Config::default()));
        assert_eq!(object.open("http://h/websocket", 1, &[1; 9]), Opening::Echo);
        let Opening::Join(admission) =
            object.open("http://h/rooms/lobby/websocket?name=Ada", 2, &[2; 9])
        else {
            panic!("expected a join");
        };
        let (attachment, _, _) = parts(&admission);
        assert_eq!(attachment.name, "Ada");
        assert_eq!(attachment.joined_at, 2);
        let Opening::Respond(stats) = object.open("http://h/rooms/lobby", 3, &[]) else {
            panic!("expected stats");
        };
        assert_eq!(
            stats.body.as_deref(),
            Some(
                r#"{"room":"lobby","connections":1,"wakes":1,"instance_started_at":100,"last_wake_at":null}"#
            )
        );
        let Opening::Respond(bad) =
            object.open("http://h/rooms/lobby/websocket?name=%07", 4, &[4; 9])
        else {
            panic!("expected a refusal");
        };
        assert_eq!(bad.status, 400);
        assert_eq!(object.room().len(), 1);
    }

    fn join_at(object: &mut ObjectState, name: &str, now: u64) -> (String, Effects) {
        let url = format!("http://h/rooms/r/websocket?name={name}");
        let Opening::Join(admission) = object.open(&url, now, name.as_bytes()) else {
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
            || 1,
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
            let Some(Effect::Attach { attachment }) = effects.0.first().cloned() else {
                panic!("expected an attachment");
            };
            let mut woken = ObjectState::start(None, 50_000, 1, config.clone());
            assert_eq!(
                woken.adopt(&member(&ada), Some(attachment)),
                Effects::default()
            );
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
            Stats {
                room: "r".into(),
                connections: 2,
                wakes: 3,
                instance_started_at: 7,
                last_wake_at: None
            }
            .to_json(),
            r#"{"room":"r","connections":2,"wakes":3,"instance_started_at":7,"last_wake_at":null}"#
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
            typing_at: Some(1_764_300_000_200),
        };
        let without_optionals = Attachment {
            sub: None,
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
}
