//! A room: who is in it, and what each frame makes happen.
//!
//! One [`Room`] lives in each Durable Object's memory, but nothing in it is
//! only there: every member is a socket [`Attachment`] (which survives
//! hibernation), and [`Room::restore`] rebuilds the room from them when the
//! object is re-created. The room never talks to sockets: it returns
//! [`Effects`] that address them by tag (a member's id, or the room).
//!
//! | file | decides |
//! |---|---|
//! | `mod.rs` | joining, a frame from a member (size, rate, parse, then say/whisper/hello/who/ping/typing), leaving |
//! | [`members`] | the members in join order, ids, and `who` cursors |
//! | [`presence`] | what a welcome lists, who hears of joins and leaves, `who` pages |
//! | [`typing`] | whether a `typing` is relayed (once per member per 2 s, not above the presence limit) |
//! | [`history`] | the latest messages in SQLite: numbering, trimming, what a joiner is replayed |
//! | [`stored`] | when a frame stores the member's attachment again |

pub mod history;
pub mod members;
pub mod presence;
pub mod shards;
pub mod stored;
pub mod typing;

use crate::config::Config;
use crate::error::{CloseReason, Error, HttpError};
use crate::limit::{Bucket, Verdict};
use crate::liveness::{Activity, Liveness};
use crate::outcome::{Admission, Effect, Effects};
use crate::protocol::{self, ClientFrame, Frame, Payload, Peer, ServerFrame};
use crate::shard::{self, Role};
use crate::socket::{Attachment, ROOM_TAG};
use crate::token::Claims;
use history::{History, Log, Resume};
use members::Members;
use stored::Stored;

/// With the `test-hooks` feature only: the frame that makes the core panic,
/// to prove the shim recovers (test/worker/panic.test.ts).
#[cfg(feature = "test-hooks")]
pub const TEST_PANIC_FRAME: &str = "__test_panic__";

/// With the `test-hooks` feature only: the frame that makes the core
/// recurse until the Wasm stack overflows (a `RangeError`, not a panic).
#[cfg(feature = "test-hooks")]
pub const TEST_STACK_OVERFLOW_FRAME: &str = "__test_stack_overflow__";

/// A room's members, its history, and the limits it enforces.
#[derive(Clone, Debug, Default)]
pub struct Room {
    members: Members,
    history: History,
    config: Config,
    /// Its object's part in a room that may span objects ([`shards`]).
    role: Role,
}

impl Room {
    /// An empty room with the default configuration.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// An empty room with `config`.
    pub fn with_config(config: Config) -> Self {
        Room {
            members: Members::default(),
            history: History::new(&config),
            config,
            role: Role::Alone,
        }
    }

    /// Gives the room's object its part in a room that may span objects.
    pub fn set_role(&mut self, role: Role) {
        if let Role::Follower { .. } = role {
            self.history.follow();
        }
        self.role = role;
    }

