//! A room's history: its latest `HISTORY_LIMIT` messages, kept in the
//! object's SQLite so that a client that reconnects gets exactly what it
//! missed, and a newcomer sees what was said before it came.
//!
//! The decisions are pure functions of the stored state ([`Head`]) and the
//! event: [`sequence`] (a `say`: its seq, the rows to write and to forget)
//! and [`replay`] (a join: which messages its `history` frame carries).
//! [`History`] applies them for a room; TypeScript (`js/history.ts`) runs the
//! SQL: it reads the head through [`Log`] when an event needs it, writes
//! what [`Effect::Epoch`] and a [`Effect::Send`] with a `seq` say, and
//! splices the stored messages an [`Effect::Replay`] names into its frame.
//!
//! Storage is the truth, memory a cache of it. A new instance (a wake, a
//! restart, a Wasm instance replaced after a panic) reads nothing until an
//! event needs the history, then reads the head once, with one indexed
//! query: a wake that only answers a `who` pays nothing for history. A seq
//! is never reused: the next one is the stored last + 1, and the last
//! message is never forgotten (trimming keeps the latest `HISTORY_LIMIT ≥ 1`),
//! so the highest stored seq is the highest ever used under that epoch.
//! An epoch names one history: minted when a room's storage has none (its
//! first join or message), so a new epoch means the history was lost or
//! reset, and seqs from another epoch mean nothing.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::config::Config;
use crate::error::HttpError;
use crate::outcome::{Effect, Effects};
use crate::shard::Count;
use crate::socket::ROOM_TAG;
use crate::text;

/// Longest epoch a client may send back, in characters (minted ones have 11).
pub const MAX_EPOCH_CHARS: usize = 32;

/// The stored state of a room's history: enough to number a message and
/// to choose what a joiner is replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The name of this history; empty when none is stored (an epoch
    /// never is).
    pub epoch: String,
    /// The lowest seq kept (`last + 1` when none is).
    pub first: u64,
    /// The highest seq used (0 before the first message).
    pub last: u64,
}

impl Head {
    /// A history with no message yet.
    pub fn new(epoch: String) -> Head {
        Head {
            epoch,
            first: 1,
            last: 0,
        }
    }

    /// The row `js/history.ts` reads: the stored epoch (`None`: the room
    /// has no history yet) and the lowest and highest seq kept (`None`:
    /// no message is).
    pub fn from_row(epoch: Option<String>, first: Option<u64>, last: Option<u64>) -> Head {
        let last = last.unwrap_or(0);
        Head {
            epoch: epoch.unwrap_or_default(),
            first: first.unwrap_or(last + 1),
            last,
        }
    }

    /// The head once `stored` is (see [`sequence`]).
    pub fn store(&mut self, stored: Sequenced) {
        self.first = stored.first;
        self.last = stored.seq;
    }
}

/// What storing one more message does to a history (see [`sequence`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequenced {
    /// The message's seq.
    pub seq: u64,
    /// Forget the kept messages up to this seq (inclusive), if any.
    pub forget: Option<u64>,
    /// The lowest seq kept once the message is stored.
    pub first: u64,
}

/// Numbers the next message of a history keeping `limit` (≥ 1) messages:
/// its seq is the last + 1, and the kept messages older than the latest
/// `limit` are forgotten, usually exactly one (bounded work per message).
pub fn sequence(head: &Head, limit: u32) -> Sequenced {
    sequence_at(head, head.last.saturating_add(1), limit)
}

/// Stores message `seq` (above `head.last`) in a history keeping `limit`
/// (≥ 1) messages: a shard's copy stores the seqs shard 0 gave, which may
/// skip those shard 0 no longer keeps.
pub fn sequence_at(head: &Head, seq: u64, limit: u32) -> Sequenced {
    let keep_from = seq.saturating_sub(u64::from(limit.max(1)) - 1).max(1);
    let first = if head.first > head.last {
        seq
    } else {
        head.first
    };
    let forget = (first < keep_from).then(|| keep_from - 1);
    Sequenced {
        seq,
        forget,
        first: first.max(keep_from),
    }
}

/// What a client asks to resume from: `?since=S&epoch=E`, the last seq it
/// saw under the epoch it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    pub since: u64,
    pub epoch: String,
}

