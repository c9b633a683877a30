//! A room's history against a model: any interleaving of messages, joins
//! that resume (or not), dropped connections, evictions and lost storage.
//! Clients here keep what they saw as `RoomClient` does (the epoch, the last
//! seq, messages deduplicated by seq) and reconnect with `?since=&epoch=`.
//! The model keeps the room's log: every message ever sent, by seq. After
//! every step, each client's view equals the log from where it started, but
//! for the gaps the server said it could not recover; a resume is recovered
//! whenever everything it missed is still kept, and then gets exactly that.

mod common;

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use common::bounded;
use websocket_hibernation_server::config::Config;
use websocket_hibernation_server::object::ObjectState;
use websocket_hibernation_server::outcome::{Effect, Effects, Opening};
use websocket_hibernation_server::protocol::Frame;
use websocket_hibernation_server::room::history::MemoryLog;
use websocket_hibernation_server::socket::{Attachment, ROOM_TAG};

const CLIENTS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    /// A client that is not connected connects, resuming from what it saw
    /// if `resume` (and it saw a welcome).
    Connect { client: Index, resume: bool },
    /// A connected client says something.
    Say { client: Index },
    /// A connected client's network dies: the server sees 1006.
    Drop { client: Index },
    /// The object is evicted and created again; with `lose_storage`, its
    /// SQLite is gone too (a wiped `.wrangler/state`).
    Evict { lose_storage: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<Index>(), prop::bool::weighted(0.8))
            .prop_map(|(client, resume)| Op::Connect { client, resume }),
        5 => any::<Index>().prop_map(|client| Op::Say { client }),
        2 => any::<Index>().prop_map(|client| Op::Drop { client }),
        2 => prop::bool::weighted(0.1).prop_map(|lose_storage| Op::Evict { lose_storage }),
    ]
}

/// One client as `RoomClient` keeps it.
#[derive(Clone, Debug, Default)]
struct Client {
    /// The member id of its open socket, if connected.
    id: Option<String>,
    epoch: Option<String>,
    last: u64,
    /// Every message it delivered, in order: (epoch, seq, text).
    view: Vec<(String, u64, String)>,
    /// Where each stretch of its view starts: a join without resume, a
    /// history it was told is not recovered, or a new epoch.
    breaks: Vec<usize>,
}

impl Client {
    fn deliver(&mut self, frame: &Value) {
        let seq = frame["seq"].as_u64().expect("a message with seq");
        if seq > self.last {
            self.last = seq;
            let epoch = self.epoch.clone().unwrap_or_default();
            self.view.push((epoch, seq, frame["text"].to_string()));
        }
    }
}

/// The room as the model knows it.
struct Model {
    config: Config,
    /// Every message of the current epoch, by seq, as broadcast.
    log: BTreeMap<u64, String>,
    epoch: Option<String>,
    clients: Vec<Client>,
    /// Member id → attachment, for adopting after an eviction.
    sockets: BTreeMap<String, Attachment>,
    said: u64,
}

fn tags(id: &str) -> Vec<String> {
    vec![id.to_owned(), ROOM_TAG.to_owned()]
}

fn frames(effects: &Effects) -> impl Iterator<Item = (&Effect, Value)> {
    effects.0.iter().filter_map(|effect| match effect {
        Effect::Reply { text } | Effect::Send { text, .. } => {
            Some((effect, serde_json::from_str(text).expect("JSON")))
        }
        _ => None,
    })
}

impl Model {
    /// Delivers the broadcasts among `effects` to every connected client.
    fn broadcast(&mut self, effects: &Effects) -> Result<(), TestCaseError> {
        self.epochs(effects);
        for (effect, frame) in frames(effects) {
            let Effect::Send { tag, .. } = effect else {
                continue;
            };
            if tag != ROOM_TAG || frame["type"] != "message" {
                continue;
            }
            let seq = frame["seq"].as_u64().expect("seq");
            prop_assert!(!self.log.contains_key(&seq), "seq {} reused", seq);
            prop_assert_eq!(seq, self.log.keys().last().map_or(1, |l| l + 1));
            self.log.insert(seq, frame["text"].to_string());
            for client in self.clients.iter_mut().filter(|c| c.id.is_some()) {
                client.deliver(&frame);
            }
        }
        Ok(())
    }

