//! The Rust core of a WebSocket server on Cloudflare Durable Objects with the
//! WebSocket Hibernation API.
//!
//! Rust decides, TypeScript does I/O: every function here takes plain values
//! (a URL, a frame, a socket's tags, a close code) and returns a decision
//! ([`outcome::Route`], [`outcome::Opening`], [`outcome::Effects`]) that the
//! shim in `js/index.ts` carries out. Nothing here touches the runtime, so
//! `cargo test` on the host covers every rule. The only module that knows
//! about JavaScript is `wasm`, the wasm-bindgen boundary.
//!
//! Modules, each depending only on those below it:
//!
//! | module | decides |
//! |---|---|
//! | `wasm` | nothing: converts JS values to core types and back |
//! | [`object`] | one Durable Object: what a request gets, which code serves a socket (from its tags), wakes, stats, the idle sweep its alarm runs |
//! | [`http`] | what the Worker does with a request (`route`), reading URLs (`url`) |
//! | [`echo`] | `/websocket`, the Cloudflare example the project started from |
//! | [`room`] | a room: joining, a member's frames, leaving; `members`, `presence`, `history`, `shards` |
//! | [`outcome`] | what TypeScript carries out: `Route`, `Opening`, `Effects` |
//! | [`shard`] | rooms larger than one object: an object's place, ids that carry their shard, shard 0's registry and admission |
//! | [`socket`] | what a socket carries: its tags and its attachment |
//! | [`protocol`] | the wire: a frame as it arrives, the JSON frames and their validation |
//! | [`wakes`] | the wake record: when an instance is counted, what is stored |
//! | [`token`] | signed tokens: mint and verify |
//! | [`config`] | the limits and secrets, read from `env` and validated |
//! | [`origin`] | which `Origin` may open a socket |
//! | [`invisible`] | which characters a display name may not hold |
//! | [`error`] | every refusal: error frames, close reasons, HTTP errors, token errors |
//! | [`limit`] | the per-socket rate limit bucket and the frame size limit |
//! | [`liveness`] | the idle timeout: when a socket that sent no Close counts as gone, when the alarm runs next |
//! | [`close`] | which close codes may be sent; the close handshake's answer |
//! | [`records`] | reading JSON objects: the records the server stored, client frames |
//! | [`text`] | text helpers kept small in the Wasm module |
//! | [`sha256`] | HMAC-SHA256, kept small in the Wasm module |

pub mod close;
pub mod config;
pub mod echo;
pub mod error;
pub mod http;
pub mod invisible;
pub mod limit;
pub mod liveness;
pub mod object;
pub mod origin;
pub mod outcome;
pub mod protocol;
pub mod records;
pub mod room;
pub mod sha256;
pub mod shard;
pub mod socket;
pub mod text;
pub mod token;
pub mod wakes;

#[cfg(target_arch = "wasm32")]
mod wasm;
