//! Unleash compatibility: import an Unleash client-API state into a Vane [`Snapshot`], turn an
//! Unleash context into a Vane [`Context`], and read Unleash's two answers (`isEnabled`,
//! `getVariant`) off a Vane [`Evaluation`].
//!
//! The import maps every Unleash construct onto the engine's own model (no Unleash code runs at
//! evaluation time):
//!
//! * a feature becomes a flag with `off_variant: "off"`; a boolean flag when no variant list
//!   exists, else a `json` flag with variants `off`, `on` and one per Unleash variant (keyed by
//!   its name, valued by its payload); [`answer`] reads the `getVariant` answer
//!   (`{name, payload?, enabled, feature_enabled}`) off an evaluation;
//! * each strategy becomes a rule `s{i}` (first match wins, as Unleash's OR of strategies);
//!   percentage strategies become rule gates hashed the way Unleash hashes (murmur3, see
//!   [`crate::murmur`]); strategy and feature variants become `hash: unleash` rollouts;
//!   feature-variant overrides become rules ahead of their strategy's rule;
//! * constraints become conditions with `negate_missing` (Unleash's missing-attribute rule),
//!   `default_now` for dates on `currentTime` and `strict_semver`; constraints that can be
//!   decided without a context (empty lists, invalid values, unknown operators) are folded away
//!   so the result never has a compile problem;
//! * segments become Vane segments `unleash-segment-{id}`; dependencies become prerequisites.
//!
//! Whatever Vane cannot represent exactly is listed in the import's [`ImportNote`]s, per item.
//! Unleash's randomness (`random` stickiness, `gradualRolloutRandom`, the end of the default
//! stickiness chains) reads the context attribute [`crate::model::RANDOM_ATTRIBUTE`] (`$random`),
//! which the caller may fill with a random value; without it the engine hashes `""`, so the
//! answer is deterministic.
//!
//! Everything here is pure (no IO, no clock), like the rest of the crate.
//!
//! [`Snapshot`]: crate::model::Snapshot
//! [`Context`]: crate::Context
//! [`Evaluation`]: crate::Evaluation

pub mod answer;
pub mod context;
pub mod import;

pub use answer::{Answer, is_enabled, unleash_name, variant};
pub use context::context;
pub use import::{ImportNote, NoteKind, compile_str, import, import_str};
