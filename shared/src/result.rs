//! Evaluation results, aligned with OpenFeature: value, variant, reason, error code.
//!
//! An [`Evaluation`] borrows its value and variant from the compiled snapshot, so producing
//! one never clones a JSON payload. [`Resolution`] serialises one result in the shape every
//! Vane surface returns (OFREP's evaluation success/failure object), so the edge, the browser
//! package and the CLI emit byte-identical JSON for the same evaluation.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::compile::{CompiledFlag, CompiledRule, CompiledVariant};
use crate::model::FlagType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// Nothing in the context could change the result (no rules, no prerequisites).
    Static,
    /// A rule matched (its serve may be a rollout).
    TargetingMatch,
    /// No rule matched and the default serve is a rollout.
    Split,
    /// No rule matched; the default variant was served.
    Default,
    /// The flag is disabled in this environment.
    Disabled,
    /// A prerequisite flag did not resolve to one of its required variants.
    PrerequisiteFailed,
    Error,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Static => "STATIC",
            Reason::TargetingMatch => "TARGETING_MATCH",
            Reason::Split => "SPLIT",
            Reason::Default => "DEFAULT",
            Reason::Disabled => "DISABLED",
            Reason::PrerequisiteFailed => "PREREQUISITE_FAILED",
            Reason::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    FlagNotFound,
    TypeMismatch,
    ParseError,
    TargetingKeyMissing,
    InvalidContext,
    General,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorCode::TypeMismatch => "TYPE_MISMATCH",
            ErrorCode::ParseError => "PARSE_ERROR",
            ErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            ErrorCode::InvalidContext => "INVALID_CONTEXT",
            ErrorCode::General => "GENERAL",
        }
    }
}

/// The outcome of evaluating one flag for one context.
///
/// `value()` is `None` when the caller's default applies: on every error, and when a disabled
/// flag or a failed prerequisite has no off variant to serve. An evaluation is `Copy`, three
/// pointers into the compiled snapshot plus a reason: producing one never allocates, not even
/// for an error (messages are formatted by [`Evaluation::error_details`] when asked for).
#[derive(Clone, Copy)]
pub struct Evaluation<'s> {
    pub(crate) flag: Option<&'s CompiledFlag>,
    pub(crate) served: Option<&'s CompiledVariant>,
    pub(crate) rule: Option<&'s CompiledRule>,
    pub(crate) reason: Reason,
    pub(crate) error_code: Option<ErrorCode>,
    pub(crate) detail: Detail<'s>,
}

/// What an error message needs, kept unformatted until someone asks for the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail<'s> {
    None,
    Text(&'s str),
    NotFound,
    TypeMismatch { actual: FlagType, expected: FlagType },
    MissingBucketAttribute(&'s str),
}

impl<'s> Evaluation<'s> {
    pub(crate) fn error(code: ErrorCode, detail: Detail<'s>, flag: Option<&'s CompiledFlag>) -> Self {
        Evaluation { flag, served: None, rule: None, reason: Reason::Error, error_code: Some(code), detail }
    }

    /// The served value, `None` when the caller's default applies.
    #[inline]
    pub fn value(&self) -> Option<&'s Value> {
        self.served.map(|v| &v.value)
    }

    /// The served variant's key.
    #[inline]
    pub fn variant(&self) -> Option<&'s str> {
        self.served.map(|v| &*v.key)
    }

    #[inline]
    pub fn reason(&self) -> Reason {
        self.reason
    }

    #[inline]
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error_code
    }

    pub fn is_error(&self) -> bool {
        self.error_code.is_some()
    }

    /// Id of the rule that decided, if a rule did and it has an id.
    pub fn rule_id(&self) -> Option<&'s str> {
        self.rule.map(|r| &*r.id).filter(|id| !id.is_empty())
    }

    /// Position of the served variant among the flag's variants (see
    /// [`crate::CompiledSnapshot::flag_variants`]); `None` when nothing was served.
    pub fn variant_index(&self) -> Option<usize> {
        let (flag, served) = (self.flag?, self.served?);
        flag.variants.iter().position(|v| std::ptr::eq(v, served))
    }

    /// Position of the matched rule among the flag's rules (see
    /// [`crate::CompiledSnapshot::flag_rule_ids`]); `None` when no rule matched.
    pub fn rule_index(&self) -> Option<usize> {
        let (flag, rule) = (self.flag?, self.rule?);
        flag.logic.as_ref().ok()?.rules.iter().position(|r| std::ptr::eq(r, rule))
    }

    /// Version of the flag definition (0 when the flag was not found).
    pub fn flag_version(&self) -> u64 {
        self.flag.map_or(0, |f| f.version)
    }

    /// A human-readable explanation of an error result (`None` for successes); `key` is the
    /// flag key that was evaluated.
    pub fn error_details(&self, key: &str) -> Option<Cow<'s, str>> {
        Some(match self.detail {
            Detail::None => return None,
            Detail::Text(t) => Cow::Borrowed(t),
            Detail::NotFound => Cow::Owned(format!("flag '{key}' was not found")),
            Detail::TypeMismatch { actual, expected } => {
                Cow::Owned(format!("flag '{key}' is of type {}, not {}", actual.as_str(), expected.as_str()))
            }
            Detail::MissingBucketAttribute(by) => {
                Cow::Owned(format!("rollout buckets by '{by}', which the context does not have"))
            }
        })
    }
}

