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
use crate::effect::Effects;
use crate::error::{Error, HttpError};
use crate::protocol::ServerFrame;
use crate::record::{self, Record};
use crate::room::{self, Attachment, Opening, Wakes};
use crate::route::{self, HttpResponse, RequestHead, Route};
use crate::seed::{self, Frame};

fn to_js<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsError> {
    Ts::from_rust(value).map_err(|error| JsError::new(&error.to_string()))
}

/// Routes a Worker request at `now` (ms) under the Worker's `env`: see
/// [`route::route`]. An invalid configuration answers `500 bad_config`.
#[wasm_bindgen(js_name = routeRequest)]
pub fn route_request(
    method: &str,
    url: &str,
    upgrade: Option<String>,
    origin: Option<String>,
    env: &JsValue,
    now: f64,
) -> Result<Ts<Route>, JsError> {
    let route = match read_config(env) {
        Ok(config) => route::route(
            RequestHead {
                method,
                url,
                upgrade: upgrade.as_deref(),
                origin: origin.as_deref(),
            },
            &config,
            millis(now),
        ),
        Err(error) => Route::Respond(HttpResponse::bad_config(&error)),
    };
    to_js(&route)
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

/// The error frame for a frame the server failed to handle.
#[wasm_bindgen(js_name = internalError)]
pub fn internal_error() -> String {
    ServerFrame::error(&Error::Internal).to_json()
}

/// The answer to a request the server failed to handle: `500` JSON `internal`.
#[wasm_bindgen(js_name = internalResponse)]
pub fn internal_response() -> Result<Ts<HttpResponse>, JsError> {
    to_js(&HttpResponse::error(&HttpError::Internal))
}

/// Answers a close reported by `webSocketClose`: see [`seed::on_close`].
#[wasm_bindgen(js_name = seedClose)]
pub fn seed_close(code: u16) -> Result<Ts<Effects>, JsError> {
    to_js(&seed::on_close(code))
}

/// One Durable Object's room: see [`room::Room`]. Each object holds its own
/// instance; it is rebuilt from socket attachments after every wake.
#[wasm_bindgen(js_name = Room)]
pub struct RoomHandle {
    room: room::Room,
}

#[wasm_bindgen(js_class = Room)]
impl RoomHandle {
    /// The room of an instance created at `now` (ms) with `sockets` open,
    /// the stored wake record `previous` (anything unreadable counts as
    /// none) and the object's `env`.
    #[wasm_bindgen(constructor)]
    pub fn new(previous: JsValue, now: f64, sockets: u32, env: &JsValue) -> RoomHandle {
        let previous = read(&previous, Wakes::read);
        RoomHandle {
            room: room::Room::start(previous, millis(now), sockets as usize, read_config(env)),
        }
    }

    /// The room of an object whose Wasm instance was replaced after a trap:
    /// same wake record, same start time; members come back with `restore`.
    pub fn resume(wakes: JsValue, started_at: f64, env: &JsValue) -> RoomHandle {
        let wakes = read(&wakes, Wakes::read).unwrap_or_default();
        RoomHandle {
            room: room::Room::resume(wakes, millis(started_at), read_config(env)),
        }
    }

    /// The configuration error the object runs with, for the log; `undefined` if none.
    #[wasm_bindgen(js_name = configError)]
    pub fn config_error(&self) -> Option<String> {
        self.room.config_error().map(ToString::to_string)
    }

    /// Answers a frame on the seed endpoint: see [`room::Room::on_seed_frame`].
    /// `message` is what `webSocketMessage` received: a string or an ArrayBuffer.
    pub fn seed(&self, message: JsValue, connections: u32) -> Result<Ts<Effects>, JsError> {
        to_js(
            &self
                .room
                .on_seed_frame(frame_of(&message).as_frame(), connections),
        )
    }

    /// The wake record to store.
    pub fn wakes(&self) -> Result<Ts<Wakes>, JsError> {
        to_js(self.room.wakes())
    }

    /// Takes back a socket's attachment after a wake; the member's id, or
    /// `undefined` for a socket that is not a room member (a seed socket).
    pub fn restore(&mut self, attachment: JsValue) -> Option<String> {
        let attachment = read(&attachment, Attachment::read)?;
        let id = attachment.id.clone();
        self.room.restore(attachment);
        Some(id)
    }

    /// Decides what a request to the object gets: see [`room::Room::open`].
    pub fn open(&mut self, url: &str, now: f64, entropy: &[u8]) -> Result<Ts<Opening>, JsError> {
        to_js(&self.room.open(url, millis(now), entropy))
    }

    /// A frame from member `id`: see [`room::Room::on_frame`].
    pub fn frame(&mut self, id: &str, message: JsValue, now: f64) -> Result<Ts<Effects>, JsError> {
        to_js(
            &self
                .room
                .on_frame(id, frame_of(&message).as_frame(), millis(now)),
        )
    }

    /// Member `id`'s socket closed: see [`room::Room::on_close`].
    pub fn close(&mut self, id: &str, code: u16) -> Result<Ts<Effects>, JsError> {
        to_js(&self.room.on_close(id, code))
    }

    /// Member `id`'s socket failed: see [`room::Room::leave`].
    pub fn leave(&mut self, id: &str) -> Result<Ts<Effects>, JsError> {
        to_js(&self.room.leave(id))
    }
}

/// A record the object stored (an attachment, the wake record), read back
/// through its JSON text: see [`crate::record`]. `undefined`, `null` and
/// anything unreadable are `None`.
fn read<T>(value: &JsValue, read: impl FnOnce(Record<'_>) -> Option<T>) -> Option<T> {
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let text = js_sys::JSON::stringify(value).ok()?.as_string()?;
    record::parse(text.as_bytes(), read)
}

/// A JS timestamp (ms, a double) as whole ms; NaN and negatives become 0.
fn millis(now: f64) -> u64 {
    if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    }
}

/// A frame as `webSocketMessage` hands it over: text is copied into Rust,
/// a binary frame crosses as its length only.
enum Owned {
    Text(String),
    Binary(usize),
}

impl Owned {
    fn as_frame(&self) -> Frame<'_> {
        match self {
            Owned::Text(text) => Frame::Text(text),
            Owned::Binary(len) => Frame::Binary(*len),
        }
    }
}

fn frame_of(message: &JsValue) -> Owned {
    match message.as_string() {
        Some(text) => Owned::Text(text),
        None => Owned::Binary(
            message
                .dyn_ref::<js_sys::ArrayBuffer>()
                .map_or(0, |buffer| buffer.byte_length() as usize),
        ),
    }
}

/// The allocator: talc instead of the standard library's dlmalloc, 6.7 KiB
/// smaller in this module (150 KiB against 156) and, by its own wasm
/// benchmarks, faster. It grows the Wasm memory as dlmalloc does.
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
