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

use crate::effect::Effects;
use crate::error::{Error, HttpError};
use crate::protocol::ServerFrame;
use crate::room::{self, Attachment, Opening, Wakes};
use crate::route::{self, HttpResponse, RequestHead, Route};
use crate::seed::{self, Frame};

fn to_js<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsError> {
    Ts::from_rust(value).map_err(|error| JsError::new(&error.to_string()))
}

/// Routes a Worker request: see [`route::route`].
#[wasm_bindgen(js_name = routeRequest)]
pub fn route_request(
    method: &str,
    url: &str,
    upgrade: Option<String>,
) -> Result<Ts<Route>, JsError> {
    to_js(&route::route(RequestHead {
        method,
        url,
        upgrade: upgrade.as_deref(),
    }))
}

/// Answers a frame on the seed endpoint: see [`seed::on_message`].
/// `message` is what `webSocketMessage` received: a string or an ArrayBuffer.
#[wasm_bindgen(js_name = seedMessage)]
pub fn seed_message(message: JsValue, connections: u32) -> Result<Ts<Effects>, JsError> {
    let effects = match message.as_string() {
        Some(text) => seed::on_message(Frame::Text(&text), connections),
        None => seed::on_message(Frame::Binary(byte_length(&message)), connections),
    };
    to_js(&effects)
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
    /// The room of an instance created at `now` (ms) with `sockets` open and
    /// the stored wake record `previous` (anything unreadable counts as none).
    #[wasm_bindgen(constructor)]
    pub fn new(previous: JsValue, now: f64, sockets: u32) -> RoomHandle {
        let previous = serde_wasm_bindgen::from_value::<Option<Wakes>>(previous)
            .ok()
            .flatten();
        RoomHandle {
            room: room::Room::start(previous, millis(now), sockets as usize),
        }
    }

    /// The room of an object whose Wasm instance was replaced after a trap:
    /// same wake record, same start time; members come back with `restore`.
    pub fn resume(wakes: JsValue, started_at: f64) -> RoomHandle {
        let wakes = serde_wasm_bindgen::from_value::<Wakes>(wakes).unwrap_or_default();
        RoomHandle {
            room: room::Room::resume(wakes, millis(started_at)),
        }
    }

    /// The wake record to store.
    pub fn wakes(&self) -> Result<Ts<Wakes>, JsError> {
        to_js(self.room.wakes())
    }

    /// Takes back a socket's attachment after a wake; the member's id, or
    /// `undefined` for a socket that is not a room member (a seed socket).
    pub fn restore(&mut self, attachment: JsValue) -> Option<String> {
        if attachment.is_null() || attachment.is_undefined() {
            return None;
        }
        let attachment = serde_wasm_bindgen::from_value::<Attachment>(attachment).ok()?;
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
        let effects = match message.as_string() {
            Some(text) => self.room.on_frame(id, Frame::Text(&text), millis(now)),
            None => self
                .room
                .on_frame(id, Frame::Binary(byte_length(&message)), millis(now)),
        };
        to_js(&effects)
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

/// A JS timestamp (ms, a double) as whole ms; NaN and negatives become 0.
fn millis(now: f64) -> u64 {
    if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    }
}

fn byte_length(message: &JsValue) -> usize {
    message
        .dyn_ref::<js_sys::ArrayBuffer>()
        .map_or(0, |buffer| buffer.byte_length() as usize)
}
