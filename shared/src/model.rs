//! The snapshot model: what the control plane publishes and the edge and browsers load.
//!
//! These types are the JSON API boundary between the control plane and every evaluator
//! (schema documented in ARCHITECTURE.md). They are plain data: no validation happens on
//! deserialisation beyond JSON shape, because a snapshot must stay usable when one flag in it
//! is broken. [`crate::compile`] turns them into the evaluable form and reports problems.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only snapshot format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Whether `s` can name an application or environment: `[a-z0-9][a-z0-9._-]{0,99}`, safe in a
/// URL path, a KV key and a file name. The control plane accepts only such keys; the edge
/// refuses any other before it asks upstream.
pub fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b.first().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// Everything an evaluator needs for one application × environment × audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`FORMAT_VERSION`]; any other value is rejected by the compiler.
    pub format_version: u32,
    /// Application key (slug).
    pub application: String,
    /// Environment key (slug).
    pub environment: String,
    /// Who the snapshot is for; the client audience carries hashed key lists only.
    #[serde(default)]
    pub audience: Audience,
    /// Monotonically increasing per application × environment × audience stream.
    pub version: u64,
    /// RFC 3339 time at which the control plane published this version.
    #[serde(default)]
    pub created_at: String,
    /// Salt used for the hashed key lists of a client-audience snapshot
    /// (see [`crate::salted_key_hash`]). Empty for server snapshots.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash_salt: String,
    /// Environment settings the edge obeys.
    #[serde(default)]
    pub settings: EnvironmentSettings,
    #[serde(default)]
    pub flags: Vec<Flag>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Non-secret configs; secrets are never published.
    #[serde(default)]
    pub configs: Vec<Config>,
    /// Healthy services from the registry (server audience only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
    /// Hashes of the API keys the edge accepts for this stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<AcceptedKey>,
}

impl Snapshot {
    /// An empty snapshot, handy for building one in code.
    pub fn new(application: impl Into<String>, environment: impl Into<String>, version: u64) -> Self {
        Snapshot {
            format_version: FORMAT_VERSION,
            application: application.into(),
            environment: environment.into(),
            audience: Audience::Server,
            version,
            created_at: String::new(),
            hash_salt: String::new(),
            settings: EnvironmentSettings::default(),
            flags: Vec::new(),
            segments: Vec::new(),
            configs: Vec::new(),
            services: Vec::new(),
            keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    #[default]
    Server,
    Client,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentSettings {
    /// How old (seconds since `created_at` was last confirmed) a snapshot may get before the
    /// stale policy applies. 0 means no limit.
    #[serde(default)]
    pub max_staleness_s: u64,
    #[serde(default)]
    pub stale_policy: StalePolicy,
}

impl Default for EnvironmentSettings {
    fn default() -> Self {
        EnvironmentSettings { max_staleness_s: 0, stale_policy: StalePolicy::ServeStale }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StalePolicy {
    /// Keep answering from the last known good snapshot, reporting its age.
    #[default]
    ServeStale,
    /// Answer 503 once the snapshot is older than `max_staleness_s`.
    FailClosed,
}

/// The declared type of a flag; every variant value must be of this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum FlagType {
    Boolean,
    String,
    Number,
    Json,
}

impl FlagType {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
            FlagType::Json => "json",
        }
    }

    /// Whether `value` is acceptable as a variant value of this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            FlagType::Boolean => value.is_boolean(),
            FlagType::String => value.is_string(),
            FlagType::Number => value.is_number(),
            FlagType::Json => true,
        }
    }
}

/// A name in a definition (rule id, variant key, attribute, …): owned when read from a
/// document, borrowed when it is a constant (an importer's `on`, `off`, `userId`, …), so
/// constants cost no allocation.
pub type Name = Cow<'static, str>;

/// One flag as it is configured in the snapshot's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub key: String,
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    /// Possible values. Boolean flags may omit them: `on` = true, `off` = false.
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A disabled flag serves `off_variant` with reason `DISABLED`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Served when the flag is disabled or a prerequisite fails. Without one, those cases
    /// resolve to no value and the caller's default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_variant: Option<Name>,
    /// Evaluated in order; the first rule whose conditions all hold decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Served when no rule matches.
    pub default: Serve,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<Prerequisite>,
    /// Part of the rollout bucket input; changing it reshuffles every rollout of the flag.
    #[serde(default)]
    pub salt: String,
    /// Version of the flag's definition in this environment.
    #[serde(default)]
    pub version: u64,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Variant {
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub key: Name,
    pub value: Value,
}