    /// The object's part in its room.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The room's member count as frames carry it: this object's members,
    /// with those of the room's other shards (as shard 0 knows them; as it
    /// last told a shard ≥ 1).
    pub fn count(&self) -> u32 {
        let n = match &self.role {
            Role::Alone => self.len() as u64,
            Role::Leader { registry, .. } => self.len() as u64 + registry.outside(),
            Role::Follower { told, .. } => *told,
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The idle timeout's rules, `None` when reaping is off.
    pub fn liveness(&self) -> Option<Liveness> {
        Liveness::new(self.config.idle_timeout_seconds)
    }

    /// The limits the room enforces.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The room's history as this instance knows it.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Adds a member found on a socket after a wake; its attachment is
    /// stored again on its first frame (see [`stored`]). A duplicate id
    /// (which a sound object never holds) keeps the first.
    pub fn restore(&mut self, attachment: Attachment) {
        self.members.insert(attachment);
    }

    /// How many members the room holds.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether member `id` is in the room.
    pub fn contains(&self, id: &str) -> bool {
        self.members.get(id).is_some()
    }

    /// The whole roster, in join order. O(n): for tests and tools; frames
    /// carry at most the presence limit (see [`presence`]).
    pub fn roster(&self) -> Vec<Peer> {
        self.members.iter().map(presence::peer).collect()
    }

    /// A page of the roster: see [`presence::who`].
    pub fn who(&self, after: Option<&str>) -> Result<ServerFrame, Error> {
        presence::who(&self.members, self.presence_limit(), after)
    }

    /// `PRESENCE_LIMIT`: the most peers a frame lists.
    fn presence_limit(&self) -> usize {
        (self.config.presence_limit as usize).max(1)
    }

    /// Whether presence changes are pushed: see [`presence::pushes`]. A
    /// room with members on several shards is above the limit by
    /// construction (`PRESENCE_LIMIT` ≤ the object cap): it pushes none.
    fn pushes_presence(&self) -> bool {
        let alone = match &self.role {
            Role::Alone => true,
            Role::Leader { registry, .. } => registry.outside() == 0,
            Role::Follower { .. } => false,
        };
        alone && presence::pushes(self.len(), self.presence_limit())
    }

    /// Admits a new connection to `room` (the object has checked that it
    /// has room for one: see [`crate::object::ObjectState::open`]), unless
    /// its token's subject already has `MAX_CONNECTIONS_PER_SUBJECT` members
    /// here (429). `name` is the raw `?name=` value,
    /// `claims` the verified token (whose name wins) when `AUTH_SECRET` is
    /// set, `resume` what it asks to resume (`?since=&epoch=`, see
    /// [`history`]); `entropy` is random bytes from the runtime (the core
    /// has no RNG); `log` reads the stored history, when the join needs it.
    // One argument per thing the upgrade says: a struct of them cost the
    // Wasm module about 100 bytes, which its size budget does not have.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &mut self,
        room: &str,
        name: Option<&str>,
        claims: Option<Claims>,
        resume: Option<&Resume>,
        now: u64,
        entropy: &[u8],
        log: &mut impl Log,
    ) -> Result<Admission, HttpError> {
        if let Some(claims) = &claims {
            let max = self.config.max_connections_per_subject;
            if self.members.with_subject(&claims.sub) >= u64::from(max) {
                return Err(HttpError::TooManyConnections { max });
            }
        }
        let raw = self.members.fresh_id(entropy, self.role.shard());
        let (name, sub, exp) = match (claims, name) {
            (Some(claims), _) => (claims.name, Some(claims.sub), Some(claims.exp)),
            (None, Some(raw)) => (protocol::name(raw).map_err(HttpError::BadName)?, None, None),
            (None, None) => (
                format!("guest-{}", raw.chars().take(4).collect::<String>()),
                None,
                None,
            ),
        };
        let id = shard::id_on(self.role.shard(), raw);
        // Read last, after every check that may refuse the join.
        let history = self
            .history
            .join(log, resume, now)
            .map_err(|_| HttpError::Internal)?;
        let attachment = Attachment {
            id: id.clone(),
            name: name.clone(),
            joined_at: now,
            sub,
            bucket: Bucket::full(self.config.rate_limit_burst, now),
            exp,
            typing_at: None,
        };
        // (Its first frame stores the attachment once more: the room
        // learns what is stored from its own `Attach` effects, see `store`.)
        self.members.insert(attachment.clone());
        let count = self.count();
        let (store, epoch, seq, replay) = match history {
            Some(h) => (h.store, Some(h.epoch), Some(h.seq), Some(h.replay)),
            None => (Effects::default(), None, None, None),
        };
        let welcome = ServerFrame::Welcome {
            id: id.clone(),
            room: room.to_owned(),
            count,
            presence_limit: self.config.presence_limit,
            connections: presence::welcome_roster(&self.members, self.presence_limit(), &id),
            epoch,
            seq,
        };
        // A new epoch is stored before anyone is told of it.
        let mut effects = store;
        effects.push(Effect::Attach { attachment });
        effects.push(Effect::Reply {
            text: welcome.to_json(),
        });
        effects.0.extend(replay);
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
            headers: self
                .counted(now)
                .map(|c| (shard::COUNT_HEADER.to_owned(), c.header()))
                .into_iter()
                .collect(),
        })
    }

    /// Decides what a frame from member `id` makes happen, in this order:
    /// a member the room does not know is closed (1011); a frame at or
    /// after its token's expiry closes the socket (1008, "token expired");
    /// a frame over `MAX_MESSAGE_BYTES` closes the socket (1009); a frame over the rate
    /// limit is dropped (`rate_limited`), and a client that keeps going is
    /// closed (1008); a binary frame is refused (`unsupported_data`);
    /// anything else is parsed and served (`log` reads the stored history
    /// if a `say` needs it). The member's attachment is stored after a
    /// frame only when what the stored copy holds must change (see
    /// [`stored`]): a rename, a relayed `typing`, a bucket not at rest, or
    /// the idle timeout's record of the last frame (the bucket's refill
    /// time, see [`crate::liveness`]) moved by the granularity
    /// ([`Liveness::records`]; `rust/tests/room_model.rs` checks it).
    pub fn on_frame(
        &mut self,
        id: &str,
        frame: Frame<'_>,
        now: u64,
        log: &mut impl Log,
    ) -> Effects {
        let (per_second, burst) = (
            self.config.rate_limit_per_second,
            self.config.rate_limit_burst,
        );
        let Some(member) = self.members.get_mut(id) else {
            return Effect::close(&CloseReason::UnknownConnection).into();
        };
        if let Some(exp) = member.exp.filter(|&exp| now / 1000 >= exp) {
            return self.expel(id, &CloseReason::TokenExpired { exp });
        }
        let payload = match frame.within(self.config.max_message_bytes) {
            Ok(payload) => payload,
            Err(why) => return self.expel(id, &why),
        };
        let verdict = member.bucket.take(now, per_second, burst);
        let typing_at = member.typing_at;
        let mut renamed = false;
        let mut effects = match (verdict, payload) {
            (Verdict::Close, _) => return self.expel(id, &CloseReason::RateLimit),
            (Verdict::Drop { tell: true }, _) => {
                reply(&Error::RateLimited { per_second, burst }).into()
            }
            (Verdict::Drop { tell: false }, _) => Effects::default(),
            (Verdict::Allow, Payload::Binary(_)) => reply(&Error::Binary).into(),
            (Verdict::Allow, Payload::Text(text)) => {
                #[cfg(feature = "test-hooks")]
                test_hooks(text);
                match protocol::parse(text, self.config.max_text_chars as usize) {
                    Ok(frame) => {
                        // A rename changes what the attachment holds.
                        renamed = matches!(frame, ClientFrame::Hello { .. });
                        self.apply(id, frame, now, log)
                    }
                    Err(error) => reply(&error).into(),
                }
            }
        };
        let rules = self.liveness();
        let lags = |(member, stored): (&Attachment, Option<Stored>)| {
            renamed
                || member.typing_at != typing_at
                || stored.is_none_or(|stored| stored.lags(member, burst, rules, now))
        };
        if self.members.with_stored(id).is_some_and(lags) {
            effects.0.extend(self.store(id));
        }
        effects
    }

    /// Stores member `id`'s attachment (an `Attach` effect), and remembers
    /// what the stored copy holds; nothing if the room does not hold it.
    fn store(&mut self, id: &str) -> Option<Effect> {
        let member = self.members.get(id)?;
        let stored = Stored::of(member, self.config.rate_limit_burst);
        let attachment = member.clone();
        self.members.mark(id, stored);
        Some(Effect::Attach { attachment })
    }

    /// Member `id`'s signs of life, with the runtime's last automatic
    /// `pong` to its socket; `None` if the room does not hold it.
    pub fn activity(&self, id: &str, pinged_at: Option<u64>) -> Option<Activity> {
        Some(self.members.get(id)?.activity(pinged_at))
    }

    /// Member `id`, idle for longer than the timeout, leaves: its socket is
    /// expelled by tag (the alarm, not its socket, raised the event) with
    /// a code on which clients reconnect, and the others are told.
    pub fn reap(&mut self, id: &str) -> Effects {
        let seconds = self.config.idle_timeout_seconds;
        let mut effects = Effects::from(Effect::expel(id, &CloseReason::Idle { seconds }));
        effects.extend(self.leave(id));
        effects
    }

    /// Closes member `id`'s socket saying why, and tells the others it
    /// left. The socket's attachment is dropped first: its close, which the
    /// runtime reports later, and a wake before that close completes, find
    /// no member to announce or restore.
    fn expel(&mut self, id: &str, why: &CloseReason) -> Effects {
        let mut effects = Effects(vec![Effect::Detach, Effect::close(why)]);
        effects.extend(self.leave(id));
        effects
    }

    /// Serves a parsed frame from member `id`.
    fn apply(&mut self, id: &str, frame: ClientFrame, now: u64, log: &mut impl Log) -> Effects {
        let Some(member) = self.members.get(id) else {
            return Effect::close(&CloseReason::UnknownConnection).into();
        };
        let (id, name) = (member.id.clone(), member.name.clone());
        match frame {
            // A shard ≥ 1 has shard 0 number and deliver it (see `shards`).
            ClientFrame::Say { text } if self.role.shard() > 0 => self.publish(id, name, text, now),
            ClientFrame::Say { text } => {
                let message = |seq| {
                    ServerFrame::Message {
                        id,
                        name,
                        text,
                        ts: now,
                        seq,
                    }
                    .to_json()
                };
                // A message that cannot be numbered is not sent at all.
                self.history
                    .say(log, now, message)
                    .map(|said| self.deliveries(said, log))
                    .unwrap_or_else(|_| reply(&Error::Internal).into())
            }
            ClientFrame::Whisper { to, text } => {
                if to == id {
                    return reply(&Error::WhisperToSelf).into();
                }
                let whisper = ServerFrame::Whisper {
                    id,
                    name,
                    text,
                    ts: now,
                }
                .to_json();
                // On another shard: that shard says whether it holds `to`.
                if let Some(object) = self.elsewhere(&to) {
                    return Effect::Relay {
                        object,
                        to,
                        text: whisper,
                    }
                    .into();
                }
                if !self.contains(&to) {
                    return unreached(&to).into();
                }
                Effect::Send {
                    tag: to,
                    skip_self: false,
                    seq: None,
                    forget: None,
                    key: None,
                    text: whisper,
                }
                .into()
            }
            ClientFrame::Hello { name } => self.rename(&id, name),
            // A room on several shards pages through them all from shard 0.
            ClientFrame::Who { after } if self.role.spans() => Effect::Ask {
                object: self.role.place().map_or_else(String::new, |p| p.object(0)),
                after,
            }
            .into(),
            ClientFrame::Who { after } => match self.who(after.as_deref()) {
                Ok(roster) => Effect::Reply {
                    text: roster.to_json(),
                }
                .into(),
                Err(error) => reply(&error).into(),
            },
            ClientFrame::Ping => Effect::Reply {
                text: ServerFrame::Pong.to_json(),
            }
            .into(),
            ClientFrame::Typing => self.typing(&id, now),
        }
    }

    /// Member `id` is typing: the others are told, unless [`typing::relay`]
    /// coalesces it. The sender gets nothing either way.
    fn typing(&mut self, id: &str, now: u64) -> Effects {
        let pushes = self.pushes_presence();
        let relayed = self
            .members
            .get_mut(id)
            .and_then(|member| typing::relay(member, now, pushes));
        match relayed {
            Some(frame) => Effect::broadcast(frame.to_json(), true).into(),
            None => Effects::default(),
        }
    }

    /// Member `id` takes the name `name` (already valid).
    fn rename(&mut self, id: &str, name: String) -> Effects {
        let Some(member) = self.members.get_mut(id) else {
            return Effect::close(&CloseReason::UnknownConnection).into();
        };
        if member.sub.is_some() {
            return reply(&Error::Forbidden {
                why: "your name comes from your token and cannot be changed",
            })
            .into();
        }
        member.name = name.clone();
        let text = ServerFrame::Renamed {
            id: id.to_owned(),
            name,
        }
        .to_json();
        if self.pushes_presence() {
            Effect::broadcast(text, false).into()
        } else {
            // Above the presence limit only the renamer is told, as
            // confirmation; the others see the name in `who` pages.
            Effect::Reply { text }.into()
        }
    }

    /// Member `id`'s socket closed with `code` (1006 when it dropped):
    /// complete the handshake and tell the others (see [`depart`](Self::depart)).
    pub fn on_close(&mut self, id: &str, code: u16, attachment: Option<Attachment>) -> Effects {
        let mut effects = Effects::from(Effect::answer_close(code));
        effects.extend(self.depart(id, attachment));
        effects
    }

    /// Member `id`'s socket failed: nothing can be sent on it. Its member
    /// leaves now, and its attachment is dropped so that the close the
    /// runtime may report next announces nothing more.
    pub fn on_error(&mut self, id: &str, attachment: Option<Attachment>) -> Effects {
        let mut effects = Effects::from(Effect::Detach);
        effects.extend(self.depart(id, attachment));
        effects
    }

    /// Member `id` is gone. A member the room holds leaves as usual. One it
    /// does not hold, but whose socket still carries its `attachment`,
    /// closed while the object was evicted (the runtime no longer lists
    /// such a socket when the object is re-created): the others are told
    /// from the attachment. Without either, it already left: nothing.
    pub fn depart(&mut self, id: &str, attachment: Option<Attachment>) -> Effects {
        if self.contains(id) {
            return self.leave(id);
        }
        match attachment.filter(|a| a.id == id) {
            Some(gone) => self.announce_left(gone),
            None => Effects::default(),
        }
    }

    /// Removes member `id` and tells the others while the room, without
    /// it, holds at most `PRESENCE_LIMIT`; nothing if it already left, so a
    /// close after an error reports the departure once.
    pub fn leave(&mut self, id: &str) -> Effects {
        match self.members.remove(id) {
            Some(member) => self.announce_left(member),
            None => Effects::default(),
        }
    }

    /// Tells the others that `member`, no longer in the room, left.
    /// On a shard ≥ 1, shard 0 is told the shard's new count instead.
    fn announce_left(&mut self, member: Attachment) -> Effects {
        if let Some(report) = self.report() {
            return report.into();
        }
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
}