impl Resume {
    /// Reads an upgrade's `?since=` and `?epoch=` (decoded; `None` when
    /// absent): both or neither; `since` a non-negative integer, `epoch`
    /// 1–32 characters of `A–Z a–z 0–9 _ -`. Anything else is
    /// `400 invalid_field`.
    pub fn read(since: Option<String>, epoch: Option<String>) -> Result<Option<Resume>, HttpError> {
        if since.is_none() && epoch.is_none() {
            return Ok(None);
        }
        match (since.as_deref().and_then(text::whole), epoch) {
            (Some(since), Some(epoch)) if is_epoch(&epoch) => Ok(Some(Resume { since, epoch })),
            _ => Err(HttpError::BadResume),
        }
    }
}

/// Whether `text` has the shape of an epoch.
fn is_epoch(text: &str) -> bool {
    (1..=MAX_EPOCH_CHARS).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A new epoch, named after the time it is minted at (ms): a room mints
/// one only when its storage has none, so no two of its epochs share a
/// name. It names a history; it is not a secret.
pub fn mint(now: u64) -> String {
    text::base64url(&now.to_be_bytes())
}

/// Which stored messages a joiner's `history` frame replays (see [`replay`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The messages with a seq above this…
    pub after: u64,
    /// …at most this many (all there are: nothing to read when 0).
    pub count: u32,
    /// Whether they are exactly what the resume missed.
    pub recovered: bool,
}

/// Chooses a joiner's replay in a history keeping `limit` messages: a
/// resume under this epoch whose every missed message is still kept gets
/// exactly those (`recovered`), even none; any other join (none asked, another
/// epoch, a gap larger than what is kept, a `since` beyond the last seq)
/// gets the latest kept, at most `on_join`.
pub fn replay(head: &Head, resume: Option<&Resume>, limit: u32, on_join: u32) -> Replay {
    // The messages the limit keeps, even before a lowered limit trimmed.
    let kept_from = head
        .first
        .max(head.last.saturating_sub(u64::from(limit)).saturating_add(1));
    if let Some(resume) = resume {
        if resume.epoch == head.epoch
            && resume.since <= head.last
            && resume.since.saturating_add(1) >= kept_from
        {
            return Replay {
                after: resume.since,
                count: count(head.last - resume.since),
                recovered: true,
            };
        }
    }
    let after = head
        .last
        .saturating_sub(u64::from(on_join.min(limit)))
        .max(kept_from - 1);
    Replay {
        after,
        count: count(head.last.saturating_sub(after)),
        recovered: false,
    }
}

fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The `history` frame (a [`ServerFrame::History`](crate::protocol::ServerFrame::History))
/// of `replay`: the stored messages, replayed as they were sent, are spliced
/// in by the shim ([`Effect::Replay`]); a replay of none is the whole frame.
pub fn frame(replay: &Replay) -> Effect {
    let head = if replay.recovered {
        r#"{"type":"history","recovered":true,"messages":["#
    } else {
        r#"{"type":"history","recovered":false,"messages":["#
    };
    match replay.count {
        0 => {
            let mut text = String::from(head);
            text.push_str("]}");
            Effect::Reply { text }
        }
        count => Effect::Replay {
            head: head.to_owned(),
            after: replay.after,
            count,
            tail: "]}".to_owned(),
        },
    }
}

/// The store failed; `js/history.ts` has logged why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure;

/// The stored history as the runtime reads it (`js/history.ts`), asked only
/// when an event needs it.
pub trait Log {
    /// The stored head (its epoch empty when the room has none yet).
    fn head(&mut self) -> Result<Head, Failure>;
    /// Rows the history's writes changed in this instance, as the runtime
    /// counts them: the unit storage is billed in.
    fn rows_written(&mut self) -> u64;
    /// The seq of the kept message stored with `key`, if one is (see
    /// [`crate::shard`]).
    fn published(&mut self, key: &str) -> Result<Option<u64>, Failure>;
    /// Shard 0's stored registry of the room's other shards.
    fn shards(&mut self) -> Result<Vec<(u32, Count)>, Failure>;
}

