//! The Rust core of a WebSocket server on Cloudflare Durable Objects with the
//! WebSocket Hibernation API.
//!
//! Rust decides, TypeScript does I/O: every function here takes plain values
//! (a URL, a frame, a close code) and returns a decision ([`route::Route`],
//! [`effect::Effects`]) that the shim in `js/index.ts` carries out. Nothing
//! here touches the runtime, so `cargo test` on the host covers every rule.
//! The only module that knows about JavaScript is `wasm`, the wasm-bindgen
//! boundary.
//!
//! | module | decides |
//! |---|---|
//! | [`route`] | what a Worker request gets: forward to a Durable Object, or an answer |
//! | [`seed`] | the seed endpoint `/websocket`: replies and close handshakes |
//! | [`effect`] | the effects TypeScript carries out |
//! | [`close`] | which close codes may be sent |
//! | [`config`] | the limits and secrets, read from `env` and validated |
//! | [`origin`] | which `Origin` may open a socket |
//! | [`token`] | signed tokens: mint and verify |
//! | [`limit`] | the per-socket rate limit bucket and the frame size limit |
//! | [`room`] | a room: join, frames, leave, restore after a wake |
//! | [`protocol`] | the JSON frames and their validation |
//! | [`record`] | reading back the records the server stored (attachments, wakes, token claims) |

pub mod close;
pub mod config;
pub mod effect;
pub mod error;
pub mod limit;
pub mod origin;
pub mod protocol;
pub mod record;
pub mod room;
pub mod route;
pub mod seed;
pub mod token;

#[cfg(target_arch = "wasm32")]
mod wasm;
