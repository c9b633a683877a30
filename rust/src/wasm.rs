//! The wasm-bindgen boundary: converts JS values to core types and back,
//! and decides nothing itself.
//!
//! Results cross as `tsify::Ts<T>`: the value is built with serde-wasm-bindgen
//! and the generated `.d.ts` names the Rust type, so TypeScript sees `Route`
//! and `Effects`, not `any`. A conversion error is returned, never thrown with
//! `throw_str` (which skips destructors and leaks).

use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use crate::config::{Config, ConfigError};
use crate::error::token_expired_reason;
use crate::error::HttpError;
use crate::http::route::{self, RequestHead};
use crate::limit::{self, TextSize};
use crate::object::{ObjectState, Probe};
use crate::outcome::call_attempts;
use crate::outcome::{Effect, Effects, HttpResponse, Opening, Route};
use crate::protocol::Frame;
use crate::records::{self, Record};
use crate::room::history::{Failure, Head, Log};
use crate::room::shards::Plan;
use crate::shard::Count;
use crate::socket::room_tag;
use crate::socket::Attachment;
use crate::text::display;
use crate::wakes::Wakes;

/// Runs when the module is instantiated (and again after every reset):
/// a panic's message goes to the log before the instance traps, since the
/// standard library's hook has no stderr to write to in Wasm.
#[wasm_bindgen(start, private)]
fn start() {
    std::panic::set_hook(Box::new(|info| log_error(&display(info))));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn log_error(message: &str);
}

/// What a close for an expired token says first, as a TypeScript type:
/// `RoomClient` (`js/client.ts`) spells its test of a close reason with a
/// literal of this type, so `tsc` fails if the two ever differ.
#[wasm_bindgen(typescript_custom_section)]
const TOKEN_EXPIRED_REASON: &str = concat!(
    "/** The words a close (code 1008) for an expired token starts with: `TOKEN_EXPIRED` in rust/src/error.rs. */\n",
    "export type TokenExpiredReason = \"",
    token_expired_reason!(),
    "\";"
);

/// Asks wasm-bindgen to replace this Wasm instance at the start of the next
/// call into the module (`wasm_bindgen::handler::schedule_reinit`). The
/// shim calls it after a call trapped (a panic aborts the instance; a stack
/// overflow leaves its shadow stack where the overflow left it), and then
/// [`settle`] at once. Using it makes the glue tag every wrapper object
/// with the instance it was made in: a call on a wrapper from an older
/// instance throws before reaching Wasm, and its finalizer frees nothing
/// (see js/index.ts).
#[wasm_bindgen(js_name = scheduleReset)]
pub fn schedule_reset() {
    wasm_bindgen::handler::schedule_reinit();
}

/// Does nothing. Calling it passes the glue's call guard, which replaces an
/// instance scheduled for reset. It takes no arguments on purpose: the glue
/// copies a call's arguments into Wasm memory *before* its guard runs, so
/// the first call after [`schedule_reset`] must have none, or they would be
/// copied into the old instance and read from the new one.
#[wasm_bindgen]
pub fn settle() {}

#[wasm_bindgen(typescript_custom_section)]
const HISTORY_STORE: &str = r#"
/**
 * A room's stored history, read by the core when an event needs it
 * (js/history.ts runs the SQL). A method that fails throws; the core then
 * refuses the event (error `internal`, or a 500 for a join).
 */
export interface HistoryStore {
  /** The stored epoch (null: no history yet), and the lowest and highest seq kept (null: none). */
  head(): [epoch: string | null, first: number | null, last: number | null];
  /** Rows the history's writes changed in this instance, as the runtime counts them. */
  readonly rowsWritten: number;
  /** The seq of the kept message stored with `key`, or null. */
  published(key: string): number | null;
  /** Shard 0's registry of the room's other shards: [shard, members, version] for each, in a row. */
  shards(): number[];
}
"#;

/// The tag of every room socket, as a TypeScript type: the shim's
/// broadcast of a delivery from another shard uses a constant of it.
#[wasm_bindgen(typescript_custom_section)]
const ROOM_TAG: &str = concat!(
    "/** The tag of every room socket: `ROOM_TAG` in rust/src/socket.rs. */\n",
    "export type RoomTag = \"",
    room_tag!(),
    "\";"
);

