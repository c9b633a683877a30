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

pub mod close;
pub mod effect;
pub mod error;
pub mod protocol;
pub mod room;
pub mod route;
pub mod seed;

#[cfg(target_arch = "wasm32")]
mod wasm;
