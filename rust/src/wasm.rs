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
use crate::route::{self, RequestHead, Route};
use crate::seed::{self, Frame};

fn to_js<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsError> {
    Ts::from_rust(value).map_err(|error| JsError::new(&error.to_string()))
}

/// Routes a Worker request: see [`route::route`].
#[wasm_bindgen(js_name = routeRequest)]
pub fn route_request(url: &str, upgrade: Option<String>) -> Result<Ts<Route>, JsError> {
    to_js(&route::route(RequestHead {
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
        None => {
            let len = message
                .dyn_ref::<js_sys::ArrayBuffer>()
                .map_or(0, |buffer| buffer.byte_length() as usize);
            seed::on_message(Frame::Binary(len), connections)
        }
    };
    to_js(&effects)
}

/// Answers a close reported by `webSocketClose`: see [`seed::on_close`].
#[wasm_bindgen(js_name = seedClose)]
pub fn seed_close(code: u16) -> Result<Ts<Effects>, JsError> {
    to_js(&seed::on_close(code))
}