/// What a shard's copy does with a delivery (see [`History::take`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Taken {
    /// Forget every stored message and start again under the delivery's
    /// epoch, first.
    pub restart: bool,
    /// Took nothing: it holds the messages up to this seq only.
    pub need: Option<u64>,
    /// Store and send the delivery's message at `.0` as message `.1`,
    /// forgetting those up to `.2`, in this order.
    pub keep: Vec<(usize, u64, Option<u64>)>,
    /// The shard's member count, for shard 0 (see [`crate::shard`]).
    pub count: Option<Count>,
}

/// What a join gets from the history (see [`History::join`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Joining {
    /// For the welcome: the epoch, and the seq of the last message.
    pub epoch: String,
    pub seq: u64,
    /// The writes to carry out first (a new epoch).
    pub store: Effects,
    /// The `history` frame (see [`frame`]).
    pub replay: Effect,
}

/// A room's history as one instance of its object knows it.
#[derive(Clone, Debug, Default)]
pub struct History {
    limit: u32,
    on_join: u32,
    /// A shard ≥ 1 keeps a copy of shard 0's history: it never names one.
    follows: bool,
    /// The stored head, read once per instance when first needed.
    head: Option<Head>,
}

impl History {
    /// The history `HISTORY_LIMIT` and `HISTORY_ON_JOIN` ask for.
    pub fn new(config: &Config) -> Self {
        History {
            limit: config.history_limit,
            on_join: config.history_on_join,
            ..Self::default()
        }
    }

    /// Whether the room keeps a history (`HISTORY_LIMIT` > 0).
    pub fn is_on(&self) -> bool {
        self.limit > 0
    }

    /// Makes this history a copy of shard 0's (see [`crate::shard`]).
    pub fn follow(&mut self) {
        self.follows = true;
    }

    /// The stored head, read from `log` if this instance has not yet.
    fn load(&mut self, log: &mut impl Log) -> Result<&mut Head, Failure> {
        let head = match self.head.take() {
            Some(head) => head,
            None => log.head()?,
        };
        Ok(self.head.insert(head))
    }

    /// A `say`: `message(seq)` is the frame's text (`seq` is `None` with
    /// history off). The effects write it, then send it to the room: the
    /// write comes first, so no one gets a message that is not stored.
    pub fn say(
        &mut self,
        log: &mut impl Log,
        now: u64,
        message: impl FnOnce(Option<u64>) -> String,
    ) -> Result<Effects, Failure> {
        self.store(log, now, None, message)
    }

    /// A message sent by a shard with `key`, or by this object (`None`):
    /// see [`say`](Self::say).
    pub fn store(
        &mut self,
        log: &mut impl Log,
        now: u64,
        key: Option<String>,
        message: impl FnOnce(Option<u64>) -> String,
    ) -> Result<Effects, Failure> {
        if !self.is_on() {
            return Ok(Effect::broadcast(message(None), false).into());
        }
        let limit = self.limit;
        let head = self.load(log)?;
        let mut effects = begin(head, now);
        let stored = sequence(head, limit);
        head.store(stored);
        effects.push(Effect::Send {
            tag: ROOM_TAG.to_owned(),
            text: message(Some(stored.seq)),
            skip_self: false,
            seq: Some(stored.seq),
            forget: stored.forget,
            key,
        });
        Ok(effects)
    }

    /// The stored epoch and last seq (shard 0, to deliver from).
    pub fn head(&mut self, log: &mut impl Log) -> Result<(String, u64), Failure> {
        let head = self.load(log)?;
        Ok((head.epoch.clone(), head.last))
    }

    /// Whether a message sent with `key` is stored already.
    pub fn holds(&mut self, log: &mut impl Log, key: &str) -> Result<bool, Failure> {
        Ok(log.published(key)?.is_some())
    }