    /// Notes a new epoch among `effects`.
    fn epochs(&mut self, effects: &Effects) {
        for effect in &effects.0 {
            if let Effect::Epoch { epoch } = effect {
                self.epoch = Some(epoch.clone());
            }
        }
    }

    /// A client's welcome and history, checked against the log.
    fn joined(
        &mut self,
        c: usize,
        effects: &Effects,
        store: &MemoryLog,
        resumed: Option<(u64, String)>,
    ) -> Result<(), TestCaseError> {
        // The frames this socket gets, as the shim makes them (a replay with
        // the stored messages spliced in).
        let mut replies = effects.0.iter().filter_map(|effect| {
            let text = store.text_of(effect)?;
            Some(serde_json::from_str::<Value>(&text).expect("JSON"))
        });
        let welcome = replies.next().expect("a welcome");
        let history = replies.next().expect("a history frame");
        prop_assert_eq!(&welcome["type"], "welcome");
        prop_assert_eq!(&history["type"], "history");
        let epoch = welcome["epoch"].as_str().expect("epoch").to_owned();
        let last = self.log.keys().last().copied().unwrap_or(0);
        prop_assert_eq!(welcome["seq"].as_u64(), Some(last));
        prop_assert_eq!(Some(&epoch), self.epoch.as_ref());
        let limit = u64::from(self.config.history_limit);
        let recoverable = resumed
            .as_ref()
            .is_some_and(|(since, e)| *e == epoch && *since <= last && last - since <= limit);
        let recovered = history["recovered"].as_bool().expect("recovered");
        prop_assert_eq!(recovered, recoverable, "{}", history);
        let messages = history["messages"].as_array().expect("messages");
        let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
        let want: Vec<u64> = match &resumed {
            Some((since, _)) if recovered => (since + 1..=last).collect(),
            _ => {
                let n = limit.min(u64::from(self.config.history_on_join));
                (last.saturating_sub(n) + 1..=last).collect()
            }
        };
        prop_assert_eq!(&seqs, &want);
        for (message, seq) in messages.iter().zip(&seqs) {
            prop_assert_eq!(Some(&message["text"].to_string()), self.log.get(seq));
        }
        let client = &mut self.clients[c];
        if client.epoch.as_deref() != Some(&epoch) {
            client.last = 0;
        }
        if !recovered {
            client.breaks.push(client.view.len());
        }
        client.epoch = Some(epoch);
        for message in messages {
            client.deliver(message);
        }
        Ok(())
    }

    /// Every client's view is the log, in stretches: each stretch is a run
    /// of consecutive seqs of one epoch, and the last one of a connected
    /// client reaches the room's last message.
    fn check(&self) -> Result<(), TestCaseError> {
        let last = self.log.keys().last().copied().unwrap_or(0);
        for client in &self.clients {
            let mut starts = client.breaks.clone();
            starts.push(client.view.len());
            for pair in starts.windows(2) {
                let stretch = &client.view[pair[0]..pair[1]];
                for w in stretch.windows(2) {
                    prop_assert_eq!(&w[0].0, &w[1].0, "epoch changed within a stretch");
                    prop_assert_eq!(w[1].1, w[0].1 + 1, "a gap in {:?}", stretch);
                }
            }
            let current = client
                .view
                .iter()
                .rev()
                .take_while(|(e, ..)| Some(e) == self.epoch.as_ref());
            if client.id.is_some() {
                for (_, seq, text) in current {
                    prop_assert_eq!(Some(text), self.log.get(seq));
                }
                // What it has since its last join or gap reaches the end.
                let stretch = &client.view[client.breaks.last().copied().unwrap_or(0)..];
                if let Some((epoch, seq, _)) = stretch.last() {
                    if Some(epoch) == self.epoch.as_ref() {
                        prop_assert_eq!(*seq, last, "a connected client is behind");
                    }
                }
            }
        }
        Ok(())
    }
}