/// How many times a call between objects is tried, as a TypeScript type:
/// the shim's constant is typed with it.
#[wasm_bindgen(typescript_custom_section)]
const CALL_ATTEMPTS: &str = concat!(
    "/** How many times a call between objects is tried: `CALL_ATTEMPTS` in rust/src/outcome.rs. */\n",
    "export type CallAttempts = ",
    call_attempts!(),
    ";"
);

#[wasm_bindgen]
extern "C" {
    /// See the TypeScript interface above.
    #[wasm_bindgen(typescript_type = "HistoryStore")]
    pub type HistoryStore;

    #[wasm_bindgen(method, catch)]
    fn head(this: &HistoryStore) -> Result<js_sys::Array, JsValue>;

    #[wasm_bindgen(method, getter, js_name = rowsWritten)]
    fn rows_written(this: &HistoryStore) -> f64;

    #[wasm_bindgen(method, catch)]
    fn published(this: &HistoryStore, key: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn shards(this: &HistoryStore) -> Result<Vec<f64>, JsValue>;
}

/// The room's history as the store reads it. An exception in the store is
/// caught here (`catch`), never thrown through Wasm frames: that would leave
/// the state borrowed and the shadow stack where it was.
struct JsLog<'a>(&'a HistoryStore);

impl Log for JsLog<'_> {
    fn head(&mut self) -> Result<Head, Failure> {
        let row = self.0.head().map_err(|_| Failure)?;
        // `as` saturates: a stored seq is a whole number below 2^53.
        let seq = |i| row.get(i).as_f64().map(|n| n as u64);
        Ok(Head::from_row(row.get(0).as_string(), seq(1), seq(2)))
    }

    fn rows_written(&mut self) -> u64 {
        self.0.rows_written() as u64
    }

    fn published(&mut self, key: &str) -> Result<Option<u64>, Failure> {
        let seq = self.0.published(key).map_err(|_| Failure)?;
        Ok(seq.as_f64().map(|n| n as u64))
    }

    fn shards(&mut self) -> Result<Vec<(u32, Count)>, Failure> {
        let rows = self.0.shards().map_err(|_| Failure)?;
        Ok(rows
            .chunks_exact(3)
            .map(|row| {
                let count = Count {
                    members: row[1] as u64,
                    version: row[2] as u64,
                };
                (row[0] as u32, count)
            })
            .collect())
    }
}

fn to_js<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsError> {
    Ts::from_rust(value).map_err(|error| JsError::new(&display(&error)))
}

/// What a frame decided, as `message` returns it (TypeScript type below).
#[wasm_bindgen(typescript_custom_section)]
const FRAME_EFFECTS: &str = r#"
/**
 * What `message` decided: its `Effects`, or, when they are a lone reply to
 * the socket that sent the frame, that reply's text (`frame_effects` in
 * rust/src/wasm.rs).
 */
export type FrameEffects = Effects | string;
"#;

/// A frame's effects for the shim. A lone reply to the socket that sent the
/// frame (every `/websocket` echo, every error frame) crosses as its text:
/// one string out of Wasm, and no array and object for serde-wasm-bindgen to
/// build field by field and for the shim to walk, which was half of what a
/// `/websocket` frame cost beyond the TypeScript seed (bench/RESULTS.md,
/// Findings 13).
fn frame_effects(effects: &Effects) -> Result<JsValue, JsError> {
    match effects.0.as_slice() {
        [Effect::Reply { text }] => Ok(JsValue::from_str(text)),
        _ => to_js(effects).map(JsValue::from),
    }
}