    /// A shard's copy takes the messages `seqs` (rising) of shard 0's
    /// history `epoch`, sent to a shard holding every message up to
    /// `after`: it stores and sends to its room those above the last it
    /// holds (see [`Taken`]). A copy of another epoch starts again, empty,
    /// first. If it holds less than `after`, it takes none and answers the
    /// seq it holds, from which shard 0 sends again.
    pub fn take(
        &mut self,
        log: &mut impl Log,
        epoch: &str,
        after: u64,
        seqs: &[u64],
    ) -> Result<Taken, Failure> {
        let limit = self.limit.max(1);
        let head = self.load(log)?;
        let mut taken = Taken::default();
        if head.epoch != epoch {
            *head = Head::new(epoch.to_owned());
            taken.restart = true;
        }
        if after > head.last {
            taken.need = Some(head.last);
            return Ok(taken);
        }
        for (index, &seq) in seqs.iter().enumerate() {
            if seq <= head.last {
                continue;
            }
            let stored = sequence_at(head, seq, limit);
            head.store(stored);
            taken.keep.push((index, seq, stored.forget));
        }
        Ok(taken)
    }

    /// A join at `now` that asks to `resume` (or not): `None` with history
    /// off.
    pub fn join(
        &mut self,
        log: &mut impl Log,
        resume: Option<&Resume>,
        now: u64,
    ) -> Result<Option<Joining>, Failure> {
        if !self.is_on() {
            return Ok(None);
        }
        let (limit, on_join, follows) = (self.limit, self.on_join, self.follows);
        let head = self.load(log)?;
        if follows && head.epoch.is_empty() {
            // Shard 0 brings a shard up to date before it hands it a member.
            return Err(Failure);
        }
        let replay = replay(head, resume, limit, on_join);
        Ok(Some(Joining {
            store: begin(head, now),
            epoch: head.epoch.clone(),
            seq: head.last,
            replay: frame(&replay),
        }))
    }
}

/// Names a history whose storage has no epoch (a new room, or one whose
/// storage lost it) with one minted at `now`: the write to carry out before
/// anyone is told of it. The seqs come from storage either way.
fn begin(head: &mut Head, now: u64) -> Effects {
    if !head.epoch.is_empty() {
        return Effects::default();
    }
    head.epoch = mint(now);
    Effect::Epoch {
        epoch: head.epoch.clone(),
    }
    .into()
}

/// A history kept in memory as `js/history.ts` keeps it in SQLite: the
/// model of what its statements do, for tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    /// The stored epoch.
    pub epoch: Option<String>,
    /// The stored messages by seq.
    pub rows: BTreeMap<u64, String>,
    /// Reads of the head so far.
    pub reads: u32,
    /// Rows written so far, as SQLite counts them.
    pub rows_written: u64,
    /// When set, reading the head fails.
    pub failing: bool,
    /// The keys stored with messages, by seq.
    pub keys: BTreeMap<u64, String>,
    /// Shard 0's registry of the other shards.
    pub shards: BTreeMap<u32, Count>,
}

impl MemoryLog {
    /// The text a client gets for `effect`, as `perform` makes it: a
    /// reply's, or a replay's with the stored messages spliced in.
    pub fn text_of(&self, effect: &Effect) -> Option<String> {
        match effect {
            Effect::Reply { text } => Some(text.clone()),
            Effect::Replay {
                head,
                after,
                count,
                tail,
            } => {
                let rows: Vec<&str> = self
                    .rows
                    .range((Bound::Excluded(*after), Bound::Unbounded))
                    .take(*count as usize)
                    .map(|(_, text)| text.as_str())
                    .collect();
                Some([head.as_str(), &rows.join(","), tail].concat())
            }
            _ => None,
        }
    }

    /// Carries out the history's writes among `effects`, as `perform` does.
    pub fn apply(&mut self, effects: &Effects) {
        for effect in &effects.0 {
            match effect {
                Effect::Epoch { epoch } => {
                    self.epoch = Some(epoch.clone());
                    self.rows_written += 1;
                }
                Effect::Send {
                    text,
                    seq: Some(seq),
                    forget,
                    key,
                    ..
                } => {
                    self.rows.insert(*seq, text.clone());
                    if let Some(key) = key {
                        self.keys.insert(*seq, key.clone());
                    }
                    self.rows_written += 1;
                    if let Some(forget) = forget {
                        let kept = self.rows.split_off(&(forget + 1));
                        self.rows_written += self.rows.len() as u64;
                        self.rows = kept;
                        self.keys = self.keys.split_off(&(forget + 1));
                    }
                }
                Effect::Register {
                    shard,
                    members,
                    version,
                } => {
                    self.shards.insert(
                        *shard,
                        Count {
                            members: *members,
                            version: *version,
                        },
                    );
                }
                _ => {}
            }
        }
    }
}