/// The answer to a whisper to `to`, which the room does not hold.
pub fn unreached(to: &str) -> Effect {
    reply(&Error::UnknownRecipient {
        to: to.chars().take(64).collect(),
    })
}

/// The error frame for `error`, to the sender.
fn reply(error: &Error) -> Effect {
    Effect::Reply {
        text: ServerFrame::error(error).to_json(),
    }
}

/// The test-only hooks: a panic, and a stack overflow. The recursion keeps
/// its frames in Wasm locals, so V8's own stack runs out first and throws a
/// `RangeError` out of the call, as a deep recursion in real code would.
#[cfg(feature = "test-hooks")]
fn test_hooks(text: &str) {
    #[allow(unconditional_recursion)]
    fn deeper(n: u64) -> u64 {
        deeper(std::hint::black_box(n.wrapping_add(1))).wrapping_mul(3)
    }
    if text == TEST_PANIC_FRAME {
        panic!("test-only panic requested by a frame");
    }
    if text == TEST_STACK_OVERFLOW_FRAME {
        std::hint::black_box(deeper(0));
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::history::MemoryLog;
    use super::testing::*;
    use super::*;
    use crate::close::CloseCode;
    use crate::token::Claims;

    #[test]
    fn join_welcomes_with_roster_and_announces() {
        let mut room = Room::new();
        let first = room
            .join("lobby", Some("Ada"), None, None, 1, &[1; 9], &mut log())
            .expect("join");
        let second = room
            .join("lobby", None, None, None, 2, &[2; 9], &mut log())
            .expect("join");
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
        let refused = room.join("r", Some("a\u{1}b"), None, None, 1, &[0; 9], &mut log());
        assert!(matches!(
            refused,
            Err(HttpError::BadName(Error::ControlCharacter { .. }))
        ));
        assert!(room.is_empty());
    }

    #[test]
    fn say_is_stored_then_broadcast_to_everyone_with_sender_ts_and_seq() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        let text = |seq| {
            format!(
                r#"{{"type":"message","id":"{}","name":"Ada","text":"hi","ts":5,"seq":{seq}}}"#,
                ids[0]
            )
        };
        for seq in 1..=2 {
            assert_eq!(
                frame(&mut room, &ids[0], r#"{"type":"say","text":"hi"}"#),
                Effects(vec![Effect::Send {
                    tag: ROOM_TAG.into(),
                    text: text(seq),
                    skip_self: false,
                    seq: Some(seq),
                    forget: None,
                    key: None,
                }])
            );
        }
    }

    #[test]
    fn with_history_off_say_is_only_broadcast_without_seq() {
        let mut room = Room::with_config(config(|c| c.history_limit = 0));
        let id = room
            .join("r", Some("Ada"), None, None, 1, &[1; 9], &mut log())
            .expect("join")
            .id;
        assert_eq!(
            frame(&mut room, &id, r#"{"type":"say","text":"hi"}"#),
            Effects(vec![Effect::broadcast(
                format!(r#"{{"type":"message","id":"{id}","name":"Ada","text":"hi","ts":5}}"#),
                false,
            )])
        );
    }

    #[test]
    fn a_say_the_store_cannot_number_is_refused_with_internal_and_sent_to_no_one() {
        let (room, ids) = {
            let mut room = Room::new();
            let mut store = log();
            let id = room
                .join("r", None, None, None, 1, &[1; 9], &mut store)
                .expect("join")
                .id;
            (room, vec![id])
        };
        // A new instance of the object (as after a wake) whose store fails.
        let mut woken = Room::new();
        for member in room.members.iter() {
            woken.restore(member.clone());
        }
        let mut failing = MemoryLog {
            failing: true,
            ..log()
        };
        let effects = strip_attach(woken.on_frame(
            &ids[0],
            Frame::Text(r#"{"type":"say","text":"hi"}"#),
            5,
            &mut failing,
        ));
        assert_eq!(error_code(&effects).as_deref(), Some("internal"));
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
            &mut log(),
        );
        assert!(matches!(
            effects.0.as_slice(),
            [Effect::Send { tag, text, skip_self: false, .. }, Effect::Attach { attachment }]
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
            error_code(&strip_attach(room.on_frame(
                &ids[0],
                Frame::Binary(3),
                5,
                &mut log()
            )))
            .as_deref(),
            Some("unsupported_data")
        );
    }

    #[test]
    fn typing_goes_to_the_others_once_per_interval_across_a_wake() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        let typing = Frame::Text(r#"{"type":"typing"}"#);
        let relayed = Effect::broadcast(
            format!(r#"{{"type":"typing","id":"{}","name":"Ada"}}"#, ids[0]),
            true,
        );
        let effects = room.on_frame(&ids[0], typing, 10_000, &mut log());
        let [sent, Effect::Attach { attachment }] = effects.0.as_slice() else {
            panic!("expected a relay and an attach, got {effects:?}");
        };
        assert_eq!(*sent, relayed);
        assert_eq!(attachment.typing_at, Some(10_000));
        // Coalesced, in this room and in one rebuilt from the attachments
        // (as after an eviction): nothing is sent, not even to the sender.
        assert_eq!(
            strip_attach(room.on_frame(&ids[0], typing, 11_000, &mut log())),
            Effects::default()
        );
        // Ada's attachment as the runtime stored it, read back.
        let stored = serde_json::to_string(attachment).expect("json");
        let ada = crate::records::parse(stored.as_bytes(), Attachment::read).expect("readable");
        let mut woken = Room::new();
        woken.restore(ada);
        woken.restore(room.members.get(&ids[1]).expect("Bob").clone());
        assert_eq!(
            strip_attach(woken.on_frame(&ids[0], typing, 11_999, &mut log())),
            Effects::default()
        );
        assert_eq!(
            strip_attach(woken.on_frame(&ids[0], typing, 12_000, &mut log())),
            Effects(vec![relayed])
        );
        // Each member has its own window.
        assert!(matches!(
            strip_attach(woken.on_frame(&ids[1], typing, 12_001, &mut log())).0.as_slice(),
            [Effect::Send { text, skip_self: true, .. }] if text.contains(&ids[1])
        ));
    }

    #[test]
    fn typing_is_not_relayed_above_the_presence_limit() {
        let mut room = Room::with_config(config(|c| c.presence_limit = 2));
        let ids: Vec<String> = (0..3)
            .map(|i| {
                room.join("r", None, None, None, i, &[i as u8; 9], &mut log())
                    .expect("join")
                    .id
            })
            .collect();
        let effects = room.on_frame(
            &ids[0],
            Frame::Text(r#"{"type":"typing"}"#),
            10_000,
            &mut log(),
        );
        // Nothing is sent (the member's first frame stores its attachment).
        assert_eq!(strip_attach(effects), Effects::default());
        assert_eq!(room.members.get(&ids[0]).and_then(|m| m.typing_at), None);
        // Back at the limit, it is.
        room.leave(&ids[2]);
        assert!(matches!(
            strip_attach(room.on_frame(&ids[0], Frame::Text(r#"{"type":"typing"}"#), 10_001, &mut log())).0.as_slice(),
            [Effect::Send { text, skip_self: true, .. }] if text.starts_with(r#"{"type":"typing""#)
        ));
    }

    #[test]
    fn close_completes_handshake_and_announces_once() {
        let (mut room, ids) = room_with(&["Ada", "Bob"]);
        let effects = room.on_close(&ids[1], 1000, None);
        assert!(matches!(
            effects.0.as_slice(),
            [Effect::Close { .. }, Effect::Send { text, skip_self: true, .. }] if text.contains(r#""type":"left""#)
        ));
        // Announced once; the socket is still closed (releasing it).
        assert_eq!(
            room.on_close(&ids[1], 1006, None),
            Effects::from(Effect::answer_close(1006))
        );
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

    #[test]
    fn frames_over_the_size_limit_close_with_1009_and_leave() {
        let mut room = Room::with_config(config(|c| c.max_message_bytes = 30));
        let a = room
            .join("r", Some("Ada"), None, None, 1, &[1; 9], &mut log())
            .expect("join")
            .id;
        let b = room
            .join("r", Some("Bob"), None, None, 1, &[2; 9], &mut log())
            .expect("join")
            .id;
        let at_limit = r#"{"type":"say","text":"123456"}"#; // 30 bytes
        assert_eq!(at_limit.len(), 30);
        assert_eq!(
            close_code(&room.on_frame(&a, Frame::Text(at_limit), 2, &mut log())),
            None
        );
        let over = r#"{"type":"say","text":"1234567"}"#;
        let effects = room.on_frame(&a, Frame::Text(over), 3, &mut log());
        assert_eq!(close_code(&effects), Some(1009));
        assert!(announces_left(&effects));
        assert_eq!(room.roster().len(), 1);
        assert_eq!(
            close_code(&room.on_frame(&b, Frame::Binary(31), 4, &mut log())),
            Some(1009)
        );
        assert!(room.is_empty());
    }

    /// A room whose rate limit is `burst` frames, refilled at `per_second`,
    /// with one member (its id).
    fn rate_limited(burst: u32, per_second: u32) -> (Room, String) {
        let mut room = Room::with_config(config(|c| {
            c.rate_limit_burst = burst;
            c.rate_limit_per_second = crate::limit::Rate::per_second(per_second);
        }));
        let id = room
            .join("r", None, None, None, 0, &[1; 9], &mut log())
            .expect("join")
            .id;
        (room, id)
    }

    #[test]
    fn rate_limit_drops_then_closes_with_1008_and_survives_a_wake() {
        let (mut room, id) = rate_limited(2, 1);
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        for _ in 0..2 {
            assert_eq!(
                strip_attach(room.on_frame(&id, ping, 0, &mut log())),
                frame_pong()
            );
        }
        // The bucket is empty: the attachment says so, and a room rebuilt
        // from it (as after an eviction) keeps refusing.
        let effects = room.on_frame(&id, ping, 0, &mut log());
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
            let effects = strip_attach(woken.on_frame(&id, ping, 0, &mut log()));
            assert_eq!(error_code(&effects).as_deref(), Some("rate_limited"));
        }
        // 11 drops in a row is more than 5 × the burst of 2.
        let effects = woken.on_frame(&id, ping, 0, &mut log());
        assert_eq!(close_code(&effects), Some(1008));
        assert!(woken.is_empty());
    }

    #[test]
    fn rate_limit_refills_with_time() {
        let (mut room, id) = rate_limited(1, 10);
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        assert_eq!(
            strip_attach(room.on_frame(&id, ping, 0, &mut log())),
            frame_pong()
        );
        assert_ne!(
            strip_attach(room.on_frame(&id, ping, 50, &mut log())),
            frame_pong()
        );
        assert_eq!(
            strip_attach(room.on_frame(&id, ping, 150, &mut log())),
            frame_pong()
        );
    }

    #[test]
    fn text_limit_comes_from_the_config() {
        let (mut room, ids) = {
            let mut room = Room::with_config(config(|c| c.max_text_chars = 3));
            let id = room
                .join("r", None, None, None, 0, &[1; 9], &mut log())
                .expect("join")
                .id;
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
    fn a_token_subject_holds_at_most_max_connections_per_subject() {
        let mut room = Room::with_config(config(|c| c.max_connections_per_subject = 2));
        let claims = |sub: &str| Claims {
            sub: sub.into(),
            name: "Ada".into(),
            room: None,
            exp: u64::MAX,
        };
        let join = |room: &mut Room, sub: &str, i: u8| {
            room.join("r", None, Some(claims(sub)), None, 0, &[i; 9], &mut log())
        };
        let first = join(&mut room, "u1", 1).expect("join").id;
        join(&mut room, "u1", 2).expect("join");
        let refused = join(&mut room, "u1", 3).expect_err("a third");
        assert_eq!(
            (refused.status(), refused.code()),
            (429, "too_many_connections")
        );
        join(&mut room, "u2", 4).expect("another subject");
        // Counted from the attachments after a wake, and freed by a leave.
        let mut woken = Room::with_config(room.config().clone());
        for member in room.members.iter() {
            woken.restore(member.clone());
        }
        assert!(join(&mut woken, "u1", 5).is_err());
        woken.leave(&first);
        join(&mut woken, "u1", 6).expect("room for one again");
    }

    #[test]
    fn an_attachment_from_before_rate_limits_still_restores() {
        let old = crate::records::parse(
            br#"{"id":"abcdefgh","name":"Ada","joined_at":1}"#,
            Attachment::read,
        )
        .expect("old");
        let mut room = Room::new();
        room.restore(old);
        assert_eq!(
            strip_attach(room.on_frame(
                "abcdefgh",
                Frame::Text(r#"{"type":"ping"}"#),
                5,
                &mut log()
            )),
            frame_pong()
        );
    }

    #[test]
    fn a_frame_is_stored_as_a_sign_of_life_once_per_granularity() {
        let stored = |effects: Effects| match effects.0.last() {
            Some(Effect::Attach { attachment }) => Some(attachment.bucket.updated_at),
            _ => None,
        };
        // Joined at 1 s; its first frame stores the attachment, then once
        // per granularity (15 s at the default idle timeout of 120 s).
        let (mut room, ids) = room_with(&["Ada"]);
        let ada = &ids[0];
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        assert_eq!(
            stored(room.on_frame(ada, ping, 2_000, &mut log())),
            Some(2_000)
        );
        assert_eq!(
            stored(room.on_frame(ada, Frame::Text("x"), 16_000, &mut log())),
            None
        );
        // Refused frames too.
        assert_eq!(
            stored(room.on_frame(ada, Frame::Binary(1), 17_000, &mut log())),
            Some(17_000)
        );
        assert_eq!(stored(room.on_frame(ada, ping, 31_999, &mut log())), None);
        assert_eq!(
            stored(room.on_frame(ada, ping, 32_000, &mut log())),
            Some(32_000)
        );
        assert_eq!(
            room.activity(ada, Some(40_000)),
            Some(Activity {
                since: 1_000,
                frame_at: Some(32_000),
                pinged_at: Some(40_000)
            })
        );
        // With reaping off, a member within its rate stores nothing more.
        let mut room = Room::with_config(config(|c| c.idle_timeout_seconds = 0));
        let ada = room
            .join("r", None, None, None, 0, &[1; 9], &mut log())
            .expect("join")
            .id;
        assert_eq!(
            stored(room.on_frame(&ada, ping, 500, &mut log())),
            Some(500)
        );
        for now in [1_000, 100_000, 10_000_000] {
            assert_eq!(stored(room.on_frame(&ada, ping, now, &mut log())), None);
        }
    }

    #[test]
    fn a_burst_is_stored_until_the_bucket_is_back_at_rest() {
        let (mut room, id) = rate_limited(3, 1);
        let ping = Frame::Text(r#"{"type":"ping"}"#);
        let attached = |effects: &Effects| matches!(effects.0.last(), Some(Effect::Attach { .. }));
        // The first frame stores (the join's attachment is not marked); the
        // second and third spend the bucket: stored.
        assert!(attached(&room.on_frame(&id, ping, 0, &mut log())));
        assert!(attached(&room.on_frame(&id, ping, 0, &mut log())));
        assert!(attached(&room.on_frame(&id, ping, 0, &mut log())));
        // Refilled: at rest again, stored once more, then not.
        assert!(attached(&room.on_frame(&id, ping, 5_000, &mut log())));
        assert!(!attached(&room.on_frame(&id, ping, 9_000, &mut log())));
    }

    #[test]
    fn unknown_member_is_closed_with_1011() {
        let mut room = Room::new();
        assert!(matches!(
            room.on_frame("ghost123", Frame::Text(r#"{"type":"ping"}"#), 5, &mut log())
                .0
                .as_slice(),
            [Effect::Close { code, .. }] if *code == CloseCode::INTERNAL
        ));
    }
}