/// Routes a Worker request at `now` (ms) under the Worker's `env`: see
/// [`route::route`]. `client` is the `CF-Connecting-IP` header. An invalid
/// configuration answers `500 bad_config`.
#[wasm_bindgen(js_name = routeRequest)]
pub fn route_request(
    method: &str,
    url: &str,
    upgrade: Option<String>,
    origin: Option<String>,
    client: Option<String>,
    env: &JsValue,
    now: f64,
) -> Result<Ts<Route>, JsError> {
    // The configuration is borrowed from the cache, never copied.
    let route = with_config(env, |config| match config {
        Ok(config) => route::route(
            RequestHead {
                method,
                url,
                upgrade: upgrade.as_deref(),
                origin: origin.as_deref(),
                client: client.as_deref(),
            },
            config,
            millis(now),
        ),
        Err(error) => Route::Respond(HttpResponse::bad_config(error)),
    });
    to_js(&route)
}

thread_local! {
    /// The Worker's `env` object last read, and what it held. The Worker
    /// gets the same `env` object with every request of an isolate, and
    /// reading it (one `Reflect.get` per variable, then the validation)
    /// cost a request as much as the rest of its routing (bench/RESULTS.md,
    /// Findings 11): it is read again only when another object comes. A
    /// Wasm instance replaced after a trap starts with an empty cache (its
    /// memory is new). An object reads its `env` once, when it is created.
    static CONFIG: std::cell::RefCell<Option<(JsValue, Result<Config, ConfigError>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `then` of the configuration in `env` (see [`read_config`]), read once per
/// `env` object (compared with `===`): an object's variables do not change
/// while an isolate runs.
fn with_config<T>(env: &JsValue, then: impl FnOnce(&Result<Config, ConfigError>) -> T) -> T {
    CONFIG.with(|cache| {
        let mut cache = cache.borrow_mut();
        match &mut *cache {
            Some((seen, config)) if seen == env => then(config),
            slot => then(&slot.insert((env.clone(), read_config(env))).1),
        }
    })
}

/// The configuration in `env` (see [`Config::from_vars`]). A variable may
/// be a string or, in wrangler `vars`, a number; anything else is invalid.
fn read_config(env: &JsValue) -> Result<Config, ConfigError> {
    Config::from_vars(|name| {
        let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
        if value.is_undefined() || value.is_null() {
            return None;
        }
        // A number is formatted by JavaScript: Rust's float formatting
        // would add kilobytes to the module for this one line.
        let text = match value.dyn_ref::<js_sys::Number>() {
            Some(number) => number.to_string_with_radix(10).ok().map(String::from),
            None => value.as_string(),
        };
        Some(
            text.unwrap_or_else(|| {
                format!("<{}>", value.js_typeof().as_string().unwrap_or_default())
            }),
        )
    })
}

/// The answer to a frame the server failed to handle, on a socket with
/// `tags`: see [`ObjectState::failed`].
#[wasm_bindgen(js_name = failedFrame)]
pub fn failed_frame(tags: Vec<String>) -> Result<Ts<Effects>, JsError> {
    to_js(&ObjectState::failed(&tags))
}

/// The answer to a whisper relayed to another shard that does not hold
/// its recipient `to`: error `unknown_recipient`.
#[wasm_bindgen]
pub fn unreached(to: &str) -> Result<Ts<Effects>, JsError> {
    to_js(&crate::room::Room::unreached(to))
}

/// The answer to a request the server failed to handle: `500` JSON `internal`.
#[wasm_bindgen(js_name = internalResponse)]
pub fn internal_response() -> Result<Ts<HttpResponse>, JsError> {
    to_js(&HttpResponse::error(&HttpError::Internal))
}

/// The answer to a request the Rate Limiting binding refused for its
/// route's `limitKey`: `429` JSON `too_many_requests`.
#[wasm_bindgen(js_name = tooManyRequests)]
pub fn too_many_requests() -> Result<Ts<HttpResponse>, JsError> {
    to_js(&HttpResponse::error(&HttpError::TooManyRequests))
}

/// One Durable Object's state: see [`ObjectState`]. Each object holds its
/// own; it is rebuilt from the sockets' tags and attachments after every
/// wake. `tags` are a socket's tags as `ctx.getTags(ws)` returns them.
#[wasm_bindgen(js_name = ObjectState)]
pub struct ObjectHandle {
    state: ObjectState,
}

#[wasm_bindgen(js_class = ObjectState)]
impl ObjectHandle {
    /// The state of an instance created at `now` (ms) with `sockets` open,
    /// the stored wake record `previous` (anything unreadable counts as
    /// none) and the object's `env`.
    /// `name` is the object's (`ctx.id.name`), which tells its place in a
    /// room that spans objects; `history` its store, where shard 0 of such
    /// a room reads its registry.
    #[wasm_bindgen(constructor)]
    pub fn new(
        previous: JsValue,
        now: f64,
        sockets: u32,
        env: &JsValue,
        name: Option<String>,
        history: &HistoryStore,
    ) -> ObjectHandle {
        let previous = read(&previous, Wakes::read);
        let mut state =
            ObjectState::start(previous, millis(now), sockets as usize, read_config(env));
        state.place(name.as_deref(), millis(now), &mut JsLog(history));
        ObjectHandle { state }
    }

    /// The state of the same object (the constructor's arguments) whose
    /// Wasm instance was replaced after a trap; `stored` is the wake record
    /// it stored already (`undefined` if none). Sockets come back with
    /// `adopt`.
    pub fn resume(
        previous: JsValue,
        now: f64,
        sockets: u32,
        env: &JsValue,
        stored: JsValue,
        name: Option<String>,
        history: &HistoryStore,
    ) -> ObjectHandle {
        let previous = read(&previous, Wakes::read);
        let stored = read(&stored, Wakes::read);
        let mut state = ObjectState::resume(
            previous,
            millis(now),
            sockets as usize,
            read_config(env),
            stored,
        );
        state.place(name.as_deref(), millis(now), &mut JsLog(history));
        ObjectHandle { state }
    }

    /// The configuration error the object runs with, for the log; `undefined` if none.
    #[wasm_bindgen(js_name = configError)]
    pub fn config_error(&self) -> Option<String> {
        self.state.config_error().map(|error| display(error))
    }

    /// Decides what a request to the object gets: see [`ObjectState::open`].
    /// Of its `headers`, a shard ≥ 1 reads the room's count that shard 0
    /// hands an upgrade over with ([`crate::shard::ROOM_COUNT_HEADER`]).
    pub fn open(
        &mut self,
        url: &str,
        now: f64,
        entropy: &[u8],
        history: &HistoryStore,
        headers: &Headers,
    ) -> Result<Ts<Opening>, JsError> {
        let log = &mut JsLog(history);
        let count = headers.get(crate::shard::ROOM_COUNT_HEADER);
        if let (Some(count), Some(room)) = (count, self.state.room_mut()) {
            room.told(crate::text::whole(count.trim()).unwrap_or(0));
        }
        to_js(
            &self
                .state
                .open(url, millis(now), entropy, memory_bytes(), log),
        )
    }

    /// Takes back a socket found open after a wake: see [`ObjectState::adopt`].
    pub fn adopt(
        &mut self,
        tags: Vec<String>,
        attachment: JsValue,
    ) -> Result<Ts<Effects>, JsError> {
        let attachment = read(&attachment, Attachment::read);
        to_js(&self.state.adopt(&tags, attachment))
    }

    /// A frame on a socket: see [`ObjectState::message`]. `message` is what
    /// `webSocketMessage` received: a string or an ArrayBuffer; `history`
    /// reads the room's stored history. A lone reply comes back as its text
    /// (see [`frame_effects`]).
    #[wasm_bindgen(unchecked_return_type = "FrameEffects")]
    pub fn message(
        &mut self,
        tags: Vec<String>,
        message: JsValue,
        now: f64,
        history: &HistoryStore,
    ) -> Result<JsValue, JsError> {
        let frame = frame_of(&message, self.state.max_message_bytes());
        let log = &mut JsLog(history);
        frame_effects(
            &self
                .state
                .message(&tags, frame.as_frame(), millis(now), log),
        )
    }

    /// A socket closed: see [`ObjectState::close`]. `tags` is `undefined`
    /// for a socket the runtime released (see [`ObjectState::released`]).
    pub fn close(
        &mut self,
        tags: Option<Vec<String>>,
        code: u16,
        attachment: JsValue,
    ) -> Result<Ts<Effects>, JsError> {
        let attachment = read(&attachment, Attachment::read);
        to_js(&match tags {
            Some(tags) => self.state.close(&tags, code, attachment),
            None => ObjectState::released(),
        })
    }

    /// The idle sweep: see [`ObjectState::sweep`]. `tags` holds every
    /// socket's tags in turn, each socket's ended by an empty string (no tag
    /// the object gives is empty); socket `i` was last answered `pong` by
    /// the runtime at `pinged[i]` (ms; NaN if never). `pending` is the alarm
    /// the runtime holds (`getAlarm()`), `undefined` when none.
    pub fn sweep(
        &mut self,
        tags: Vec<String>,
        pinged: Vec<f64>,
        now: f64,
        pending: Option<f64>,
    ) -> Result<Ts<Effects>, JsError> {
        let probes = tags
            .split(String::is_empty)
            .zip(pinged.iter().map(|&at| moment(at)))
            .map(|(tags, pinged_at)| Probe { tags, pinged_at });
        to_js(
            &self
                .state
                .sweep(probes, millis(now), pending.and_then(moment)),
        )
    }

    /// Shard 0: a message from another shard: see [`crate::room::Room::published`].
    /// Throws if the history cannot be read, so that the shard tries again.
    #[allow(clippy::too_many_arguments)]
    pub fn published(
        &mut self,
        key: String,
        id: String,
        name: String,
        text: String,
        ts: f64,
        now: f64,
        history: &HistoryStore,
    ) -> Result<Ts<Effects>, JsError> {
        let room = self.state.room_mut().ok_or_else(refused)?;
        let log = &mut JsLog(history);
        let effects = room
            .published(key, id, name, text, millis(ts), millis(now), log)
            .map_err(|_| failed())?;
        to_js(&effects)
    }

    /// Shard 0: the shard whose object is `object` answered a delivery
    /// with `answer` (what its `take` returned, `undefined` if every
    /// attempt failed): see [`crate::room::Room::delivered`].
    pub fn delivered(
        &mut self,
        object: &str,
        answer: Option<Vec<f64>>,
        history: &HistoryStore,
    ) -> Result<Ts<Effects>, JsError> {
        let room = self.state.room_mut().ok_or_else(refused)?;
        let answer = answer.unwrap_or_default();
        let at = |i: usize| answer.get(i).copied().filter(|n| *n >= 0.0).map(millis);
        let count = at(1)
            .zip(at(2))
            .map(|(members, version)| Count { members, version });
        let effects = room
            .delivered(object, at(0), count, &mut JsLog(history))
            .map_err(|_| failed())?;
        to_js(&effects)
    }

    /// A shard ≥ 1: what to do with the messages `seqs` shard 0 delivered
    /// under `epoch` to a shard holding every message up to `after` (see
    /// [`crate::room::Room::take`]), in a row: the seq it holds if it takes
    /// none (else -1); its member count and that count's version (shard 0
    /// keeps them); 1 to forget every stored message and start again under
    /// `epoch` first (else 0); then for each message to store and
    /// send, its index in the delivery, its seq, and the seq up to which
    /// to forget (-1: none). The frames never pass through Wasm. Throws if
    /// the history cannot be read, so that shard 0 tries again.
    pub fn take(
        &mut self,
        epoch: &str,
        after: f64,
        seqs: &[f64],
        history: &HistoryStore,
    ) -> Result<Vec<f64>, JsError> {
        let room = self.state.room_mut().ok_or_else(refused)?;
        let seqs: Vec<u64> = seqs.iter().map(|&seq| millis(seq)).collect();
        let taken = room
            .take(epoch, millis(after), &seqs, &mut JsLog(history))
            .map_err(|_| failed())?;
        let number = |n: Option<u64>| n.map_or(-1.0, |n| n as f64);
        let count = taken.count.unwrap_or_default();
        let mut row = vec![
            number(taken.need),
            count.members as f64,
            count.version as f64,
            f64::from(u8::from(taken.restart)),
        ];
        for (index, seq, forget) in taken.keep {
            row.extend([index as f64, seq as f64, number(forget)]);
        }
        Ok(row)
    }

    /// Shard 0: the upgrade handed to `shard` was answered with `status`
    /// and `headers` (0 and `undefined` if the call failed); an accepted
    /// one carries the shard's count ([`crate::shard::COUNT_HEADER`]).
    pub fn forwarded(
        &mut self,
        shard: u32,
        status: u16,
        headers: Option<Headers>,
    ) -> Result<Ts<Effects>, JsError> {
        let count = headers
            .filter(|_| status == 101)
            .and_then(|headers| headers.get(crate::shard::COUNT_HEADER))
            .as_deref()
            .and_then(Count::parse);
        let effects = match self.state.room_mut() {
            Some(room) => room.forwarded(shard, count),
            None => Effects::default(),
        };
        to_js(&effects)
    }

    /// Shard 0: shard `shard` reported its count.
    pub fn reported(
        &mut self,
        shard: u32,
        members: f64,
        version: f64,
    ) -> Result<Ts<Effects>, JsError> {
        let count = Count {
            members: millis(members),
            version: millis(version),
        };
        let effects = match self.state.room_mut() {
            Some(room) => room.reported(shard, count),
            None => Effects::default(),
        };
        to_js(&effects)
    }

    /// Whether this object holds member `to`, to whom a whisper from
    /// another shard is relayed (see [`crate::room::Room::whispered`]).
    pub fn whispered(&self, to: &str) -> bool {
        self.state.room().whispered(to)
    }

    /// Shard 0: how to answer a `who` after `after` in a room that spans
    /// objects: see [`crate::room::Room::plan_roster`].
    #[wasm_bindgen(js_name = planRoster)]
    pub fn plan_roster(&self, after: Option<String>) -> Result<Ts<Plan>, JsError> {
        to_js(&self.state.room().plan_roster(after.as_deref()))
    }

    /// This object's roster frame after `after`, for shard 0's `who`: see
    /// [`crate::room::Room::page`].
    pub fn page(&self, after: Option<String>, count: u32, then: Option<String>) -> String {
        self.state.room().page(after.as_deref(), count, then)
    }

    /// What a shard ≥ 1 answers shard 0's survey: its members and wakes.
    pub fn counts(&self) -> Vec<f64> {
        let (members, wakes) = self.state.counts();
        vec![members as f64, wakes as f64]
    }

    /// Shard 0's stats answer for the request `url` once it surveyed its
    /// shards: `answers` holds each one's `counts()` in a row (NaN for one
    /// that did not answer); `history` counts the rows written.
    pub fn surveyed(
        &self,
        url: &str,
        answers: &[f64],
        history: &HistoryStore,
    ) -> Result<Ts<HttpResponse>, JsError> {
        let answers: Vec<Option<(u64, u64)>> = answers
            .chunks_exact(2)
            .map(|pair| {
                (pair[0].is_finite() && pair[1].is_finite())
                    .then(|| (millis(pair[0]), millis(pair[1])))
            })
            .collect();
        let (path, _) = crate::http::url::split_url(url);
        let room = path.strip_prefix("/rooms/").unwrap_or(path);
        let rows = JsLog(history).rows_written();
        let stats = self.state.surveyed(room, &answers, memory_bytes(), rows);
        to_js(&HttpResponse::json(stats.to_json()))
    }

    /// A socket failed: see [`ObjectState::error`]. `tags` as for `close`.
    pub fn error(
        &mut self,
        tags: Option<Vec<String>>,
        attachment: JsValue,
    ) -> Result<Ts<Effects>, JsError> {
        let attachment = read(&attachment, Attachment::read);
        to_js(&match tags {
            Some(tags) => self.state.error(&tags, attachment),
            None => ObjectState::released(),
        })
    }
}

/// A call between shards to an object whose configuration is invalid.
fn refused() -> JsError {
    JsError::new("this object's configuration is invalid")
}

/// A call between shards whose history read failed (logged by the store).
fn failed() -> JsError {
    JsError::new("the room's history could not be read")
}

/// A record the object stored (an attachment, the wake record), read back
/// through its JSON text: see [`crate::records`]. `undefined`, `null` and
/// anything unreadable are `None`.
fn read<T>(value: &JsValue, read: impl FnOnce(Record<'_>) -> Option<T>) -> Option<T> {
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let text = js_sys::JSON::stringify(value).ok()?.as_string()?;
    records::parse(text.as_bytes(), read)
}

/// A JS timestamp (ms, a double) as whole ms; NaN and negatives become 0.
fn millis(now: f64) -> u64 {
    if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    }
}

/// A JS timestamp that stands for a moment: finite and after the epoch.
fn moment(at: f64) -> Option<u64> {
    (at.is_finite() && at > 0.0).then_some(at as u64)
}

/// A frame as `webSocketMessage` hands it over: text is copied into Rust
/// only if the core will read it, a binary frame crosses as its length only.
enum Owned {
    Text(String),
    LongText(usize),
    Binary(usize),
}

impl Owned {
    fn as_frame(&self) -> Frame<'_> {
        match self {
            Owned::Text(text) => Frame::Text(text),
            Owned::LongText(units) => Frame::LongText(*units),
            Owned::Binary(len) => Frame::Binary(*len),
        }
    }
}

/// Reads `message`. A string's length (UTF-16 units) is read without
/// copying it, and the core's size rule ([`limit::text_by_length`]) says
/// what to do: copy it (it fits whatever it holds), leave it unread (over
/// the limit whatever it holds), or measure it. Measuring encodes it into a
/// buffer of `MAX_MESSAGE_BYTES` (`TextEncoder.encodeInto`), so a frame
/// over the limit is never copied whole into Wasm memory, and one under it
/// is measured exactly, in bytes.
fn frame_of(message: &JsValue, max_message_bytes: u32) -> Owned {
    let Some(text) = message.dyn_ref::<js_sys::JsString>() else {
        return Owned::Binary(
            message
                .dyn_ref::<js_sys::ArrayBuffer>()
                .map_or(0, |buffer| buffer.byte_length() as usize),
        );
    };
    let units = text.length() as usize;
    match limit::text_by_length(units, max_message_bytes) {
        TextSize::Fits => Owned::Text(String::from(text)),
        TextSize::Over => Owned::LongText(units),
        TextSize::Measure => {
            let mut buffer = vec![0; max_message_bytes as usize];
            let encoded = TextEncoder::new().encode_into(text, &mut buffer);
            let (read, written) = (encoded.read() as usize, encoded.written() as usize);
            if read < units {
                // What was written, and at least a byte for each unit left.
                return Owned::LongText(written + (units - read));
            }
            buffer.truncate(written);
            // TextEncoder writes UTF-8 (a lone surrogate as U+FFFD).
            Owned::Text(String::from_utf8(buffer).unwrap_or_default())
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// A request's or a response's headers, read by name.
    pub type Headers;
    #[wasm_bindgen(method)]
    fn get(this: &Headers, name: &str) -> Option<String>;
}

#[wasm_bindgen]
extern "C" {
    /// The runtime's `TextEncoder`, to encode a string into a buffer of a
    /// size the core chose.
    type TextEncoder;
    #[wasm_bindgen(constructor)]
    fn new() -> TextEncoder;
    /// `encodeInto`'s answer.
    type Encoded;
    #[wasm_bindgen(method, js_name = encodeInto)]
    fn encode_into(this: &TextEncoder, text: &js_sys::JsString, into: &mut [u8]) -> Encoded;
    #[wasm_bindgen(method, getter)]
    fn read(this: &Encoded) -> f64;
    #[wasm_bindgen(method, getter)]
    fn written(this: &Encoded) -> f64;
}

/// The size of this Wasm instance's linear memory, in bytes (read in Wasm,
/// no call into JavaScript). It only grows: the high-water mark of every
/// object in the isolate.
fn memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65_536
}

/// The allocator: talc instead of the standard library's dlmalloc, 6.7 KiB
/// smaller in this module (150 KiB against 156) and, by its own wasm
/// benchmarks, faster. It grows the Wasm memory as dlmalloc does.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