/// What a rule or the default serves: one variant, or a weighted rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Serve {
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    Variant(Name),
    Rollout(Rollout),
}

/// A percentage rollout. The buckets are laid out in the flag's variant order, so the JSON key
/// order never matters.
///
/// With `hash: xxh3` (the default) weights are parts of [`ROLLOUT_SCALE`] and must add up to
/// it; the bucket is xxh3-64 of `salt:flagKey:value`. With `hash: unleash` (imported Unleash
/// variants) the weights may add up to any total ≥ 1 and the bucket is Unleash's: murmur3
/// x86_32 of `group_id:value` with seed 86028157, modulo the total — so every user lands where
/// Unleash put them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Rollout {
    /// Attributes whose first present value is hashed (JSON: one name or a list); `targetingKey`
    /// when empty. [`RANDOM_ATTRIBUTE`] reads the caller's random value, `""` without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub bucket_by: Vec<Name>,
    #[serde(default, skip_serializing_if = "BucketHash::is_xxh3")]
    pub hash: BucketHash,
    /// Unleash's group id (the feature name unless configured); required with `hash: unleash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub weights: BTreeMap<String, u32>,
}

/// How a rollout or gate turns an attribute value into a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum BucketHash {
    /// Vane's own: xxh3-64 of `salt:flagKey:value`, unbiased map to [`ROLLOUT_SCALE`].
    #[default]
    Xxh3,
    /// Unleash's: murmur3 x86_32 of `group_id:value` (see [`crate::murmur`]).
    Unleash,
}

impl BucketHash {
    pub fn is_xxh3(&self) -> bool {
        *self == BucketHash::Xxh3
    }
}

/// The attribute name that stands for "a random value the caller supplies" in `bucket_by`
/// lists (Unleash's `random` stickiness). The engine itself has no randomness: without the
/// attribute the value is `""`, so a list ending in it is never missing.
pub const RANDOM_ATTRIBUTE: &str = "$random";

/// A percentage gate on a rule (Unleash's gradual rollout strategies): the rule matches only
/// when its conditions hold and `murmur3(group_id:value, 0) % 100 + 1 ≤ percentage`. A rule
/// whose gate does not hold falls through to the next rule. No value → the gate does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Gate {
    /// 0 to 100.
    pub percentage: u32,
    pub group_id: String,
    /// Attributes whose first present value is hashed; `targetingKey` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub bucket_by: Vec<Name>,
    /// Only `unleash` for now.
    #[serde(default = "unleash_hash")]
    pub hash: BucketHash,
}

fn unleash_hash() -> BucketHash {
    BucketHash::Unleash
}

/// `bucket_by` in JSON: one attribute name, or a list of them.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Name;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Name),
        Many(Vec<Name>),
    }

    pub fn serialize<S: Serializer>(v: &[Name], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Name>, D::Error> {
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        })
    }
}

/// Rollout weights are expressed in parts of this number (100000 = 100%, 1 = 0.001%).
pub const ROLLOUT_SCALE: u32 = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Rule {
    #[serde(default)]
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub id: Name,
    #[serde(default, skip_serializing_if = "str::is_empty")]
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub description: Name,
    /// All must hold. An empty list always holds.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub serve: Serve,
    /// RFC 3339; the rule is active from this instant (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<String>,
    /// RFC 3339; the rule is inactive from this instant on (exclusive end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_until: Option<String>,
    /// A percentage gate: when it does not hold, the rule does not match (evaluation goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Gate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Condition {
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub attribute: Name,
    pub operator: Operator,
    #[serde(default)]
    pub values: Vec<Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_insensitive: bool,
    /// Client audience only: `values` are salted hashes (see [`crate::salted_key_hash`]),
    /// not the raw strings. Only `eq`, `neq`, `in` and `not_in` can be hashed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hashed: bool,
    /// When the attribute is missing, the positive test is false *before* `negate` (and the
    /// negative operators) apply — Unleash's rule (`NOT_IN` on a missing attribute holds).
    /// Without it a missing attribute makes the condition false whatever the operator.
    #[serde(default, skip_serializing_if = "is_false")]
    pub negate_missing: bool,
    /// `before`/`after` only: a missing attribute compares the evaluation time instead
    /// (Unleash's `currentTime`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub default_now: bool,
    /// `semver_*` only: versions with a leading `v` are refused (strict SemVer 2.0, as Unleash).
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict_semver: bool,
}

