//! # vane-edge
//!
//! The edge answers OFREP (`POST /ofrep/v1/evaluate/flags[/{key}]`), the original config
//! service's evaluate/config/registry routes and the client snapshot, from compiled snapshots kept
//! in memory. It has two hosts built from the same modules, so they cannot drift:
//! * the Cloudflare Worker (`glue`, wasm32 only): fetch/scheduled events, KV, `waitUntil`;
//! * the self-hosted edge (`native`, feature `native`; `vane edge`): hyper on tokio, copies on
//!   disk, push to browsers.
//!
//! Everything but the two bindings is plain Rust, tested natively:
//! * [`pipeline`]: one request from route to reply;
//! * [`cache`]: the streams held and how they are kept current (the host supplies the IO);
//! * [`ofrep`]: request parsing and OFREP response bodies and status codes;
//! * [`auth`]: API keys checked against the server snapshot's key hashes;
//! * [`lifecycle`]: whether a snapshot fetched from the control plane replaces the current one,
//!   and what the environment's staleness policy says;
//! * [`legacy`]: the original config service's evaluate, config and healthy-services routes;
//! * [`reply`]: a host-independent response (status, headers, body) with CORS;
//! * [`router`]: routes, the stream a request reads, errors in each path's shape;
//! * [`streams`]: how many streams an edge holds, and which it lets go to make room.

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