impl Log for MemoryLog {
    fn head(&mut self) -> Result<Head, Failure> {
        self.reads += 1;
        if self.failing {
            return Err(Failure);
        }
        Ok(Head::from_row(
            self.epoch.clone(),
            self.rows.keys().next().copied(),
            self.rows.keys().last().copied(),
        ))
    }

    fn rows_written(&mut self) -> u64 {
        self.rows_written
    }

    fn published(&mut self, key: &str) -> Result<Option<u64>, Failure> {
        Ok(self
            .keys
            .iter()
            .find(|(_, k)| k.as_str() == key)
            .map(|(seq, _)| *seq))
    }

    fn shards(&mut self) -> Result<Vec<(u32, Count)>, Failure> {
        Ok(self.shards.iter().map(|(k, c)| (*k, *c)).collect())
    }
}

impl MemoryLog {
    /// Carries out what a shard's copy took of a delivery of `frames` under
    /// `epoch`, as `deliver` in `js/index.ts` does; the frames its room is
    /// sent, in order.
    pub fn take(&mut self, epoch: &str, taken: &Taken, frames: &[String]) -> Vec<String> {
        if taken.restart {
            self.rows_written += self.rows.len() as u64 + 1;
            self.rows.clear();
            self.keys.clear();
            self.epoch = Some(epoch.to_owned());
        }
        let mut sent = Vec::new();
        for &(index, seq, forget) in &taken.keep {
            let text = frames.get(index).cloned().unwrap_or_default();
            self.apply(&Effects::from(Effect::Send {
                tag: ROOM_TAG.to_owned(),
                text: text.clone(),
                skip_self: false,
                seq: Some(seq),
                forget,
                key: None,
            }));
            sent.push(text);
        }
        sent
    }

