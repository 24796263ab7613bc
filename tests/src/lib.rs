//! # vane-e2e
//!
//! What end-to-end tests and `cargo xtask` need to drive real processes: a throwaway
//! PostgreSQL cluster ([`pg`]) and a minimal HTTP/1.1 client ([`http`]). Standard library only,
//! so it costs nothing to build; the tests that use it live next to the binaries they start
//! (e.g. `control-plane/tests/processes.rs`, which needs Cargo's `CARGO_BIN_EXE_vane`).

pub mod http;
pub mod pg;
pub mod stack;
pub mod unleash;

/// Errors are strings that say what failed and how to fix it.
pub type Result<T = (), E = String> = std::result::Result<T, E>;

/// Runs a command, echoing a title; fails with its exit status.
pub fn step(title: &str, cmd: &mut std::process::Command) -> Result {
    eprintln!("\n==> {title}");
    let status = cmd.status().map_err(|e| format!("{title}: cannot start: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{title}: failed ({status})")) }
}