fn run(config: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut now = 1_000;
    let mut object = ObjectState::start(None, now, 0, Ok(config.clone()));
    let mut log = MemoryLog::default();
    // Whether this instance has read the history yet.
    let mut read = false;
    let mut model = Model {
        config: config.clone(),
        log: BTreeMap::new(),
        epoch: None,
        clients: vec![Client::default(); CLIENTS],
        sockets: BTreeMap::new(),
        said: 0,
    };
    for op in ops {
        now += 1;
        match op {
            Op::Connect { client, resume } => {
                let c = client.index(CLIENTS);
                if model.clients[c].id.is_some() {
                    continue;
                }
                let resumed = match (&model.clients[c].epoch, resume) {
                    (Some(epoch), true) => Some((model.clients[c].last, epoch.clone())),
                    _ => None,
                };
                let query = match &resumed {
                    Some((since, epoch)) => format!("?since={since}&epoch={epoch}"),
                    None => String::new(),
                };
                // 9 bytes for the id, 9 more for a new epoch (random in the shim).
                let mut entropy = [c as u8; 18];
                entropy[1..9].copy_from_slice(&now.to_be_bytes());
                entropy[10..].copy_from_slice(&now.to_le_bytes());
                let url = format!("http://h/rooms/r/websocket{query}");
                let Opening::Join(admission) = object.open(&url, now, &entropy, 0, &mut log) else {
                    return Err(TestCaseError::fail("a join was refused"));
                };
                log.apply(&admission.effects);
                model.epochs(&admission.effects);
                for effect in &admission.effects.0 {
                    if let Effect::Attach { attachment } = effect {
                        model
                            .sockets
                            .insert(admission.id.clone(), attachment.clone());
                    }
                }
                prop_assert!(log.reads <= 2, "{} reads for a join", log.reads);
                model.joined(c, &admission.effects, &log, resumed)?;
                model.clients[c].id = Some(admission.id);
            }
            Op::Say { client } => {
                let Some(id) = model.clients[client.index(CLIENTS)].id.clone() else {
                    continue;
                };
                model.said += 1;
                let text = format!(r#"{{"type":"say","text":"m{}"}}"#, model.said);
                let effects = object.message(&tags(&id), Frame::Text(&text), now, &mut log);
                // One read for the first message of an instance, none after.
                prop_assert_eq!(log.reads, u32::from(!read));
                read = true;
                log.apply(&effects);
                model.broadcast(&effects)?;
                prop_assert!(
                    frames(&effects).any(|(_, f)| f["type"] == "message"),
                    "the say was not sent: {:?}",
                    effects
                );
            }
            Op::Drop { client } => {
                let c = client.index(CLIENTS);
                let Some(id) = model.clients[c].id.take() else {
                    continue;
                };
                let attachment = model.sockets.remove(&id);
                object.close(&tags(&id), 1006, attachment);
            }
            Op::Evict { lose_storage } => {
                if lose_storage {
                    // As when `wrangler dev` restarts with its state wiped:
                    // every connection drops too.
                    log = MemoryLog::default();
                    model.log.clear();
                    model.epoch = None;
                    model.sockets.clear();
                    for client in &mut model.clients {
                        client.id = None;
                    }
                }
                object = ObjectState::start(None, now, model.sockets.len(), Ok(config.clone()));
                for (id, attachment) in &model.sockets {
                    let adopted = object.adopt(&tags(id), Some(attachment.clone()));
                    let closed = adopted.0.iter().any(|e| matches!(e, Effect::Close { .. }));
                    prop_assert!(!closed, "a member not adopted: {:?}", adopted);
                }
                // Nothing is read until an event needs the history.
                prop_assert_eq!(log.reads, 0);
                read = false;
            }
        }
        model.check()?;
        read |= log.reads > 0;
        log.reads = 0;
    }
    Ok(())
}

proptest! {
    #![proptest_config(bounded())]

    #[test]
    fn resumed_clients_see_the_rooms_log(
        limit in 1u32..6,
        on_join in 0u32..6,
        ops in vec(op(), 1..60),
    ) {
        let config = Config::from_vars(|name| match name {
            "HISTORY_LIMIT" => Some(limit.to_string()),
            "HISTORY_ON_JOIN" => Some(on_join.to_string()),
            "RATE_LIMIT_BURST" => Some("1000000".into()),
            _ => None,
        })
        .expect("valid");
        run(config, ops)?;
    }
}