    /// The stored messages with a seq above `after`, at most `count`, as
    /// `js/history.ts` reads them for a delivery.
    pub fn messages(&self, after: u64, count: u32) -> Vec<(u64, String)> {
        self.rows
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(count as usize)
            .map(|(seq, text)| (*seq, text.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerFrame;

    fn head(first: u64, last: u64) -> Head {
        Head {
            epoch: "E".into(),
            first,
            last,
        }
    }

    fn resume(since: u64, epoch: &str) -> Resume {
        Resume {
            since,
            epoch: epoch.into(),
        }
    }

    fn history(limit: u32, on_join: u32) -> History {
        History::new(&Config {
            history_limit: limit,
            history_on_join: on_join,
            ..Config::default()
        })
    }

    #[test]
    fn sequence_numbers_from_one_and_forgets_past_the_limit() {
        let mut h = Head::new("E".into());
        let mut forgotten = Vec::new();
        for _ in 0..5 {
            let s = sequence(&h, 3);
            assert_eq!(s.seq, h.last + 1);
            forgotten.push(s.forget);
            h.store(s);
        }
        assert_eq!(forgotten, [None, None, None, Some(1), Some(2)]);
        assert_eq!((h.first, h.last), (3, 5));
        // A lowered limit forgets the surplus at once, once.
        let s = sequence(&h, 1);
        assert_eq!((s.seq, s.forget, s.first), (6, Some(5), 6));
        // With a limit of one the last message is still kept.
        assert_eq!(sequence(&head(6, 6), 1).forget, Some(6));
        assert_eq!(sequence(&head(6, 6), 1).first, 7);
    }

    #[test]
    fn replay_chooses_exactly_what_a_resume_missed_or_the_latest() {
        // Kept: 41..=60 of a history keeping 20; 5 on join.
        let h = head(41, 60);
        let table: &[(Option<Resume>, Replay)] = &[
            // Exact resume, from anywhere in what is kept (or its edge).
            (
                Some(resume(57, "E")),
                Replay {
                    after: 57,
                    count: 3,
                    recovered: true,
                },
            ),
            (
                Some(resume(40, "E")),
                Replay {
                    after: 40,
                    count: 20,
                    recovered: true,
                },
            ),
            (
                Some(resume(60, "E")),
                Replay {
                    after: 60,
                    count: 0,
                    recovered: true,
                },
            ),
            // A gap larger than what is kept.
            (
                Some(resume(39, "E")),
                Replay {
                    after: 55,
                    count: 5,
                    recovered: false,
                },
            ),
            (
                Some(resume(0, "E")),
                Replay {
                    after: 55,
                    count: 5,
                    recovered: false,
                },
            ),
            // Another epoch: its seqs mean nothing here.
            (
                Some(resume(57, "F")),
                Replay {
                    after: 55,
                    count: 5,
                    recovered: false,
                },
            ),
            // Beyond the last seq: not from this history.
            (
                Some(resume(61, "E")),
                Replay {
                    after: 55,
                    count: 5,
                    recovered: false,
                },
            ),
            (
                Some(resume(u64::MAX, "E")),
                Replay {
                    after: 55,
                    count: 5,
                    recovered: false,
                },
            ),
            // No resume: the latest.
            (
                None,
                Replay {
                    after: 55,
                    count: 5,
                    recovered: false,
                },
            ),
        ];
        for (resume, want) in table {
            assert_eq!(replay(&h, resume.as_ref(), 20, 5), *want, "{resume:?}");
        }
        // At most what is kept, even when more is asked on join.
        assert_eq!(
            replay(&head(58, 60), None, 20, 50),
            Replay {
                after: 57,
                count: 3,
                recovered: false
            }
        );
        // An empty history: nothing to read, and a resume of it recovers.
        let empty = Head::new("E".into());
        assert_eq!(replay(&empty, None, 20, 5).count, 0);
        assert!(replay(&empty, Some(&resume(0, "E")), 20, 5).recovered);
        // A lowered limit keeps fewer than are stored: no resume past it.
        assert!(!replay(&h, Some(&resume(45, "E")), 10, 5).recovered);
        assert!(replay(&h, Some(&resume(50, "E")), 10, 5).recovered);
        assert_eq!(replay(&h, None, 10, 50).after, 50);
    }

    #[test]
    fn resume_parameters_are_both_or_neither_and_well_formed() {
        let query = |q: &str| {
            let param = |key| crate::http::url::query_param(q, key);
            Resume::read(param("since"), param("epoch"))
        };
        let ok = |q: &str| query(q).expect(q);
        assert_eq!(ok(""), None);
        assert_eq!(ok("name=Ada"), None);
        assert_eq!(ok("since=7&epoch=Ab_-9"), Some(resume(7, "Ab_-9")));
        assert_eq!(ok("epoch=E&since=007"), Some(resume(7, "E")));
        assert_eq!(
            ok(&format!("since={}&epoch={}", u64::MAX, "e".repeat(32))),
            Some(resume(u64::MAX, &"e".repeat(32)))
        );
        for bad in [
            "since=1",
            "epoch=E",
            "since=&epoch=E",
            "since=-1&epoch=E",
            "since=1.5&epoch=E",
            "since=+1&epoch=E",
            "since=%201&epoch=E",
            "since=18446744073709551616&epoch=E",
            "since=1&epoch=",
            "since=1&epoch=a.b",
            "since=1&epoch=%C3%A9",
            &format!("since=1&epoch={}", "e".repeat(33)),
        ] {
            let error = query(bad).expect_err(bad);
            assert_eq!(
                (error.status(), error.code()),
                (400, "invalid_field"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_history_frame_is_a_server_frame_of_the_stored_messages() {
        let message = |seq: u64| ServerFrame::Message {
            id: "i".into(),
            name: "n".into(),
            text: format!("t{seq}"),
            ts: 9,
            seq: Some(seq),
        };
        let store = MemoryLog {
            rows: (3..=4).map(|seq| (seq, message(seq).to_json())).collect(),
            ..MemoryLog::default()
        };
        for (recovered, after, count) in [(true, 2, 2), (false, 2, 1), (false, 4, 0)] {
            let effect = frame(&Replay {
                after,
                count,
                recovered,
            });
            // Nothing stored goes through the core: the shim splices it in.
            assert_eq!(matches!(effect, Effect::Replay { .. }), count > 0);
            let text = store.text_of(&effect).expect("a frame");
            let parsed: ServerFrame = serde_json::from_str(&text).expect("a server frame");
            let want = ServerFrame::History {
                recovered,
                messages: (after + 1..=after + u64::from(count))
                    .map(message)
                    .collect(),
            };
            assert_eq!(parsed, want);
            assert_eq!(text, want.to_json());
        }
    }

    #[test]
    fn the_head_reads_back_from_its_row() {
        assert_eq!(
            Head::from_row(None, Some(1), Some(2)),
            Head {
                epoch: String::new(),
                ..head(1, 2)
            }
        );
        assert_eq!(
            Head::from_row(Some("E".into()), None, None),
            Head::new("E".into())
        );
        assert_eq!(
            Head::from_row(Some("E".into()), Some(3), Some(9)),
            head(3, 9)
        );
        assert_eq!(mint(0xfbff_fbff_fbff), "AAD7__v_-_8");
        assert!(is_epoch(&mint(u64::MAX)));
    }

    #[test]
    fn a_woken_history_reads_once_continues_the_sequence_and_keeps_the_epoch() {
        let mut store = MemoryLog::default();
        let mut first = history(3, 2);
        let joined = first.join(&mut store, None, 7).expect("join");
        let joined = joined.expect("history on");
        assert_eq!((joined.seq, store.reads), (0, 1));
        store.apply(&joined.store);
        for i in 0..4 {
            let said = first
                .say(&mut store, 10 + i, |seq| format!("{seq:?}"))
                .expect("say");
            store.apply(&said);
        }
        assert_eq!(store.reads, 1, "one read per instance");
        assert_eq!(store.rows.keys().copied().collect::<Vec<_>>(), [2, 3, 4]);
        // The epoch, 4 messages, 1 forgotten with the last.
        assert_eq!(store.rows_written, 1 + 4 + 1);
        // A new instance: nothing read until an event needs it.
        let mut woken = history(3, 2);
        assert_eq!(store.reads, 1);
        let said = woken
            .say(&mut store, 20, |seq| format!("{seq:?}"))
            .expect("say");
        assert!(matches!(
            said.0.as_slice(),
            [Effect::Send {
                seq: Some(5),
                forget: Some(2),
                ..
            }]
        ));
        store.apply(&said);
        let again = woken
            .join(&mut store, Some(&resume(3, &joined.epoch)), 8)
            .expect("join")
            .expect("on");
        assert_eq!(again.epoch, joined.epoch);
        assert!(again.store.0.is_empty(), "no new epoch");
        assert_eq!(
            store.text_of(&again.replay).as_deref(),
            Some(r#"{"type":"history","recovered":true,"messages":[Some(4),Some(5)]}"#)
        );
    }

    #[test]
    fn a_failed_read_fails_the_event_a_lost_epoch_is_minted_again_and_off_reads_nothing() {
        let mut store = MemoryLog {
            epoch: Some("E".into()),
            rows: BTreeMap::from([(1, "{}".to_owned())]),
            failing: true,
            ..MemoryLog::default()
        };
        let mut h = history(5, 5);
        assert_eq!(h.join(&mut store, None, 1), Err(Failure));
        assert_eq!(h.say(&mut store, 1, |_| String::new()), Err(Failure));
        // Storage that lost its epoch but not its messages: a new epoch,
        // and the seqs go on.
        let mut lost = MemoryLog {
            rows: BTreeMap::from([(4, "{}".to_owned())]),
            ..MemoryLog::default()
        };
        let mut h = history(5, 5);
        let joined = h.join(&mut lost, None, 2).expect("join").expect("on");
        assert_eq!((joined.epoch.clone(), joined.seq), (mint(2), 4));
        assert_eq!(joined.store, Effect::Epoch { epoch: mint(2) }.into());
        let said = h.say(&mut lost, 1, |_| String::new()).expect("say");
        assert!(matches!(
            said.0.first(),
            Some(Effect::Send { seq: Some(5), .. })
        ));
        // Off: no reads, no writes, no seq.
        let mut off = history(0, 5);
        let mut untouched = MemoryLog::default();
        assert_eq!(off.join(&mut untouched, None, 1), Ok(None));
        let said = off
            .say(&mut untouched, 1, |seq| format!("{seq:?}"))
            .expect("say");
        assert_eq!(said, Effect::broadcast("None".into(), false).into());
        assert_eq!((untouched.reads, untouched.rows_written), (0, 0));
    }
}
