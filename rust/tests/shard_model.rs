//! A model of a room that spans objects (rust/src/shard.rs): K shards, each
//! an [`ObjectState`] with its own stored history ([`MemoryLog`]), joined by
//! a network of calls (deliver, publish, report, whisper relay) that the
//! test delivers in any order, failing some before or after the callee ran
//! them and trying them again as the shim does (`CALL_ATTEMPTS`), while
//! members join, leave, say, whisper, and any shard is evicted.
//!
//! Whatever happens, every member receives the room's messages exactly
//! once, in the room's (seq) order: once the network is quiet and one more
//! message is said, each member's log is exactly the room's log after the
//! seq its welcome named; a member that left saw a prefix of that. The room
//! never holds more than its cap, and shard 0's registry ends up with each
//! shard's true count.

mod common;

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use common::bounded;
use websocket_hibernation_server::config::Config;
use websocket_hibernation_server::object::ObjectState;
use websocket_hibernation_server::outcome::{Effect, Effects, Opening, CALL_ATTEMPTS};
use websocket_hibernation_server::protocol::Frame;
use websocket_hibernation_server::room::history::MemoryLog;
use websocket_hibernation_server::shard::{Count, Place, COUNT_HEADER};
use websocket_hibernation_server::socket::{Attachment, ROOM_TAG};

const ROOM: &str = "r";

#[derive(Clone, Debug)]
enum Op {
    Join,
    Leave(Index),
    Say(Index),
    Whisper(Index, Index),
    Evict(Index),
    /// Carry out a pending call: succeeding, failing before the callee
    /// runs it, or failing after (the caller tries again either way).
    Step(Index, Outcome),
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Ok,
    FailBefore,
    FailAfter,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        6 => Just(Outcome::Ok),
        1 => Just(Outcome::FailBefore),
        1 => Just(Outcome::FailAfter),
    ];
    prop_oneof![
        4 => Just(Op::Join),
        1 => any::<Index>().prop_map(Op::Leave),
        4 => any::<Index>().prop_map(Op::Say),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::Whisper(a, b)),
        1 => any::<Index>().prop_map(Op::Evict),
        8 => (any::<Index>(), outcome).prop_map(|(i, o)| Op::Step(i, o)),
    ]
}

/// A member's socket.
#[derive(Clone, Debug)]
struct Socket {
    shard: u32,
    tags: Vec<String>,
    attachment: Option<Attachment>,
    /// The seq its welcome named: it gets every message after it.
    since: u64,
    /// The (seq, text) of each message it received, in order.
    got: Vec<(u64, String)>,
    whispers: Vec<String>,
    open: bool,
}

/// A call in flight from one object to another.
#[derive(Clone, Debug)]
struct Call {
    effect: Effect,
    /// For a delivery: the messages read when it was made, as the shim does.
    messages: Vec<(u64, String)>,
    attempts: u32,
}

struct Room {
    config: Config,
    objects: BTreeMap<u32, ObjectState>,
    logs: BTreeMap<u32, MemoryLog>,
    sockets: BTreeMap<String, Socket>,
    calls: Vec<Call>,
    now: u64,
    entropy: u8,
}

impl Room {
    fn new(config: Config) -> Room {
        let mut room = Room {
            config,
            objects: BTreeMap::new(),
            logs: BTreeMap::new(),
            sockets: BTreeMap::new(),
            calls: Vec::new(),
            now: 1_000,
            entropy: 0,
        };
        room.wake(0);
        room
    }

    fn name(shard: u32) -> String {
        Place {
            room: ROOM.into(),
            shard: 0,
        }
        .object(shard)
    }

    /// A new instance of shard `shard`: its sockets come back with their
    /// tags and attachments, as after any wake.
    fn wake(&mut self, shard: u32) {
        self.now += 1;
        let log = self.logs.entry(shard).or_default();
        let mut object = ObjectState::start(None, self.now, 0, Ok(self.config.clone()));
        object.place(Some(&Room::name(shard)), self.now, log);
        for socket in self.sockets.values().filter(|s| s.shard == shard && s.open) {
            object.adopt(&socket.tags, socket.attachment.clone());
        }
        self.objects.insert(shard, object);
    }

