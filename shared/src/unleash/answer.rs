//! Unleash's two answers read off a Vane evaluation of an imported flag.
//!
//! The importer gives every flag the off variant `off` and, for `json` flags, variant values that
//! are already Unleash's `getVariant` object. So:
//!
//! | evaluation | `is_enabled` | `variant` |
//! |---|---|---|
//! | flag not found, any error, or variant `off` | false | `{name: "disabled", enabled: false, feature_enabled: false}` |
//! | boolean flag, variant `on` | true | `{name: "disabled", enabled: false, feature_enabled: true}` |
//! | `json` flag, any other variant | true | the variant's value verbatim |

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::result::Evaluation;

/// The variant key a disabled (or unmatched) imported flag serves.
pub const OFF: &str = "off";
/// The variant key an enabled imported flag without an Unleash variant serves.
pub const ON: &str = "on";
/// The name Unleash gives the "no variant" answer.
pub const DISABLED_NAME: &str = "disabled";

/// Unleash's `isEnabled`.
pub fn is_enabled(e: &Evaluation<'_>) -> bool {
    !e.is_error() && e.variant().is_some_and(|v| v != OFF)
}

/// Unleash's `getVariant`: `{name, payload?, enabled, feature_enabled}`. Borrowed: the answer
/// of a `json` flag is the served variant's value itself, and the two "no variant" answers are
/// built once — so reading it costs no allocation.
pub fn variant<'s>(e: &Evaluation<'s>) -> &'s Value {
    static OFF_ANSWER: LazyLock<Value> = LazyLock::new(|| disabled(false));
    static ON_ANSWER: LazyLock<Value> = LazyLock::new(|| disabled(true));
    if e.is_error() {
        return &OFF_ANSWER;
    }
    match (e.variant(), e.value()) {
        (None, _) | (Some(OFF), _) => &OFF_ANSWER,
        (Some(_), Some(answer @ Value::Object(_))) => answer,
        (Some(_), _) => &ON_ANSWER,
    }
}

/// The "no variant" answer; `feature_enabled` tells whether the feature itself is on.
pub fn disabled(feature_enabled: bool) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::from(DISABLED_NAME));
    m.insert("enabled".into(), Value::Bool(false));
    m.insert("feature_enabled".into(), Value::Bool(feature_enabled));
    Value::Object(m)
}
