//! Unleash's two answers read off a Vane evaluation of an imported flag.
//!
//! The importer gives every flag the off variant `off`; a `json` flag also has `on` (enabled,
//! no Unleash variant) and one variant per Unleash variant, keyed by its name (`name#…` when the
//! name is taken or contains `#`, see [`unleash_name`]) with the variant's payload as value (`{}`
//! without one). So:
//!
//! | evaluation | `is_enabled` | `variant` |
//! |---|---|---|
//! | flag not found, any error, or variant `off` | false | `{name: "disabled", enabled: false, feature_enabled: false}` |
//! | variant `on` | true | `{name: "disabled", enabled: false, feature_enabled: true}` |
//! | any other variant | true | `{name, payload?, enabled: true, feature_enabled: true}` |

use serde::Serialize;
use serde_json::Value;

use crate::result::Evaluation;

/// The variant key a disabled (or unmatched) imported flag serves.
pub const OFF: &str = "off";
/// The variant key an enabled imported flag without an Unleash variant serves.
pub const ON: &str = "on";
/// The name Unleash gives the "no variant" answer.
pub const DISABLED_NAME: &str = "disabled";

/// Unleash's `getVariant` answer, borrowed from the compiled snapshot (reading it allocates
/// nothing). Serialises as Unleash's JSON: `{name, payload?, enabled, feature_enabled}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Answer<'s> {
    pub name: &'s str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'s Value>,
    pub enabled: bool,
    pub feature_enabled: bool,
}

impl Answer<'_> {
    /// The "no variant" answer; `feature_enabled` tells whether the feature itself is on.
    pub const fn disabled(feature_enabled: bool) -> Answer<'static> {
        Answer { name: DISABLED_NAME, payload: None, enabled: false, feature_enabled }
    }

    /// The answer as a JSON value.
    pub fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), Value::from(self.name));
        if let Some(p) = self.payload {
            m.insert("payload".into(), p.clone());
        }
        m.insert("enabled".into(), Value::Bool(self.enabled));
        m.insert("feature_enabled".into(), Value::Bool(self.feature_enabled));
        Value::Object(m)
    }
}

/// Unleash's `isEnabled`.
pub fn is_enabled(e: &Evaluation<'_>) -> bool {
    !e.is_error() && e.variant().is_some_and(|v| v != OFF)
}

/// Unleash's `getVariant`.
pub fn variant<'s>(e: &Evaluation<'s>) -> Answer<'s> {
    if e.is_error() {
        return Answer::disabled(false);
    }
    match e.variant() {
        None | Some(OFF) => Answer::disabled(false),
        Some(ON) => Answer::disabled(true),
        Some(key) => Answer {
            name: unleash_name(key),
            payload: e.value().filter(|v| v.as_object().is_none_or(|m| !m.is_empty())),
            enabled: true,
            feature_enabled: true,
        },
    }
}

/// The Unleash name of an imported variant key: the key itself, or what precedes its last `#`
/// (the importer adds a `#…` suffix without `#` to every name that is taken or contains `#`).
pub fn unleash_name(key: &str) -> &str {
    key.rsplit_once('#').map_or(key, |(name, _)| name)
}