    fn object(&mut self, shard: u32) -> (&mut ObjectState, &mut MemoryLog) {
        if !self.objects.contains_key(&shard) {
            self.wake(shard);
        }
        let object = self.objects.get_mut(&shard).expect("woken");
        let log = self.logs.entry(shard).or_default();
        (object, log)
    }

    fn open_ids(&self) -> Vec<String> {
        self.sockets
            .iter()
            .filter(|(_, s)| s.open)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Carries out the effects of an event on `shard` (raised by socket
    /// `id`, if any), as the shim does: writes first, sends, calls queued.
    fn perform(&mut self, shard: u32, id: Option<&str>, effects: Effects) {
        self.logs.entry(shard).or_default().apply(&effects);
        for effect in effects.0 {
            match effect {
                Effect::Send {
                    ref tag,
                    ref text,
                    skip_self,
                    ..
                } => {
                    let targets: Vec<String> = self
                        .sockets
                        .iter()
                        .filter(|(sid, s)| {
                            s.open
                                && s.shard == shard
                                && s.tags.contains(tag)
                                && !(skip_self && Some(sid.as_str()) == id)
                        })
                        .map(|(sid, _)| sid.clone())
                        .collect();
                    for target in targets {
                        self.receive(&target, text);
                    }
                }
                Effect::Attach { attachment } => {
                    if let Some(socket) = id.and_then(|id| self.sockets.get_mut(id)) {
                        socket.attachment = Some(attachment);
                    }
                }
                Effect::Detach => {
                    if let Some(socket) = id.and_then(|id| self.sockets.get_mut(id)) {
                        socket.attachment = None;
                    }
                }
                Effect::Close { .. } => {
                    if let Some(socket) = id.and_then(|id| self.sockets.get_mut(id)) {
                        socket.open = false;
                    }
                }
                Effect::Deliver {
                    ref after, count, ..
                } => {
                    let messages = self.logs[&0].messages(*after, count);
                    self.calls.push(Call {
                        effect,
                        messages,
                        attempts: 0,
                    });
                }
                Effect::Publish { .. }
                | Effect::Relay { .. }
                | Effect::Report { .. }
                | Effect::Ask { .. } => self.calls.push(Call {
                    effect,
                    messages: Vec::new(),
                    attempts: 0,
                }),
                _ => {}
            }
        }
    }

    /// A frame reaches member `id`'s client.
    fn receive(&mut self, id: &str, text: &str) {
        let frame: Value = serde_json::from_str(text).expect("JSON");
        let Some(socket) = self.sockets.get_mut(id) else {
            return;
        };
        match frame["type"].as_str() {
            Some("message") => {
                let seq = frame["seq"].as_u64().expect("a seq");
                socket
                    .got
                    .push((seq, frame["text"].as_str().unwrap_or("").into()));
            }
            Some("whisper") => socket
                .whispers
                .push(frame["text"].as_str().unwrap_or("").into()),
            _ => {}
        }
    }

    fn join(&mut self) -> Result<(), TestCaseError> {
        self.now += 1;
        self.entropy = self.entropy.wrapping_add(1);
        let entropy = [self.entropy; 9];
        let now = self.now;
        let url = format!("http://h/rooms/{ROOM}/websocket?name=m{}", self.entropy);
        let held = self.open_ids().len();
        let (leader, log) = self.object(0);
        match leader.open(&url, now, &entropy, 0, log) {
            Opening::Join(admission) => {
                prop_assert!(held < self.config.max_connections_per_room as usize);
                self.admit(
                    0,
                    admission.id.clone(),
                    admission.tags.clone(),
                    &admission.effects,
                );
                self.perform(0, Some(&admission.id), admission.effects);
            }
            Opening::Forward {
                shard,
                headers,
                sync,
                ..
            } => {
                prop_assert!(held < self.config.max_connections_per_room as usize);
                if let Some(sync) = sync {
                    // The shim awaits the sync, and what it leads to.
                    self.perform(0, None, Effects::from(sync));
                    let call = self.calls.pop().expect("the sync call");
                    self.run(call, Outcome::Ok, true);
                }
                let count: u64 = headers[0].1.parse().expect("a count");
                let (follower, log) = self.object(shard);
                follower.room_mut().expect("configured").told(count);
                let answer = follower.open(&url, now, &entropy, 0, log);
                let Opening::Join(admission) = answer else {
                    return Err(TestCaseError::fail(format!(
                        "shard {shard} refused: {answer:?}"
                    )));
                };
                let counted = admission
                    .headers
                    .iter()
                    .find(|(name, _)| name == COUNT_HEADER)
                    .and_then(|(_, value)| Count::parse(value));
                prop_assert!(counted.is_some(), "no count header");
                self.admit(
                    shard,
                    admission.id.clone(),
                    admission.tags.clone(),
                    &admission.effects,
                );
                self.perform(shard, Some(&admission.id), admission.effects);
                let (leader, _) = self.object(0);
                let registered = leader
                    .room_mut()
                    .expect("configured")
                    .forwarded(shard, counted);
                self.perform(0, None, registered);
            }
            Opening::Respond(response) => {
                // A place freed on another shard counts once shard 0 hears
                // of it: until then the room is full by shard 0's count.
                let reporting = self
                    .calls
                    .iter()
                    .any(|c| matches!(c.effect, Effect::Report { .. }));
                prop_assert!(
                    held >= self.config.max_connections_per_room as usize || reporting,
                    "refused below the cap: {:?}",
                    response
                );
            }
            other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        }
        Ok(())
    }

    fn admit(&mut self, shard: u32, id: String, tags: Vec<String>, effects: &Effects) {
        let welcome = effects.0.iter().find_map(|e| match e {
            Effect::Reply { text } if text.starts_with(r#"{"type":"welcome""#) => {
                serde_json::from_str::<Value>(text).ok()
            }
            _ => None,
        });
        let since = welcome
            .as_ref()
            .and_then(|w| w["seq"].as_u64())
            .unwrap_or(0);
        self.sockets.insert(
            id,
            Socket {
                shard,
                tags,
                attachment: None,
                since,
                got: Vec::new(),
                whispers: Vec::new(),
                open: true,
            },
        );
    }

    fn leave(&mut self, id: &str) {
        let Some(socket) = self.sockets.get_mut(id) else {
            return;
        };
        socket.open = false;
        let (shard, tags, attachment) =
            (socket.shard, socket.tags.clone(), socket.attachment.clone());
        let (object, _) = self.object(shard);
        let effects = object.close(&tags, 1000, attachment);
        self.perform(shard, Some(id), effects);
    }

    fn frame(&mut self, id: &str, text: &str) {
        self.now += 1;
        let now = self.now;
        let socket = &self.sockets[id];
        let (shard, tags) = (socket.shard, socket.tags.clone());
        let (object, log) = self.object(shard);
        let effects = object.message(&tags, Frame::Text(text), now, log);
        self.perform(shard, Some(id), effects);
    }

    /// Carries out a call with `outcome`; one that fails is queued again
    /// while it has attempts left (`last`: the network is quiet now, no
    /// failure).
    fn run(&mut self, mut call: Call, outcome: Outcome, last: bool) {
        call.attempts += 1;
        let outcome = if last { Outcome::Ok } else { outcome };
        if !matches!(outcome, Outcome::FailBefore) {
            self.execute(&call);
        }
        if !matches!(outcome, Outcome::Ok) && call.attempts < CALL_ATTEMPTS {
            self.calls.push(call);
        }
    }

    fn execute(&mut self, call: &Call) {
        self.now += 1;
        let now = self.now;
        match &call.effect {
            Effect::Deliver {
                object,
                epoch,
                after,
                ..
            } => {
                let shard = Place::of(object).shard;
                let seqs: Vec<u64> = call.messages.iter().map(|(seq, _)| *seq).collect();
                let frames: Vec<String> = call.messages.iter().map(|(_, f)| f.clone()).collect();
                let (follower, log) = self.object(shard);
                let taken = follower
                    .room_mut()
                    .expect("configured")
                    .take(epoch, *after, &seqs, log)
                    .expect("take");
                let sent = log.take(epoch, &taken, &frames);
                let targets: Vec<String> = self
                    .sockets
                    .iter()
                    .filter(|(_, s)| s.open && s.shard == shard)
                    .map(|(id, _)| id.clone())
                    .collect();
                for text in &sent {
                    for target in &targets {
                        self.receive(target, text);
                    }
                }
                let (leader, log) = self.object(0);
                let effects = leader
                    .room_mut()
                    .expect("configured")
                    .delivered(object, taken.need, taken.count, log)
                    .expect("delivered");
                self.perform(0, None, effects);
            }
            Effect::Publish {
                key,
                id,
                name,
                text,
                ts,
                ..
            } => {
                let (leader, log) = self.object(0);
                let effects = leader
                    .room_mut()
                    .expect("configured")
                    .published(
                        key.clone(),
                        id.clone(),
                        name.clone(),
                        text.clone(),
                        *ts,
                        now,
                        log,
                    )
                    .expect("publish");
                self.perform(0, None, effects);
            }
            Effect::Report {
                shard,
                members,
                version,
                ..
            } => {
                let (leader, _) = self.object(0);
                let count = Count {
                    members: *members,
                    version: *version,
                };
                let effects = leader
                    .room_mut()
                    .expect("configured")
                    .reported(*shard, count);
                self.perform(0, None, effects);
            }
            Effect::Relay { object, to, text } => {
                let shard = Place::of(object).shard;
                let (target, _) = self.object(shard);
                if target.room().whispered(to) {
                    let to = to.clone();
                    if self.sockets.get(&to).is_some_and(|s| s.open) {
                        self.receive(&to, text);
                    }
                }
            }
            _ => {}
        }
    }

    /// Delivers every pending call, without failures.
    fn quiet(&mut self) {
        for _ in 0..10_000 {
            let Some(call) = self.calls.pop() else {
                return;
            };
            self.run(call, Outcome::Ok, true);
        }
        panic!("the network never went quiet");
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        // One more message, said on shard 0 (a member there, or a
        // publish as a follower would send it), brings every shard up to
        // date: a shard that missed a delivery asks for the gap.
        self.quiet();
        let speaker = self
            .open_ids()
            .into_iter()
            .find(|id| self.sockets[id].shard == 0);
        match speaker {
            Some(id) => self.frame(&id, r#"{"type":"say","text":"last"}"#),
            None => {
                let (leader, log) = self.object(0);
                let effects = leader
                    .room_mut()
                    .expect("configured")
                    .published(
                        "check".into(),
                        "x".into(),
                        "x".into(),
                        "last".into(),
                        1,
                        1,
                        log,
                    )
                    .expect("publish");
                self.perform(0, None, effects);
            }
        }
        self.quiet();
        let room: Vec<(u64, String)> = self.logs[&0]
            .messages(0, u32::MAX)
            .into_iter()
            .map(|(seq, frame)| {
                let frame: Value = serde_json::from_str(&frame).expect("JSON");
                (seq, frame["text"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        let seqs: Vec<u64> = room.iter().map(|(seq, _)| *seq).collect();
        prop_assert_eq!(
            &seqs,
            &(1..=seqs.len() as u64).collect::<Vec<_>>(),
            "the room's log has gaps"
        );
        for (id, socket) in &self.sockets {
            let owed: Vec<(u64, String)> = room
                .iter()
                .filter(|(seq, _)| *seq > socket.since)
                .cloned()
                .collect();
            if socket.open {
                prop_assert_eq!(
                    &socket.got,
                    &owed,
                    "member {} on shard {}",
                    id,
                    socket.shard
                );
            } else {
                prop_assert!(
                    owed.starts_with(&socket.got),
                    "member {} who left saw {:?}, not a prefix of {:?}",
                    id,
                    socket.got,
                    owed
                );
            }
        }
        // Shard 0's registry ends with each shard's true count.
        let open = self.open_ids();
        prop_assert!(open.len() <= self.config.max_connections_per_room as usize);
        let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
        for id in &open {
            *counts.entry(self.sockets[id].shard).or_default() += 1;
        }
        let registered: BTreeMap<u32, u64> = self.logs[&0]
            .shards
            .iter()
            .map(|(k, c)| (*k, c.members))
            .filter(|(_, m)| *m > 0)
            .collect();
        counts.remove(&0);
        prop_assert_eq!(registered, counts, "the registry");
        Ok(())
    }
}

fn pick(ids: &[String], index: &Index) -> Option<String> {
    (!ids.is_empty()).then(|| ids[index.index(ids.len())].clone())
}

fn config(per_object: u32, per_room: u32) -> Config {
    Config::from_vars(|name| match name {
        "MAX_CONNECTIONS_PER_OBJECT" => Some(per_object.to_string()),
        "MAX_CONNECTIONS_PER_ROOM" => Some(per_room.to_string()),
        "PRESENCE_LIMIT" => Some(per_object.to_string()),
        "HISTORY_LIMIT" => Some("500".into()),
        "RATE_LIMIT_BURST" => Some("1000000".into()),
        "IDLE_TIMEOUT_SECONDS" => Some("0".into()),
        _ => None,
    })
    .expect("a valid configuration")
}

proptest! {
    #![proptest_config(bounded())]

    #[test]
    fn every_member_sees_the_rooms_log_once_in_order(
        per_object in 1u32..4,
        shards in 2u32..5,
        ops in vec(op(), 1..80),
    ) {
        let mut room = Room::new(config(per_object, per_object * shards));
        let mut said = 0;
        for op in ops {
            let open = room.open_ids();
            match op {
                Op::Join => room.join()?,
                Op::Leave(i) => {
                    if let Some(id) = pick(&open, &i) {
                        room.leave(&id);
                    }
                }
                Op::Say(i) => {
                    if let Some(id) = pick(&open, &i) {
                        said += 1;
                        room.frame(&id, &format!(r#"{{"type":"say","text":"s{said}"}}"#));
                    }
                }
                Op::Whisper(a, b) => {
                    if let (Some(from), Some(to)) = (pick(&open, &a), pick(&open, &b)) {
                        if from != to {
                            said += 1;
                            let text = format!("w{said}");
                            room.frame(&from, &format!(r#"{{"type":"whisper","to":"{to}","text":"{text}"}}"#));
                            room.quiet();
                            prop_assert!(room.sockets[&to].whispers.contains(&text), "whisper {} lost", text);
                        }
                    }
                }
                Op::Evict(i) => {
                    let shards: Vec<u32> = room.objects.keys().copied().collect();
                    let shard = shards[i.index(shards.len())];
                    room.wake(shard);
                }
                Op::Step(i, outcome) => {
                    if !room.calls.is_empty() {
                        let call = room.calls.remove(i.index(room.calls.len()));
                        room.run(call, outcome, false);
                    }
                }
            }
        }
        room.check()?;
    }
}

#[test]
fn a_spread_room_is_checked_by_the_model() {
    // 7 members on objects of 2: shards 0–3, a say from each.
    let mut room = Room::new(config(2, 8));
    for _ in 0..7 {
        room.join().expect("join");
    }
    let shards: Vec<u32> = room.sockets.values().map(|s| s.shard).collect();
    assert_eq!(shards.iter().max(), Some(&3));
    for id in room.open_ids() {
        room.frame(&id, &format!(r#"{{"type":"say","text":"{id}"}}"#));
    }
    room.check().expect("invariants");
    let first = room.sockets.values().next().expect("a member").got.clone();
    assert_eq!(first.len(), 8);
    assert!(room.sockets.values().all(|s| s.got == first));
    let _ = ROOM_TAG;
}
