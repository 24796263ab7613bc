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

/// Unleash's `getVariant`: `{name, payload?, enabled, feature_enabled}`.
pub fn variant(e: &Evaluation<'_>) -> Value {
    if e.is_error() {
        return disabled(false);
    }
    match (e.variant(), e.value()) {
        (None, _) | (Some(OFF), _) => disabled(false),
        (Some(_), Some(Value::Object(answer))) => Value::Object(answer.clone()),
        (Some(_), _) => disabled(true),
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
