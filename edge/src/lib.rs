//! # vane-edge
//!
//! The edge worker answers OFREP (`POST /ofrep/v1/evaluate/flags[/{key}]`), the original config
//! service's evaluate/config/registry routes and the client snapshot, from a compiled snapshot
//! kept in isolate memory.
//!
//! This crate is split so that everything but the host binding is plain Rust, tested natively:
//! * [`ofrep`]: request parsing and OFREP response bodies and status codes;
//! * [`auth`]: API keys checked against the server snapshot's key hashes;
//! * [`lifecycle`]: whether a snapshot fetched from the control plane replaces the current one,
//!   and what the environment's staleness policy says;
//! * [`legacy`]: the original config service's evaluate, config and healthy-services routes;
//! * [`reply`]: a host-independent response (status, headers, body) with CORS;
//! * [`streams`]: how many streams an edge holds, and which it lets go to make room.
//!
//! The Workers binding (fetch/scheduled events, KV, upstream fetch) turns requests into calls of
//! these functions and [`reply::Reply`] into responses.

pub mod auth;
pub mod cache;
#[cfg(target_arch = "wasm32")]
mod glue;
pub mod legacy;
pub mod lifecycle;
#[cfg(all(feature = "native", not(target_arch = "wasm32")))]
pub mod native;
pub mod ofrep;
pub mod pipeline;
pub mod ratelimit;
pub mod reply;
pub mod router;
pub mod streams;

/// Test fixture: a snapshot document compiled (the test fails if it does not compile).
#[cfg(test)]
pub(crate) fn compiled(doc: &str) -> vane_core::CompiledSnapshot {
    match vane_core::compile_json(doc) {
        Ok((s, _)) => s,
        Err(e) => panic!("{e}"),
    }
}