impl Condition {
    /// A condition with every option off (no negation, case-sensitive, clear values, strict
    /// missing-attribute rule).
    pub fn new(attribute: impl Into<Name>, operator: Operator, values: Vec<Value>) -> Self {
        Condition {
            attribute: attribute.into(),
            operator,
            values,
            negate: false,
            case_insensitive: false,
            hashed: false,
            negate_missing: false,
            default_now: false,
            strict_semver: false,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Every condition operator. The table with value rules is in ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Operator {
    Eq,
    Neq,
    In,
    NotIn,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Matches,
    Lt,
    Lte,
    Gt,
    Gte,
    Before,
    After,
    SemverEq,
    SemverLt,
    SemverLte,
    SemverGt,
    SemverGte,
    InCidr,
    Exists,
    NotExists,
    InSegment,
    NotInSegment,
}

impl Operator {
    pub const ALL: [Operator; 25] = [
        Operator::Eq,
        Operator::Neq,
        Operator::In,
        Operator::NotIn,
        Operator::Contains,
        Operator::NotContains,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Matches,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::Before,
        Operator::After,
        Operator::SemverEq,
        Operator::SemverLt,
        Operator::SemverLte,
        Operator::SemverGt,
        Operator::SemverGte,
        Operator::InCidr,
        Operator::Exists,
        Operator::NotExists,
        Operator::InSegment,
        Operator::NotInSegment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Contains => "contains",
            Operator::NotContains => "not_contains",
            Operator::StartsWith => "starts_with",
            Operator::EndsWith => "ends_with",
            Operator::Matches => "matches",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Before => "before",
            Operator::After => "after",
            Operator::SemverEq => "semver_eq",
            Operator::SemverLt => "semver_lt",
            Operator::SemverLte => "semver_lte",
            Operator::SemverGt => "semver_gt",
            Operator::SemverGte => "semver_gte",
            Operator::InCidr => "in_cidr",
            Operator::Exists => "exists",
            Operator::NotExists => "not_exists",
            Operator::InSegment => "in_segment",
            Operator::NotInSegment => "not_in_segment",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Prerequisite {
    /// Key of another flag in the same snapshot.
    pub flag: String,
    /// The prerequisite holds when that flag resolves to one of these variants.
    pub variants: Vec<String>,
}

/// A reusable audience: explicit key lists plus conditions.
///
/// Membership of a key: in `included` → member; else in `excluded` → not a member; else a
/// member when `conditions` is non-empty and all of them hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub included: Vec<String>,
    #[serde(default)]
    pub excluded: Vec<String>,
    /// Client audience only: `included`/`excluded` hold salted hashes, not keys.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hashed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    String,
    Number,
    Boolean,
    Json,
}

/// A non-secret config value as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub key: String,
    pub value: Value,
    pub value_type: ValueType,
    #[serde(default)]
    pub version: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A healthy service from the registry, as published to server snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub service_name: String,
    pub service_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
}

/// An API key the edge accepts: SHA-256 of the key (see [`crate::api_key_hash`]), never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedKey {
    pub id: String,
    pub hash: String,
    pub scope: KeyScope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    Admin,
    Read,
    Edge,
    Client,
}

#[cfg(test)]
mod tests {
    use super::is_slug;

    #[test]
    fn slugs_are_lowercase_keys_safe_in_a_path() {
        for ok in ["default", "shop-web", "a", "0.9_x-y", &"a".repeat(100)] {
            assert!(is_slug(ok), "{ok}");
        }
        for bad in ["", "Shop", "-shop", ".x", "a/b", "a b", "ä", &"a".repeat(101)] {
            assert!(!is_slug(bad), "{bad}");
        }
    }
}
