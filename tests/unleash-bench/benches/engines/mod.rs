//! What both benchmarks run: each engine from an Unleash document to something that evaluates
//! it, on the process allocator they share.

use unleash_yggdrasil::{EngineState, UpdateMessage};
use vane_core::{CompiledSnapshot, unleash};

// Both engines share the process and its allocator: mimalloc, as in the `vane` binary and the
// engine benchmarks (with glibc's malloc, allocation is ~45 % of an import's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An Unleash document to something that evaluates it, as Yggdrasil's `take_state` does: read,
/// import and compile in one pass.
pub fn vane(text: &str) -> CompiledSnapshot {
    let (compiled, _notes, warnings) = unleash::compile_str(text, "bench", "production", 1).expect("imports");
    assert!(warnings.is_empty(), "{warnings:?}");
    compiled
}

/// Unleash's own engine: the document read, then its state taken.
pub fn yggdrasil(text: &str) -> EngineState {
    let engine = EngineState::default();
    let message: UpdateMessage = serde_json::from_str(text).expect("Unleash reads it");
    engine.take_state(message);
    engine
}
