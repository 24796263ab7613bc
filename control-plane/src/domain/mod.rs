//! The rules of each resource: validation against the would-be snapshot, versions, history,
//! audit, authorisation and publishing, in one transaction per write. Callable without HTTP —
//! by `crate::http`, the CLI, the group-commit batcher and the importers alike. Nothing here
//! knows HTTP (`crate::http` turns errors into statuses); SQL is `crate::store`'s, snapshots
//! are `crate::publish`'s.
//!
//! Every operation takes the [`vane::Vane`] it runs on and the [`authz::Caller`] it runs for,
//! and is authorised in [`authz`] before it reads or changes anything.

pub mod applications;
pub mod audit;
pub mod audit_log;
pub mod authz;
pub mod batch;
pub mod collection;
pub mod configs;
pub mod environments;
pub mod flags;
pub mod imports;
pub mod keys;
pub mod legacy;
pub mod memo;
pub mod names;
pub mod paging;
pub mod registry;
pub mod segments;
pub mod sessions;
pub mod snapshots;
pub mod top_level;
pub mod vane;
pub mod versions;
