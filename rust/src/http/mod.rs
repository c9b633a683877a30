//! HTTP: what the Worker does with a request, before any Durable Object wakes.

pub mod address;
pub mod route;
pub mod url;
