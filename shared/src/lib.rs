//! # vane-core — Vane's evaluation engine
//!
//! One crate evaluates every Vane flag and serves every config, natively in the control plane
//! and CLI, as WebAssembly in the edge worker, and in browsers. It is split in two phases:
//!
//! * **compile** ([`compile()`], [`compile_json`]): once per snapshot version, turn the published
//!   [`Snapshot`] into a [`CompiledSnapshot`] where everything context-independent is resolved
//!   (indices, hash sets, parsed regexes/semvers/datetimes/CIDRs, rollout thresholds,
//!   prerequisite order). Bad definitions become flags that evaluate to `PARSE_ERROR`, with a
//!   [`Problem`] per mistake; [`validate`] is the strict form the control plane uses on writes.
//! * **evaluate** ([`CompiledSnapshot::evaluate`], [`CompiledSnapshot::evaluate_all`]): a
//!   [`Context`] and the caller's `now` in, an [`Evaluation`] out. Read-only, allocation-free on
//!   the success path, never panics.
//!
//! Invariants (checked by tests, lints and a property-based fuzz test):
//! no IO, no clock (time is a parameter), no randomness (rollouts hash the input), no panic on
//! any snapshot or context, and identical results on every platform.

pub mod bucket;
pub mod cidr;
pub mod client;
pub mod compile;
pub mod context;
pub mod datetime;
pub mod decimal;
pub mod eval;
pub mod json;
pub mod keyset;
pub mod legacy;
pub mod model;
pub mod murmur;
pub mod read;
pub mod result;
pub mod semver;
mod table;
pub mod text;
pub mod unleash;

pub use bucket::bucket_of;
pub use client::{hash_flag, hash_segment, hash_targeting};
pub use compile::{
    CompiledSnapshot, Entity, Problem, SnapshotError, Warning, compile, compile_json, compile_json_compact, validate,
};
pub use context::{AttrValue, Context, ContextError, TARGETING_KEY};
pub use eval::FlagId;
pub use keyset::{api_key_hash, content_hash, content_matches, salted_key_hash};
pub use model::*;
pub use result::{ErrorCode, Evaluation, Reason, Resolution};