impl PartialEq for Evaluation<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
            && self.variant() == other.variant()
            && self.reason == other.reason
            && self.error_code == other.error_code
            && self.rule_id() == other.rule_id()
            && self.flag_version() == other.flag_version()
            && self.detail == other.detail
    }
}

impl fmt::Debug for Evaluation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluation")
            .field("value", &self.value())
            .field("variant", &self.variant())
            .field("reason", &self.reason)
            .field("error_code", &self.error_code)
            .field("rule_id", &self.rule_id())
            .field("flag_version", &self.flag_version())
            .finish()
    }
}

/// One evaluation with its flag key and snapshot version: serialises as OFREP's
/// `evaluationSuccess` / `evaluationFailure` object:
/// `{key, value?, variant?, reason, errorCode?, errorDetails?, metadata}` where metadata has
/// `snapshotVersion`, `flagVersion` and, when a rule matched, `ruleId`.
#[derive(Debug, Clone, Copy)]
pub struct Resolution<'a, 's> {
    pub key: &'a str,
    pub evaluation: &'a Evaluation<'s>,
    pub snapshot_version: u64,
}

impl Resolution<'_, '_> {
    /// Appends the same JSON the `Serialize` impl writes through serde_json (tested), without
    /// serde_json's serializer: the browser package's path.
    pub fn write_json(&self, out: &mut String) {
        use crate::json::{write_str, write_value};
        use std::fmt::Write as _;
        let e = self.evaluation;
        out.push_str("{\"key\":");
        write_str(out, self.key);
        if let Some(v) = e.value() {
            out.push_str(",\"value\":");
            write_value(out, v);
        }
        if let Some(v) = e.variant() {
            out.push_str(",\"variant\":");
            write_str(out, v);
        }
        out.push_str(",\"reason\":");
        write_str(out, e.reason.as_str());
        if let Some(c) = e.error_code {
            out.push_str(",\"errorCode\":");
            write_str(out, c.as_str());
        }
        if let Some(d) = e.error_details(self.key) {
            out.push_str(",\"errorDetails\":");
            write_str(out, &d);
        }
        let _ = write!(
            out,
            ",\"metadata\":{{\"snapshotVersion\":{},\"flagVersion\":{}",
            self.snapshot_version,
            e.flag_version()
        );
        if let Some(r) = e.rule_id() {
            out.push_str(",\"ruleId\":");
            write_str(out, r);
        }
        out.push_str("}}");
    }
}

impl Serialize for Resolution<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.evaluation;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("key", self.key)?;
        if let Some(v) = e.value() {
            map.serialize_entry("value", v)?;
        }
        if let Some(v) = e.variant() {
            map.serialize_entry("variant", v)?;
        }
        map.serialize_entry("reason", e.reason.as_str())?;
        if let Some(c) = e.error_code {
            map.serialize_entry("errorCode", c.as_str())?;
        }
        if let Some(d) = e.error_details(self.key) {
            map.serialize_entry("errorDetails", &d)?;
        }
        map.serialize_entry(
            "metadata",
            &Metadata { snapshot_version: self.snapshot_version, flag_version: e.flag_version(), rule_id: e.rule_id() },
        )?;
        map.end()
    }
}

struct Metadata<'a> {
    snapshot_version: u64,
    flag_version: u64,
    rule_id: Option<&'a str>,
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("snapshotVersion", &self.snapshot_version)?;
        map.serialize_entry("flagVersion", &self.flag_version)?;
        if let Some(r) = self.rule_id {
            map.serialize_entry("ruleId", r)?;
        }
        map.end()
    }
}
