//! HTTP, and nothing below cares that it exists: extractors, authentication at the door, error
//! statuses, the server, and one module per resource with its `router()` and handlers of a few
//! lines each — parse, call `crate::domain`, reply. Every route is merged in [`crate::app`].

pub mod applications;
pub mod audit;
pub mod auth;
pub mod collection;
pub mod configs;
pub mod console;
pub mod doc;
pub mod environments;
pub mod error;
pub mod extract;
pub mod flags;
pub mod imports;
pub mod keys;
pub mod legacy;
pub mod meta;
pub mod openapi;
pub mod registry;
pub mod routes;
pub mod segments;
pub mod server;
pub mod sessions;
pub mod snapshots;
pub mod state;

/// Largest accepted request body: room for a segment of 100k+ keys in one write.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
