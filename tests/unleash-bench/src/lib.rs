//! The Unleash definitions and contexts both engines are benchmarked on (`benches/unleash.rs`):
//! `vane_e2e::unleash`, shared with the control plane's import benchmark.

pub use vane_e2e::unleash::*;
