//! The rule compiler: [`Snapshot`] in, [`CompiledSnapshot`] out, once per snapshot version.
//!
//! Everything that can be decided without a context is decided here, so evaluation only
//! reads: flag/segment/variant references become indices, key lists become hash sets,
//! regexes, semvers, CIDRs and datetimes are parsed, case-insensitive values are folded,
//! rollout weights become cumulative thresholds in the flag's variant order, and
//! prerequisite chains are checked for cycles and depth.
//!
//! Compilation never fails as a whole because of one bad definition: a flag (or segment)
//! with problems compiles to a broken entry that evaluates to `ERROR`/`PARSE_ERROR`, and each
//! problem is returned with the JSON path that causes it. [`validate`] is the strict entry
//! point: the same checks, reported instead of tolerated.

use std::borrow::Cow;
use std::fmt;

use regex_lite::{Regex, RegexBuilder};
#[cfg(feature = "typed")]
use serde::Deserialize;
use serde_json::Value;
#[cfg(feature = "typed")]
use serde_json::value::RawValue;

use crate::cidr::Cidr;
use crate::context::{TARGETING_KEY, attribute_hash};
use crate::keyset::{HashedSet, KeySet, StringSet, parse_salted_hash};
use crate::model::{
    AcceptedKey, Audience, BucketHash, Condition, Config, EnvironmentSettings, FORMAT_VERSION, Flag, FlagType, Gate,
    Name, Operator, ROLLOUT_SCALE, Rule, Segment, Serve, Service, Snapshot,
};
use crate::murmur::Murmur;
use crate::semver::{self, OwnedVersion};
use crate::table::StrTable;
use crate::{bucket, datetime, text};

/// Longest allowed prerequisite chain (a flag → its prerequisite → …). Deeper chains are
/// rejected so evaluation recursion stays shallow on every platform, including wasm.
pub const MAX_PREREQUISITE_DEPTH: usize = 32;
/// Longest accepted regex pattern, in bytes.
pub const MAX_REGEX_LEN: usize = 1024;

/// What a problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    Snapshot,
    Flag(String),
    Segment(String),
    Config(String),
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entity::Snapshot => f.write_str("snapshot"),
            Entity::Flag(k) => write!(f, "flag '{k}'"),
            Entity::Segment(k) => write!(f, "segment '{k}'"),
            Entity::Config(k) => write!(f, "config '{k}'"),
        }
    }
}

/// One problem in a definition: which entity, where in it (a JSON path relative to the
/// entity, e.g. `rules[2].conditions[0].values`), and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub entity: Entity,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.entity, self.message)
        } else {
            write!(f, "{}: {}: {}", self.entity, self.path, self.message)
        }
    }
}

/// A tolerated problem found while compiling.
pub type Warning = Problem;

/// Why a snapshot document cannot be used at all (the previous snapshot should stay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// Not JSON, or the envelope (format, application, environment, version) is unusable.
    Malformed(String),
    UnsupportedFormat(u32),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Malformed(m) => write!(f, "malformed snapshot: {m}"),
            SnapshotError::UnsupportedFormat(v) => {
                write!(f, "unsupported snapshot format_version {v} (this engine reads {FORMAT_VERSION})")
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

// ---------------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------------

/// A snapshot ready for evaluation. Immutable; share it behind an `Arc` and swap whole.
#[derive(Debug)]
pub struct CompiledSnapshot {
    /// Distinguishes compiled snapshots so a [`crate::eval::FlagId`] from one is refused by another.
    pub(crate) identity: u64,
    pub(crate) application: String,
    pub(crate) environment: String,
    pub(crate) audience: Audience,
    pub(crate) version: u64,
    pub(crate) created_at: String,
    pub(crate) settings: EnvironmentSettings,
    pub(crate) flags: Vec<CompiledFlag>,
    pub(crate) flag_index: KeyIndex,
    pub(crate) segments: Vec<CompiledSegment>,
    pub(crate) configs: Vec<Config>,
    pub(crate) config_index: KeyIndex,
    pub(crate) services: Vec<Service>,
    pub(crate) keys: Vec<AcceptedKey>,
    pub(crate) key_index: KeyIndex,
}

#[cfg(test)]
impl CompiledSnapshot {
    /// Everything but the identity and the tables' layout (which depends on their capacity), for
    /// tests that check two ways to the same compiled form.
    pub(crate) fn test_form(&self) -> String {
        let found: Vec<Option<usize>> = self.flags.iter().map(|f| self.flag_index.get(&f.key)).collect();
        format!(
            "{} {} {:?} {} {} {:?}\nflags {:?}\nfound {found:?}\nsegments {:?}\n{:?} {:?} {:?}",
            self.application,
            self.environment,
            self.audience,
            self.version,
            self.created_at,
            self.settings,
            self.flags,
            self.segments,
            self.configs,
            self.services,
            self.keys
        )
    }
}

impl CompiledSnapshot {
    pub fn application(&self) -> &str {
        &self.application
    }
    pub fn environment(&self) -> &str {
        &self.environment
    }
    pub fn audience(&self) -> Audience {
        self.audience
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    pub fn created_at(&self) -> &str {
        &self.created_at
    }
    pub fn settings(&self) -> &EnvironmentSettings {
        &self.settings
    }
    pub fn flag_count(&self) -> usize {
        self.flags.len()
    }
    /// Flag keys in snapshot order.
    pub fn flag_keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.flags.iter().map(|f| &*f.key)
    }
    /// The variants (key, value) of the flag at `index` in snapshot order (the order of
    /// [`Self::flag_keys`] and of `evaluate_all`); empty past the end.
    pub fn flag_variants(&self, index: usize) -> impl Iterator<Item = (&str, &Value)> {
        self.flags.get(index).into_iter().flat_map(|f| f.variants.iter().map(|v| (&*v.key, &v.value)))
    }
    /// The definition version of the flag at `index` (0 past the end).
    pub fn flag_version_at(&self, index: usize) -> u64 {
        self.flags.get(index).map_or(0, |f| f.version)
    }
    /// The rule ids of the flag at `index`, in order (empty strings for rules without one).
    pub fn flag_rule_ids(&self, index: usize) -> impl Iterator<Item = &str> {
        self.flags
            .get(index)
            .and_then(|f| f.logic.as_ref().ok())
            .into_iter()
            .flat_map(|l| l.rules.iter().map(|r| &*r.id))
    }
    /// Whether the answer of the flag at `index` can change with the clock alone (a rule with
    /// an active window or a date condition that defaults to now, here or in a prerequisite). Every other flag's answer is a pure
    /// function of snapshot and context, so a caller may keep it until either changes.
    pub fn flag_depends_on_time(&self, index: usize) -> bool {
        fn timed(s: &CompiledSnapshot, index: usize, depth: usize) -> bool {
            let Some(logic) = s.flags.get(index).and_then(|f| f.logic.as_ref().ok()) else { return false };
            // Prerequisite chains are acyclic and bounded by the compiler; the depth guard is a
            // backstop that answers "timed" (never cache) rather than recurse without end.
            let now_dependent = |c: &CompiledCondition| {
                c.default_now
                    || match &c.test {
                        Test::Segment(ids) => ids.iter().any(|&id| {
                            s.segments
                                .get(id as usize)
                                .and_then(|seg| seg.logic.as_ref().ok())
                                .is_some_and(|l| l.conditions.iter().any(|c| c.default_now))
                        }),
                        _ => false,
                    }
            };
            depth > MAX_PREREQUISITE_DEPTH
                || logic.rules.iter().any(|r| r.schedule.is_some() || r.conditions.iter().any(now_dependent))
                || logic.prerequisites.iter().any(|p| timed(s, p.flag as usize, depth + 1))
        }
        timed(self, index, 0)
    }
    /// The declared type of a flag.
    pub fn flag_type(&self, key: &str) -> Option<FlagType> {
        let i = self.flag_index.get(key)?;
        self.flags.get(i).map(|f| f.flag_type)
    }
    /// A config by key.
    pub fn config(&self, key: &str) -> Option<&Config> {
        self.configs.get(self.config_index.get(key)?)
    }
    pub fn configs(&self) -> &[Config] {
        &self.configs
    }
    pub fn services(&self) -> &[Service] {
        &self.services
    }
    /// The accepted key whose hash (see [`crate::api_key_hash`]) is `hash`.
    pub fn accepted_key(&self, hash: &str) -> Option<&AcceptedKey> {
        self.keys.get(self.key_index.get(hash)?)
    }
}

/// Exact string → index map.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    table: StrTable,
}

impl KeyIndex {
    fn with_capacity(n: usize) -> Self {
        KeyIndex { table: StrTable::with_capacity(n) }
    }
    /// Adds the next entity's key (entity index = number of keys added before). Returns false
    /// for a duplicate, which stays unfindable: the first entity with a key answers for it.
    fn push(&mut self, key: &str) -> bool {
        self.table.insert_exact(key.into())
    }
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<usize> {
        self.table.find_exact(key.as_bytes())
    }
}

#[derive(Debug)]
pub struct CompiledFlag {
    pub(crate) key: Box<str>,
    pub(crate) flag_type: FlagType,
    pub(crate) version: u64,
    /// Boolean flags without variants share one static `on`/`off` pair.
    pub(crate) variants: Cow<'static, [CompiledVariant]>,
    /// The variant of a context-independent flag (see [`FlagLogic::is_static`]): evaluation
    /// serves it without looking further.
    pub(crate) static_variant: Option<u32>,
    /// `Err` holds the parse-error detail this flag evaluates to.
    pub(crate) logic: Result<FlagLogic, Box<str>>,
}

impl CompiledFlag {
    /// Whether its definition listed no variants: a boolean flag then has the shared static
    /// `on`/`off` pair ([`compile_variants`]; any other type has none, and a problem).
    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn implicit_variants(&self) -> bool {
        matches!(self.variants, Cow::Borrowed(_))
    }
}

#[derive(Debug, Clone)]
pub struct CompiledVariant {
    /// Borrowed for the implicit `on`/`off` of boolean flags, else moved from the model.
    pub(crate) key: Cow<'static, str>,
    pub(crate) value: Value,
}

#[derive(Debug)]
pub(crate) struct FlagLogic {
    pub(crate) enabled: bool,
    pub(crate) off_variant: Option<u32>,
    pub(crate) prerequisites: Vec<CompiledPrerequisite>,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) default: CompiledServe,
    /// Enabled, no prerequisites, no rules, a single default variant: context-independent.
    pub(crate) is_static: bool,
}

#[derive(Debug)]
pub(crate) struct CompiledPrerequisite {
    pub(crate) flag: u32,
    pub(crate) variants: Vec<u32>,
}

#[derive(Debug)]
pub struct CompiledRule {
    pub(crate) id: Name,
    pub(crate) conditions: Vec<CompiledCondition>,
    pub(crate) serve: CompiledServe,
    /// Boxed: most rules have none, and a rule is walked for every evaluation.
    pub(crate) schedule: Option<Box<Schedule>>,
    /// Boxed, like a schedule or a rollout.
    pub(crate) gate: Option<Box<CompiledGate>>,
}

/// When a rule is active (ms since the epoch).
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Inclusive.
    pub(crate) from: Option<i64>,
    /// Exclusive.
    pub(crate) until: Option<i64>,
}

impl CompiledRule {
    /// Whether the rule's schedule (if any) covers `now_ms`.
    #[inline(always)]
    pub(crate) fn active_at(&self, now_ms: i64) -> bool {
        self.schedule
            .as_ref()
            .is_none_or(|s| s.from.is_none_or(|from| now_ms >= from) && s.until.is_none_or(|until| now_ms < until))
    }
}

#[derive(Debug)]
pub(crate) enum CompiledServe {
    Variant(u32),
    /// Boxed: a variant is the common serve, and the enum is in every rule and flag.
    Rollout(Box<CompiledRollout>),
}

#[derive(Debug)]
pub(crate) struct CompiledRollout {
    /// The attributes tried in order; the first present one is hashed.
    pub(crate) bucket_by: BucketBy,
    pub(crate) hash: CompiledHash,
    /// `(exclusive upper bucket, variant)`, ascending; the last bound is the scale
    /// ([`ROLLOUT_SCALE`], or the weight total of an Unleash rollout).
    pub(crate) thresholds: Vec<(u32, u32)>,
}

/// Attribute names (with their lookup hashes) whose first present value is hashed.
#[derive(Debug)]
pub(crate) struct BucketBy(pub(crate) Box<[(Name, u64)]>);

impl BucketBy {
    /// Takes the names (moved, not copied); none means the targeting key.
    fn new(names: Vec<Name>) -> Self {
        if names.is_empty() {
            return BucketBy(Box::new([(Cow::Borrowed(TARGETING_KEY), attribute_hash(TARGETING_KEY))]));
        }
        BucketBy(
            names
                .into_iter()
                .map(|n| {
                    let hash = attribute_hash(&n);
                    (n, hash)
                })
                .collect(),
        )
    }

    /// The first name, for messages.
    pub(crate) fn first(&self) -> &str {
        self.0.first().map_or(TARGETING_KEY, |(n, _)| n)
    }
}

#[derive(Debug)]
pub(crate) enum CompiledHash {
    /// xxh3 with the flag's `salt:flagKey:` prefix, mapped to [`ROLLOUT_SCALE`].
    Xxh3 { prefix: Box<[u8]> },
    /// Unleash: murmur3 of `group_id:value` with the seed, modulo `modulus`; `prefix` has read
    /// `group_id:` already.
    Unleash { prefix: Murmur, modulus: u32 },
}

/// A rule's percentage gate (Unleash's rollout strategies), ready to run.
#[derive(Debug)]
pub(crate) struct CompiledGate {
    pub(crate) percentage: u32,
    pub(crate) bucket_by: BucketBy,
    /// Murmur3 (seed 0) after `group_id:`.
    pub(crate) prefix: Murmur,
}

#[derive(Debug)]
pub(crate) struct CompiledCondition {
    pub(crate) attribute: Name,
    pub(crate) attribute_hash: u64,
    /// `negate` XOR the operator being a negative form (`neq`, `not_in`, …).
    pub(crate) invert: bool,
    /// The condition's result when the attribute is missing: `false`, or with
    /// `negate_missing` the inverted false (`invert`).
    pub(crate) when_missing: bool,
    /// `before`/`after` compare the evaluation time when the attribute is missing.
    pub(crate) default_now: bool,
    pub(crate) test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    #[inline]
    pub(crate) fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        matches!(
            (self, ord),
            (Cmp::Eq, Equal)
                | (Cmp::Lt, Less)
                | (Cmp::Lte, Less | Equal)
                | (Cmp::Gt, Greater)
                | (Cmp::Gte, Greater | Equal)
        )
    }
}

/// The positive form of an operator, ready to run.
#[derive(Debug)]
pub(crate) enum Test {
    Exists,
    EqString {
        value: Box<str>,
        case_insensitive: bool,
    },
    EqNumber(f64),
    In(KeySet),
    Contains {
        values: Box<[Box<str>]>,
        case_insensitive: bool,
    },
    StartsWith {
        values: Box<[Box<str>]>,
        case_insensitive: bool,
    },
    EndsWith {
        values: Box<[Box<str>]>,
        case_insensitive: bool,
    },
    Matches(Box<[Regex]>),
    Number(Cmp, f64),
    Date(Cmp, i64),
    /// The flag: strict (a leading `v` on the attribute is refused).
    Semver(Cmp, OwnedVersion, bool),
    Cidr(Box<[Cidr]>),
    Segment(Box<[u32]>),
}

#[derive(Debug)]
pub(crate) struct CompiledSegment {
    pub(crate) logic: Result<SegmentLogic, Box<str>>,
}

#[derive(Debug)]
pub(crate) struct SegmentLogic {
    pub(crate) included: Option<KeySet>,
    pub(crate) excluded: Option<KeySet>,
    pub(crate) conditions: Vec<CompiledCondition>,
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Compiles a snapshot. Broken flags and segments are kept (they evaluate to `PARSE_ERROR`)
/// and every problem is returned as a warning.
pub fn compile(snapshot: &Snapshot) -> (CompiledSnapshot, Vec<Warning>) {
    compile_owned(snapshot.clone())
}

/// Like [`compile()`], consuming the snapshot: strings and values move into the compiled form
/// instead of being copied (what [`compile_json`] does).
pub fn compile_owned(mut snapshot: Snapshot) -> (CompiledSnapshot, Vec<Warning>) {
    let mut warnings = Vec::new();
    if snapshot.format_version != FORMAT_VERSION {
        warnings.push(Problem {
            entity: Entity::Snapshot,
            path: "format_version".into(),
            message: format!("expected {FORMAT_VERSION}, found {}", snapshot.format_version),
        });
    }
    let flags = std::mem::take(&mut snapshot.flags);
    let segments: Vec<SegmentSource<'_>> = snapshot.segments.iter().map(SegmentSource::Parsed).collect();
    let mut compiler = Compiler::new(&snapshot.hash_salt, &segments, flags.len());
    // Each flag's definition is dropped as soon as it is compiled.
    for flag in flags {
        compiler.push(Ok(flag));
    }
    let compiled = compiler.finish_snapshot(snapshot, &mut warnings);
    (compiled, warnings)
}

/// Compiles a snapshot document. Only an unusable envelope is an error; a flag or segment
/// that does not even deserialise becomes a broken entry plus a warning.
pub fn compile_json(json: &str) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
    // The browser package reads through the hand-written reader (smaller code, see `read`).
    #[cfg(any(all(feature = "compact", target_arch = "wasm32"), not(feature = "typed")))]
    {
        compile_json_compact(json)
    }
    #[cfg(not(any(all(feature = "compact", target_arch = "wasm32"), not(feature = "typed"))))]
    compile_json_typed(json)
}

#[cfg(feature = "typed")]
#[cfg_attr(all(feature = "compact", target_arch = "wasm32"), allow(dead_code))] // the browser reads with `read`
fn compile_json_typed(json: &str) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
    // Fast path: a well-formed document parses straight into the typed model.
    if let Ok(snapshot) = serde_json::from_str::<Snapshot>(json) {
        if snapshot.format_version != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedFormat(snapshot.format_version));
        }
        return Ok(compile_owned(snapshot));
    }
    let raw: RawSnapshot<'_> = serde_json::from_str(json).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
    if raw.format_version != FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedFormat(raw.format_version));
    }
    let mut warnings = Vec::new();
    let parsed_flags = raw.flags.iter().enumerate().map(|(i, r)| {
        serde_json::from_str::<Flag>(r.get()).map_err(|e| {
            let key = serde_json::from_str::<KeyOnly>(r.get()).map(|k| k.key).unwrap_or_else(|_| format!("flags[{i}]"));
            (key, e.to_string())
        })
    });
    let parsed_segments: Vec<Result<Segment, (String, String)>> = raw
        .segments
        .iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::from_str::<Segment>(r.get()).map_err(|e| {
                let key = serde_json::from_str::<KeyOnly>(r.get())
                    .map(|k| k.key)
                    .unwrap_or_else(|_| format!("segments[{i}]"));
                (key, e.to_string())
            })
        })
        .collect();
    let segments = segment_sources(&parsed_segments);
    let mut configs = Vec::with_capacity(raw.configs.len());
    for (i, r) in raw.configs.iter().enumerate() {
        match serde_json::from_str::<Config>(r.get()) {
            Ok(c) => configs.push(c),
            Err(e) => warnings.push(Problem {
                entity: Entity::Config(
                    serde_json::from_str::<KeyOnly>(r.get()).map(|k| k.key).unwrap_or_else(|_| format!("configs[{i}]")),
                ),
                path: String::new(),
                message: format!("unreadable, left out: {e}"),
            }),
        }
    }
    let services = raw.services.iter().filter_map(|r| serde_json::from_str::<Service>(r.get()).ok()).collect();
    let keys = raw.keys.iter().filter_map(|r| serde_json::from_str::<AcceptedKey>(r.get()).ok()).collect();
    let mut compiler = Compiler::new(&raw.hash_salt, &segments, raw.flags.len());
    for flag in parsed_flags {
        compiler.push(flag);
    }
    let envelope = Envelope {
        application: &raw.application,
        environment: &raw.environment,
        audience: raw.audience,
        version: raw.version,
        created_at: &raw.created_at,
        settings: raw.settings.clone(),
    };
    let compiled = compiler.finish(envelope, configs, services, keys, &mut warnings);
    Ok((compiled, warnings))
}

/// Compiles a snapshot document read with [`crate::read`] (a streaming reader) instead of the
/// derived deserialisers. Same results as the typed path for every document the control plane
/// writes (error wording aside); the browser package uses it.
pub fn compile_json_compact(json: &str) -> Result<(CompiledSnapshot, Vec<Warning>), SnapshotError> {
    let d = crate::read::document(json).map_err(SnapshotError::Malformed)?;
    if d.format_version != FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedFormat(d.format_version));
    }
    let mut warnings = Vec::new();
    let segments = segment_sources(&d.segments);
    let mut compiler = Compiler::new(&d.hash_salt, &segments, d.flags.len());
    for flag in d.flags {
        compiler.push(flag);
    }
    let mut configs = Vec::with_capacity(d.configs.len());
    for c in d.configs {
        match c {
            Ok(c) => configs.push(c),
            Err((key, e)) => warnings.push(Problem {
                entity: Entity::Config(key),
                path: String::new(),
                message: format!("unreadable, left out: {e}"),
            }),
        }
    }
    let services = d.services.into_iter().filter_map(Result::ok).collect();
    let keys = d.keys.into_iter().filter_map(Result::ok).collect();
    let envelope = Envelope {
        application: &d.application,
        environment: &d.environment,
        audience: d.audience,
        version: d.version,
        created_at: &d.created_at,
        settings: d.settings,
    };
    let compiled = compiler.finish(envelope, configs, services, keys, &mut warnings);
    Ok((compiled, warnings))
}

/// Strict validation: every problem in the snapshot, each with its entity and JSON path.
/// An empty list means every flag and segment compiles cleanly. The control plane runs this
/// on the would-be snapshot of a write and rejects the write (422) if it returns anything
/// for the written entity.
pub fn validate(snapshot: &Snapshot) -> Vec<Problem> {
    compile(snapshot).1
}

#[cfg(feature = "typed")]
#[cfg_attr(all(feature = "compact", target_arch = "wasm32"), allow(dead_code))] // the browser reads with `read`
#[derive(Deserialize)]
struct KeyOnly {
    key: String,
}

#[cfg(feature = "typed")]
#[cfg_attr(all(feature = "compact", target_arch = "wasm32"), allow(dead_code))] // the browser reads with `read`
#[derive(Deserialize)]
struct RawSnapshot<'a> {
    format_version: u32,
    application: String,
    environment: String,
    #[serde(default)]
    audience: Audience,
    version: u64,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    hash_salt: String,
    #[serde(default)]
    settings: EnvironmentSettings,
    #[serde(default, borrow)]
    flags: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    segments: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    configs: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    services: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    keys: Vec<&'a RawValue>,
}

/// Segments read one by one (the key and message of those that did not read) as compile sources.
fn segment_sources(parsed: &[Result<Segment, (String, String)>]) -> Vec<SegmentSource<'_>> {
    parsed
        .iter()
        .map(|r| match r {
            Ok(s) => SegmentSource::Parsed(s),
            Err((key, msg)) => SegmentSource::Unreadable { key, message: msg },
        })
        .collect()
}

pub(crate) enum SegmentSource<'a> {
    Parsed(&'a Segment),
    Unreadable { key: &'a str, message: &'a str },
}

struct Envelope<'a> {
    application: &'a str,
    environment: &'a str,
    audience: Audience,
    version: u64,
    created_at: &'a str,
    settings: EnvironmentSettings,
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

/// Collects problems for one entity.
struct Sink<'w> {
    entity: &'w dyn Fn() -> Entity,
    problems: Vec<(String, String)>,
}

impl Sink<'_> {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push((path.into(), message.into()));
    }
    fn flush(self, out: &mut Vec<Problem>) -> Option<Box<str>> {
        if self.problems.is_empty() {
            return None;
        }
        let detail = self
            .problems
            .iter()
            .map(|(p, m)| if p.is_empty() { m.clone() } else { format!("{p}: {m}") })
            .collect::<Vec<_>>()
            .join("; ");
        let entity = (self.entity)();
        out.extend(self.problems.into_iter().map(|(path, message)| Problem { entity: entity.clone(), path, message }));
        Some(detail.into())
    }
}

/// A JSON path inside an entity, built on the stack and only rendered to text when a problem
/// is reported (formatting every rule's path up front was a third of compile time).
#[derive(Debug, Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
    index: Option<usize>,
}

impl<'a> Path<'a> {
    const fn top(name: &'a str) -> Self {
        Path { parent: None, name, index: None }
    }
    const fn top_item(name: &'a str, index: usize) -> Self {
        Path { parent: None, name, index: Some(index) }
    }
    fn field(&'a self, name: &'a str) -> Path<'a> {
        Path { parent: Some(self), name, index: None }
    }
    fn item(&'a self, name: &'a str, index: usize) -> Path<'a> {
        Path { parent: Some(self), name, index: Some(index) }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}.")?;
        }
        f.write_str(self.name)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

/// What the compiler knows about the whole snapshot while compiling one entity.
struct Scope<'a> {
    segment_index: &'a KeyIndex,
    segment_ok: &'a [bool],
    hash_salt: &'a str,
}

/// Compiles flags one at a time, each as soon as it is pushed (while its definition is still
/// in cache), except those with prerequisites: they wait until every flag's variants are
/// known. Segments are compiled up front (flags refer to them).
pub(crate) struct Compiler {
    hash_salt: String,
    segment_index: KeyIndex,
    segment_ok: Vec<bool>,
    segments: Vec<CompiledSegment>,
    flag_index: KeyIndex,
    flags: Vec<CompiledFlag>,
    /// Flags with prerequisites (index, definition), compiled in [`Compiler::finish`].
    waiting: Vec<(usize, Flag)>,
    /// The problems of every flag that has some, and an entry (maybe empty) for each waiting
    /// flag; in flag order.
    problems: Vec<(usize, Vec<(String, String)>)>,
    warnings: Vec<Problem>,
}

impl Compiler {
    pub(crate) fn new(hash_salt: &str, segments: &[SegmentSource<'_>], flags: usize) -> Self {
        let mut compiler = Compiler {
            hash_salt: hash_salt.to_owned(),
            segment_index: KeyIndex::with_capacity(segments.len()),
            segment_ok: Vec::with_capacity(segments.len()),
            segments: Vec::with_capacity(segments.len()),
            flag_index: KeyIndex::with_capacity(flags),
            flags: Vec::with_capacity(flags),
            waiting: Vec::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        compiler.add_segments(segments);
        compiler
    }

    /// Compiles segments. A flag compiled before this call could not refer to them, so only
    /// the Unleash import (whose features wait for segments listed after them) calls it again.
    pub(crate) fn add_segments(&mut self, segments: &[SegmentSource<'_>]) {
        let empty_index = KeyIndex::default();
        for src in segments {
            let key = match src {
                SegmentSource::Parsed(s) => s.key.as_str(),
                SegmentSource::Unreadable { key, .. } => key,
            };
            let entity = || Entity::Segment(key.to_owned());
            let mut sink = Sink { entity: &entity, problems: Vec::new() };
            if !self.segment_index.push(key) {
                sink.push("key", format!("duplicate segment key '{key}'; only the first is used"));
            }
            let logic = match src {
                SegmentSource::Unreadable { message, .. } => {
                    sink.push("", format!("unreadable: {message}"));
                    None
                }
                SegmentSource::Parsed(seg) => {
                    // Segments may not refer to segments, so an empty index is the right scope.
                    let scope = Scope { segment_index: &empty_index, segment_ok: &[], hash_salt: &self.hash_salt };
                    Some(compile_segment(seg, &scope, &mut sink))
                }
            };
            let logic = match (sink.flush(&mut self.warnings), logic) {
                (None, Some(l)) => Ok(l),
                (Some(detail), _) => Err(detail),
                (None, None) => Err("unreadable".into()),
            };
            self.segment_ok.push(logic.is_ok());
            self.segments.push(CompiledSegment { logic });
        }
    }

    /// Adds the next flag, or the key and message of one that did not read.
    fn push(&mut self, flag: Result<Flag, (String, String)>) {
        match flag {
            Ok(flag) => self.add(flag),
            Err((key, message)) => {
                let mut problems = vec![(String::new(), format!("unreadable: {message}"))];
                let index = self.register(key.into(), FlagType::Json, 0, Cow::Borrowed(&[]), &mut problems);
                self.problems.push((index, problems));
            }
        }
    }

    /// Index, key and variants of a flag (the key moves into the compiled flag; later steps
    /// read it there), then its logic unless it has prerequisites and so waits.
    fn add(&mut self, flag: Flag) {
        self.add_flag(flag, false);
    }

    /// [`Compiler::add`]; a `held` flag waits for [`Compiler::finish`] even without
    /// prerequisites (the Unleash import settles them at the end, see [`Compiler::held_mut`]).
    pub(crate) fn add_flag(&mut self, mut flag: Flag, held: bool) -> usize {
        let mut problems = Vec::new();
        let variants = compile_variants(&mut flag, &mut problems);
        let key = std::mem::take(&mut flag.key).into_boxed_str();
        let index = self.register(key, flag.flag_type, flag.version, variants, &mut problems);
        if held || !flag.prerequisites.is_empty() {
            // A waiting flag always has an entry: the prerequisite check may add to it.
            self.problems.push((index, problems));
            self.waiting.push((index, flag));
        } else {
            self.compile_logic(index, &mut flag, &mut problems);
            if !problems.is_empty() {
                self.problems.push((index, problems));
            }
        }
        index
    }

    /// Compiles `flag` in the place of flag `index`, a definition of the same key it replaces
    /// (what the earlier one made, problems included, goes). `held` as in [`Compiler::add_flag`].
    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn replace(&mut self, index: usize, mut flag: Flag, held: bool) {
        self.waiting.retain(|(i, _)| *i != index);
        if let Ok(at) = self.problems.binary_search_by_key(&index, |(i, _)| *i) {
            self.problems.remove(at);
        }
        let mut problems = Vec::new();
        if flag.key.is_empty() {
            problems.push(("key".into(), "must not be empty".into()));
        }
        let variants = compile_variants(&mut flag, &mut problems);
        let Some(f) = self.flags.get_mut(index) else { return };
        f.flag_type = flag.flag_type;
        f.version = flag.version;
        f.variants = variants;
        f.static_variant = None;
        f.logic = Err(Box::default());
        // Both lists stay in flag order.
        let at = self.problems.partition_point(|(i, _)| *i < index);
        if held || !flag.prerequisites.is_empty() {
            self.problems.insert(at, (index, problems));
            let w = self.waiting.partition_point(|(i, _)| *i < index);
            self.waiting.insert(w, (index, flag));
        } else {
            self.compile_logic(index, &mut flag, &mut problems);
            if !problems.is_empty() {
                self.problems.insert(at, (index, problems));
            }
        }
    }

    /// Room for `n` more flags in the list (the key table grows on its own).
    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn reserve_flags(&mut self, n: usize) {
        self.flags.reserve(n);
    }

    /// The definition of a waiting flag, whose logic is compiled in [`Compiler::finish`].
    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn held_mut(&mut self, index: usize) -> Option<&mut Flag> {
        let at = self.waiting.binary_search_by_key(&index, |(i, _)| *i).ok()?;
        self.waiting.get_mut(at).map(|(_, f)| f)
    }

    /// How many flags have been added.
    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn len(&self) -> usize {
        self.flags.len()
    }

    /// The index of the flag with this key.
    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        self.flag_index.get(key)
    }

    #[cfg_attr(not(feature = "typed"), allow(dead_code))] // used by the one-pass Unleash import
    pub(crate) fn flag(&self, index: usize) -> Option<&CompiledFlag> {
        self.flags.get(index)
    }

    fn register(
        &mut self,
        key: Box<str>,
        flag_type: FlagType,
        version: u64,
        variants: Cow<'static, [CompiledVariant]>,
        problems: &mut Vec<(String, String)>,
    ) -> usize {
        if key.is_empty() {
            problems.push(("key".into(), "must not be empty".into()));
        }
        if !self.flag_index.push(&key) {
            problems.push(("key".into(), format!("duplicate flag key '{key}'; only the first is used")));
        }
        let index = self.flags.len();
        self.flags.push(CompiledFlag {
            key,
            flag_type,
            version,
            variants,
            static_variant: None,
            // Set when the logic is compiled; an unreadable flag keeps this placeholder (and
            // has a problem, so `finish` replaces it).
            logic: Err(Box::default()),
        });
        index
    }

    /// Rules, serves and prerequisites of the flag at `index`, straight into the compiled flag.
    fn compile_logic(&mut self, index: usize, flag: &mut Flag, problems: &mut Vec<(String, String)>) {
        let scope =
            Scope { segment_index: &self.segment_index, segment_ok: &self.segment_ok, hash_salt: &self.hash_salt };
        let logic = compile_flag_logic(flag, index, &self.flags, &self.flag_index, &scope, problems);
        if let Some(f) = self.flags.get_mut(index) {
            // A flag with problems loses both in `finish`.
            f.static_variant = match (logic.is_static, &logic.default) {
                (true, CompiledServe::Variant(v)) => Some(*v),
                _ => None,
            };
            f.logic = Ok(logic);
        }
    }

    /// [`Compiler::finish`] with the rest of `snapshot` (whose flags were pushed).
    pub(crate) fn finish_snapshot(self, mut snapshot: Snapshot, warnings: &mut Vec<Problem>) -> CompiledSnapshot {
        let envelope = Envelope {
            application: &snapshot.application,
            environment: &snapshot.environment,
            audience: snapshot.audience,
            version: snapshot.version,
            created_at: &snapshot.created_at,
            settings: std::mem::take(&mut snapshot.settings),
        };
        self.finish(envelope, snapshot.configs, snapshot.services, snapshot.keys, warnings)
    }

    /// Compiles the waiting flags, checks prerequisite chains, turns every flag with problems
    /// into a broken entry (its problems appended to `warnings`, in flag order) and assembles
    /// the snapshot.
    fn finish(
        mut self,
        envelope: Envelope<'_>,
        configs: Vec<Config>,
        services: Vec<Service>,
        keys: Vec<AcceptedKey>,
        warnings: &mut Vec<Problem>,
    ) -> CompiledSnapshot {
        let waiting = std::mem::take(&mut self.waiting);
        let any_waiting = !waiting.is_empty();
        for (index, mut flag) in waiting {
            let at = self.problems.binary_search_by_key(&index, |(i, _)| *i).ok();
            let mut problems =
                at.and_then(|a| self.problems.get_mut(a)).map(|(_, p)| std::mem::take(p)).unwrap_or_default();
            self.compile_logic(index, &mut flag, &mut problems);
            if let Some((_, slot)) = at.and_then(|a| self.problems.get_mut(a)) {
                *slot = problems;
            }
        }
        // Only flags with prerequisites can be on a cycle or a long chain.
        if any_waiting {
            check_prerequisite_graph(&self.flags, &mut self.problems);
        }
        warnings.append(&mut self.warnings);
        for (index, problems) in self.problems {
            let Some(flag) = self.flags.get_mut(index) else { continue };
            let key = &flag.key;
            let entity = move || Entity::Flag(key.to_string());
            let sink = Sink { entity: &entity, problems };
            if let Some(detail) = sink.flush(warnings) {
                flag.logic = Err(detail);
                flag.static_variant = None;
            }
        }

        let mut config_index = KeyIndex::with_capacity(configs.len());
        for c in &configs {
            if !config_index.push(&c.key) {
                warnings.push(Problem {
                    entity: Entity::Config(c.key.clone()),
                    path: "key".into(),
                    message: "duplicate config key; only the first is used".into(),
                });
            }
        }
        let mut key_index = KeyIndex::with_capacity(keys.len());
        for k in &keys {
            key_index.push(&k.hash);
        }

        CompiledSnapshot {
            identity: next_identity(),
            application: envelope.application.to_owned(),
            environment: envelope.environment.to_owned(),
            audience: envelope.audience,
            version: envelope.version,
            created_at: envelope.created_at.to_owned(),
            settings: envelope.settings,
            flags: self.flags,
            flag_index: self.flag_index,
            segments: self.segments,
            configs,
            config_index,
            services,
            keys,
            key_index,
        }
    }
}

/// Adds a problem to flag `index`'s entry in a flag-ordered list of problems.
fn add_problem(list: &mut Vec<(usize, Vec<(String, String)>)>, index: usize, problem: (String, String)) {
    let at = match list.binary_search_by_key(&index, |(i, _)| *i) {
        Ok(at) => at,
        Err(at) => {
            list.insert(at, (index, Vec::new()));
            at
        }
    };
    if let Some((_, p)) = list.get_mut(at) {
        p.push(problem);
    }
}

/// A process-wide counter, not a clock or a random source: compilation stays deterministic in
/// everything it produces except this tag.
fn next_identity() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Moves the variants out of the model (their keys and values are not needed there again).
fn compile_variants(flag: &mut Flag, problems: &mut Vec<(String, String)>) -> Cow<'static, [CompiledVariant]> {
    static ON_OFF: [CompiledVariant; 2] = [
        CompiledVariant { key: Cow::Borrowed("on"), value: Value::Bool(true) },
        CompiledVariant { key: Cow::Borrowed("off"), value: Value::Bool(false) },
    ];
    if flag.variants.is_empty() {
        if flag.flag_type == FlagType::Boolean {
            return Cow::Borrowed(&ON_OFF);
        }
        problems.push(("variants".into(), format!("a {} flag needs at least one variant", flag.flag_type.as_str())));
        return Cow::Borrowed(&[]);
    }
    // Few variants (the common case) are checked for repeats by a scan, without a table.
    let mut seen = (flag.variants.len() > 16).then(|| KeyIndex::with_capacity(flag.variants.len()));
    let mut out: Vec<CompiledVariant> = Vec::with_capacity(flag.variants.len());
    for (i, v) in flag.variants.iter_mut().enumerate() {
        let repeated = match seen.as_mut() {
            Some(seen) => !seen.push(&v.key),
            None => out.iter().any(|earlier| earlier.key == v.key),
        };
        if v.key.is_empty() {
            problems.push((format!("variants[{i}].key"), "must not be empty".into()));
        } else if repeated {
            problems.push((format!("variants[{i}].key"), format!("duplicate variant '{}'", v.key)));
        }
        if !flag.flag_type.accepts(&v.value) {
            problems.push((
                format!("variants[{i}].value"),
                format!("expected a {} value for a {} flag", flag.flag_type.as_str(), flag.flag_type.as_str()),
            ));
        }
        out.push(CompiledVariant { key: std::mem::take(&mut v.key), value: std::mem::take(&mut v.value) });
    }
    Cow::Owned(out)
}

fn variant_index(variants: &[CompiledVariant], key: &str) -> Option<u32> {
    variants.iter().position(|v| &*v.key == key).and_then(|i| u32::try_from(i).ok())
}

fn compile_flag_logic(
    flag: &mut Flag,
    self_index: usize,
    compiled: &[CompiledFlag],
    flag_index: &KeyIndex,
    scope: &Scope<'_>,
    problems: &mut Vec<(String, String)>,
) -> FlagLogic {
    let (key, variants): (&str, &[CompiledVariant]) =
        compiled.get(self_index).map_or(("", &[]), |f| (&f.key, &*f.variants));
    let entity = || Entity::Flag(key.to_owned());
    let mut sink = Sink { entity: &entity, problems: std::mem::take(problems) };

    let off_variant = match &flag.off_variant {
        Some(k) => {
            let i = variant_index(variants, k);
            if i.is_none() {
                sink.push("off_variant", format!("unknown variant '{k}'"));
            }
            i
        }
        // Boolean flags conventionally turn off to `off`.
        None if flag.flag_type == FlagType::Boolean => variant_index(variants, "off"),
        None => None,
    };

    let mut prerequisites = Vec::with_capacity(flag.prerequisites.len());
    for (i, p) in flag.prerequisites.iter().enumerate() {
        let Some(target) = flag_index.get(&p.flag) else {
            sink.push(format!("prerequisites[{i}].flag"), format!("unknown flag '{}'", p.flag));
            continue;
        };
        if p.variants.is_empty() {
            sink.push(format!("prerequisites[{i}].variants"), "list at least one variant");
        }
        let target_variants: &[CompiledVariant] = compiled.get(target).map_or(&[], |f| &*f.variants);
        let mut ids = Vec::with_capacity(p.variants.len());
        for (j, v) in p.variants.iter().enumerate() {
            match variant_index(target_variants, v) {
                Some(id) => ids.push(id),
                None => sink.push(
                    format!("prerequisites[{i}].variants[{j}]"),
                    format!("flag '{}' has no variant '{v}'", p.flag),
                ),
            }
        }
        prerequisites.push(CompiledPrerequisite { flag: u32::try_from(target).unwrap_or(u32::MAX), variants: ids });
    }

    let mut rules = Vec::with_capacity(flag.rules.len());
    // Made only for the flag's own (xxh3) rollouts.
    let salt = &flag.salt;
    let bucket_prefix = || bucket::prefix(salt, key);
    for (i, rule) in flag.rules.iter_mut().enumerate() {
        if let Some(r) = compile_rule(&bucket_prefix, variants, rule, &Path::top_item("rules", i), scope, &mut sink) {
            rules.push(r);
        }
    }
    let default = compile_serve(&bucket_prefix, variants, &mut flag.default, &Path::top("default"), &mut sink)
        .unwrap_or(CompiledServe::Variant(0));
    let is_static =
        flag.enabled && prerequisites.is_empty() && rules.is_empty() && matches!(default, CompiledServe::Variant(_));
    *problems = sink.problems;
    FlagLogic { enabled: flag.enabled, off_variant, prerequisites, rules, default, is_static }
}

fn compile_rule(
    bucket_prefix: &dyn Fn() -> Box<[u8]>,
    variants: &[CompiledVariant],
    rule: &mut Rule,
    path: &Path<'_>,
    scope: &Scope<'_>,
    sink: &mut Sink<'_>,
) -> Option<CompiledRule> {
    let mut conditions = Vec::with_capacity(rule.conditions.len());
    for (i, c) in rule.conditions.iter_mut().enumerate() {
        if let Some(cc) = compile_condition(c, &path.item("conditions", i), scope, sink) {
            conditions.push(cc);
        }
    }
    let serve = compile_serve(bucket_prefix, variants, &mut rule.serve, &path.field("serve"), sink);
    let gate = rule.gate.as_mut().map(|g| compile_gate(g, &path.field("gate"), sink));
    let active_from = parse_schedule(rule.active_from.as_deref(), &path.field("active_from"), sink);
    let active_until = parse_schedule(rule.active_until.as_deref(), &path.field("active_until"), sink);
    if let (Some(Some(from)), Some(Some(until))) = (active_from, active_until)
        && from >= until
    {
        sink.push(format!("{path}.active_until"), "must be later than active_from");
    }
    Some(CompiledRule {
        id: std::mem::take(&mut rule.id),
        conditions,
        serve: serve?,
        schedule: match (active_from.flatten(), active_until.flatten()) {
            (None, None) => None,
            (from, until) => Some(Box::new(Schedule { from, until })),
        },
        gate: match gate {
            Some(g) => Some(Box::new(g?)),
            None => None,
        },
    })
}

fn compile_gate(g: &mut Gate, path: &Path<'_>, sink: &mut Sink<'_>) -> Option<CompiledGate> {
    let before = sink.problems.len();
    if g.hash != BucketHash::Unleash {
        sink.push(format!("{path}.hash"), "a gate uses the unleash hash");
    }
    if g.percentage > 100 {
        sink.push(format!("{path}.percentage"), format!("must be 0 to 100, found {}", g.percentage));
    }
    if g.bucket_by.iter().any(|n| n.is_empty()) {
        sink.push(format!("{path}.bucket_by"), "attribute names must not be empty");
    }
    if sink.problems.len() != before {
        return None;
    }
    Some(CompiledGate {
        percentage: g.percentage,
        bucket_by: BucketBy::new(std::mem::take(&mut g.bucket_by)),
        prefix: group_prefix(&g.group_id, 0),
    })
}

/// `None` when absent, `Some(None)` when present but invalid (reported), `Some(Some(ms))`.
fn parse_schedule(s: Option<&str>, path: &Path<'_>, sink: &mut Sink<'_>) -> Option<Option<i64>> {
    let s = s?;
    let parsed = datetime::parse_rfc3339_ms(s);
    if parsed.is_none() {
        sink.push(path.to_string(), format!("invalid RFC 3339 datetime '{s}'"));
    }
    Some(parsed)
}

/// An Unleash hash with `seed` after `group_id:`, what it reads before the value.
fn group_prefix(group: &str, seed: u32) -> Murmur {
    let mut m = Murmur::new(seed);
    m.update(group.as_bytes());
    m.update(b":");
    m
}

fn compile_serve(
    bucket_prefix: &dyn Fn() -> Box<[u8]>,
    variants: &[CompiledVariant],
    serve: &mut Serve,
    path: &Path<'_>,
    sink: &mut Sink<'_>,
) -> Option<CompiledServe> {
    match serve {
        Serve::Variant(k) => match variant_index(variants, k) {
            Some(i) => Some(CompiledServe::Variant(i)),
            None => {
                sink.push(format!("{path}.variant"), format!("unknown variant '{k}'"));
                None
            }
        },
        Serve::Rollout(r) => {
            let mut ok = true;
            let mut total: u64 = 0;
            for (k, w) in &r.weights {
                if variant_index(variants, k).is_none() {
                    sink.push(format!("{path}.rollout.weights.{k}"), format!("unknown variant '{k}'"));
                    ok = false;
                }
                total += u64::from(*w);
            }
            let hash = match r.hash {
                BucketHash::Xxh3 => {
                    if total != u64::from(ROLLOUT_SCALE) {
                        sink.push(
                            format!("{path}.rollout.weights"),
                            format!("weights must add up to {ROLLOUT_SCALE} (100%), they add up to {total}"),
                        );
                        ok = false;
                    }
                    if r.group_id.is_some() {
                        sink.push(format!("{path}.rollout.group_id"), "only with hash unleash");
                        ok = false;
                    }
                    CompiledHash::Xxh3 { prefix: bucket_prefix() }
                }
                BucketHash::Unleash => {
                    let modulus = u32::try_from(total).unwrap_or(0);
                    if modulus == 0 {
                        sink.push(
                            format!("{path}.rollout.weights"),
                            format!("weights must add up to 1 to {}, they add up to {total}", u32::MAX),
                        );
                        ok = false;
                    }
                    let Some(group) = &r.group_id else {
                        sink.push(format!("{path}.rollout.group_id"), "required with hash unleash");
                        return None;
                    };
                    let prefix = group_prefix(group, crate::murmur::VARIANT_SEED);
                    CompiledHash::Unleash { prefix, modulus }
                }
            };
            if r.bucket_by.iter().any(|n| n.is_empty()) {
                sink.push(format!("{path}.rollout.bucket_by"), "must not be empty");
                ok = false;
            }
            if !ok {
                return None;
            }
            // Buckets are laid out in variant declaration order, never in JSON key order.
            let mut thresholds = Vec::with_capacity(r.weights.len());
            let mut upper = 0u32;
            for (i, v) in variants.iter().enumerate() {
                let w = r.weights.get(&*v.key).copied().unwrap_or(0);
                if w > 0 {
                    upper = upper.saturating_add(w);
                    thresholds.push((upper, u32::try_from(i).unwrap_or(u32::MAX)));
                }
            }
            let bucket_by = BucketBy::new(std::mem::take(&mut r.bucket_by));
            Some(CompiledServe::Rollout(Box::new(CompiledRollout { bucket_by, hash, thresholds })))
        }
    }
}

fn compile_segment(seg: &Segment, scope: &Scope<'_>, sink: &mut Sink<'_>) -> SegmentLogic {
    let build = |list: &[String], field: &str, sink: &mut Sink<'_>| -> Option<KeySet> {
        if list.is_empty() {
            return None;
        }
        if seg.hashed {
            if scope.hash_salt.is_empty() {
                sink.push("hashed", "hashed key lists need the snapshot's hash_salt");
            }
            let mut set = HashedSet::new(scope.hash_salt, false);
            for (i, h) in list.iter().enumerate() {
                match parse_salted_hash(h) {
                    Some(d) => set.insert(d),
                    None => sink.push(format!("{field}[{i}]"), "expected a 32-hex-digit salted hash"),
                }
            }
            Some(KeySet::Hashed(set))
        } else {
            let bytes = list.iter().map(String::len).sum();
            let mut set = StringSet::with_capacity_and_bytes(list.len(), bytes, false);
            for k in list {
                set.insert(k);
            }
            Some(KeySet::Plain(set))
        }
    };
    let included = build(&seg.included, "included", sink);
    let excluded = build(&seg.excluded, "excluded", sink);
    let mut conditions = Vec::with_capacity(seg.conditions.len());
    for (i, c) in seg.conditions.iter().enumerate() {
        let path = Path::top_item("conditions", i);
        if matches!(c.operator, Operator::InSegment | Operator::NotInSegment) {
            sink.push(format!("{path}.operator"), "segments cannot refer to other segments");
            continue;
        }
        if let Some(cc) = compile_condition(&mut c.clone(), &path, scope, sink) {
            conditions.push(cc);
        }
    }
    SegmentLogic { included, excluded, conditions }
}

fn is_negative(op: Operator) -> bool {
    matches!(op, Operator::Neq | Operator::NotIn | Operator::NotContains | Operator::NotExists | Operator::NotInSegment)
}

fn supports_case_insensitive(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::Neq
            | Operator::In
            | Operator::NotIn
            | Operator::Contains
            | Operator::NotContains
            | Operator::StartsWith
            | Operator::EndsWith
            | Operator::Matches
    )
}

/// The string form of a condition value: strings as is, numbers canonical, booleans.
fn value_str(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => {
            let f = n.as_f64()?;
            let mut buf = text::ScalarBuf::new();
            Some(Cow::Owned(text::number_str(f, &mut buf).to_owned()))
        }
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

fn compile_condition(
    c: &mut Condition,
    path: &Path<'_>,
    scope: &Scope<'_>,
    sink: &mut Sink<'_>,
) -> Option<CompiledCondition> {
    let taken_attribute = std::mem::take(&mut c.attribute);
    let c = &*c;
    let op = c.operator;
    let before = sink.problems.len();
    let is_segment_op = matches!(op, Operator::InSegment | Operator::NotInSegment);
    let attribute: Name =
        if taken_attribute.is_empty() && is_segment_op { Cow::Borrowed(TARGETING_KEY) } else { taken_attribute };
    if attribute.is_empty() {
        sink.push(format!("{path}.attribute"), "must not be empty");
    }
    if c.case_insensitive && !supports_case_insensitive(op) {
        sink.push(format!("{path}.case_insensitive"), format!("not supported by operator {}", op.as_str()));
    }
    if c.hashed && !matches!(op, Operator::Eq | Operator::Neq | Operator::In | Operator::NotIn) {
        sink.push(format!("{path}.hashed"), format!("not supported by operator {}", op.as_str()));
    }
    if c.negate_missing && (matches!(op, Operator::Exists | Operator::NotExists) || is_segment_op) {
        sink.push(format!("{path}.negate_missing"), format!("not supported by operator {}", op.as_str()));
    }
    if c.default_now && !matches!(op, Operator::Before | Operator::After) {
        sink.push(format!("{path}.default_now"), format!("not supported by operator {}", op.as_str()));
    }
    let semver_op = matches!(
        op,
        Operator::SemverEq | Operator::SemverLt | Operator::SemverLte | Operator::SemverGt | Operator::SemverGte
    );
    if c.strict_semver && !semver_op {
        sink.push(format!("{path}.strict_semver"), format!("not supported by operator {}", op.as_str()));
    }
    let vpath = || format!("{path}.values");
    let ci = c.case_insensitive;

    let want_exactly_one = |sink: &mut Sink<'_>| -> Option<&Value> {
        if c.values.len() != 1 {
            sink.push(vpath(), format!("operator {} takes exactly one value, found {}", op.as_str(), c.values.len()));
            return None;
        }
        c.values.first()
    };
    let want_some = |sink: &mut Sink<'_>| {
        if c.values.is_empty() {
            sink.push(vpath(), format!("operator {} needs at least one value", op.as_str()));
        }
    };
    let strings = |sink: &mut Sink<'_>| -> Box<[Box<str>]> {
        want_some(sink);
        let mut out = Vec::with_capacity(c.values.len());
        for (i, v) in c.values.iter().enumerate() {
            match value_str(v) {
                Some(s) => out.push(if ci { text::fold(&s).into() } else { s.into_owned().into() }),
                None => sink.push(format!("{path}.values[{i}]"), "expected a string, number or boolean"),
            }
        }
        out.into_boxed_slice()
    };
    let key_set = |sink: &mut Sink<'_>| -> KeySet {
        want_some(sink);
        if c.hashed {
            if scope.hash_salt.is_empty() {
                sink.push(format!("{path}.hashed"), "hashed values need the snapshot's hash_salt");
            }
            let mut set = HashedSet::new(scope.hash_salt, ci);
            for (i, v) in c.values.iter().enumerate() {
                match v.as_str().and_then(parse_salted_hash) {
                    Some(d) => set.insert(d),
                    None => sink.push(format!("{path}.values[{i}]"), "expected a 32-hex-digit salted hash"),
                }
            }
            KeySet::Hashed(set)
        } else {
            // A number's text is rarely longer than 8 bytes.
            let bytes = c.values.iter().map(|v| v.as_str().map_or(8, str::len)).sum();
            let mut set = StringSet::with_capacity_and_bytes(c.values.len(), bytes, ci);
            for (i, v) in c.values.iter().enumerate() {
                match value_str(v) {
                    Some(s) => set.insert(&s),
                    None => sink.push(format!("{path}.values[{i}]"), "expected a string, number or boolean"),
                }
            }
            KeySet::Plain(set)
        }
    };
    let number = |sink: &mut Sink<'_>| -> Option<f64> {
        let v = want_exactly_one(sink)?;
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => crate::decimal::parse_f64(s.trim()),
            _ => None,
        }
        .filter(|n| n.is_finite());
        if n.is_none() {
            sink.push(vpath(), format!("operator {} needs a number, found {}", op.as_str(), crate::json::Text(v)));
        }
        n
    };
    let date = |sink: &mut Sink<'_>| -> Option<i64> {
        let v = want_exactly_one(sink)?;
        let t = v.as_str().and_then(datetime::parse_rfc3339_ms);
        if t.is_none() {
            sink.push(
                vpath(),
                format!("operator {} needs an RFC 3339 datetime, found {}", op.as_str(), crate::json::Text(v)),
            );
        }
        t
    };
    let version = |sink: &mut Sink<'_>| -> Option<OwnedVersion> {
        let v = want_exactly_one(sink)?;
        let strict_ok = !c.strict_semver || !v.as_str().is_some_and(|s| s.starts_with(['v', 'V']));
        let parsed = v.as_str().and_then(semver::parse).filter(|_| strict_ok).map(|p| p.to_owned_version());
        if parsed.is_none() {
            sink.push(
                vpath(),
                format!("operator {} needs a semantic version like 1.2.3, found {}", op.as_str(), crate::json::Text(v)),
            );
        }
        parsed
    };

    let test = match op {
        Operator::Exists | Operator::NotExists => {
            if !c.values.is_empty() {
                sink.push(vpath(), format!("operator {} takes no values", op.as_str()));
            }
            Some(Test::Exists)
        }
        Operator::Eq | Operator::Neq if c.hashed => Some(Test::In(key_set(sink))),
        Operator::Eq | Operator::Neq => match want_exactly_one(sink) {
            Some(Value::Number(n)) => n.as_f64().map(Test::EqNumber),
            Some(v) => match value_str(v) {
                Some(s) => Some(Test::EqString {
                    value: if ci { text::fold(&s).into() } else { s.into_owned().into() },
                    case_insensitive: ci,
                }),
                None => {
                    sink.push(vpath(), "expected a string, number or boolean");
                    None
                }
            },
            None => None,
        },
        Operator::In | Operator::NotIn => Some(Test::In(key_set(sink))),
        Operator::Contains | Operator::NotContains => {
            Some(Test::Contains { values: strings(sink), case_insensitive: ci })
        }
        Operator::StartsWith => Some(Test::StartsWith { values: strings(sink), case_insensitive: ci }),
        Operator::EndsWith => Some(Test::EndsWith { values: strings(sink), case_insensitive: ci }),
        Operator::Matches => {
            want_some(sink);
            let mut regexes = Vec::with_capacity(c.values.len());
            for (i, v) in c.values.iter().enumerate() {
                let Some(p) = v.as_str() else {
                    sink.push(format!("{path}.values[{i}]"), "expected a regular expression string");
                    continue;
                };
                if p.len() > MAX_REGEX_LEN {
                    sink.push(format!("{path}.values[{i}]"), format!("regex longer than {MAX_REGEX_LEN} bytes"));
                    continue;
                }
                match RegexBuilder::new(p).case_insensitive(ci).build() {
                    Ok(r) => regexes.push(r),
                    Err(e) => sink.push(format!("{path}.values[{i}]"), format!("invalid regex: {e}")),
                }
            }
            Some(Test::Matches(regexes.into_boxed_slice()))
        }
        Operator::Lt => number(sink).map(|n| Test::Number(Cmp::Lt, n)),
        Operator::Lte => number(sink).map(|n| Test::Number(Cmp::Lte, n)),
        Operator::Gt => number(sink).map(|n| Test::Number(Cmp::Gt, n)),
        Operator::Gte => number(sink).map(|n| Test::Number(Cmp::Gte, n)),
        Operator::Before => date(sink).map(|t| Test::Date(Cmp::Lt, t)),
        Operator::After => date(sink).map(|t| Test::Date(Cmp::Gt, t)),
        Operator::SemverEq => version(sink).map(|v| Test::Semver(Cmp::Eq, v, c.strict_semver)),
        Operator::SemverLt => version(sink).map(|v| Test::Semver(Cmp::Lt, v, c.strict_semver)),
        Operator::SemverLte => version(sink).map(|v| Test::Semver(Cmp::Lte, v, c.strict_semver)),
        Operator::SemverGt => version(sink).map(|v| Test::Semver(Cmp::Gt, v, c.strict_semver)),
        Operator::SemverGte => version(sink).map(|v| Test::Semver(Cmp::Gte, v, c.strict_semver)),
        Operator::InCidr => {
            want_some(sink);
            let mut blocks = Vec::with_capacity(c.values.len());
            for (i, v) in c.values.iter().enumerate() {
                match v.as_str().and_then(Cidr::parse) {
                    Some(b) => blocks.push(b),
                    None => {
                        sink.push(format!("{path}.values[{i}]"), format!("invalid CIDR block {}", crate::json::Text(v)))
                    }
                }
            }
            Some(Test::Cidr(blocks.into_boxed_slice()))
        }
        Operator::InSegment | Operator::NotInSegment => {
            want_some(sink);
            let mut ids = Vec::with_capacity(c.values.len());
            for (i, v) in c.values.iter().enumerate() {
                let Some(key) = v.as_str() else {
                    sink.push(format!("{path}.values[{i}]"), "expected a segment key");
                    continue;
                };
                match scope.segment_index.get(key) {
                    Some(id) if scope.segment_ok.get(id).copied().unwrap_or(false) => {
                        ids.push(u32::try_from(id).unwrap_or(u32::MAX))
                    }
                    Some(_) => sink.push(format!("{path}.values[{i}]"), format!("segment '{key}' is invalid")),
                    None => sink.push(format!("{path}.values[{i}]"), format!("unknown segment '{key}'")),
                }
            }
            Some(Test::Segment(ids.into_boxed_slice()))
        }
    };
    if sink.problems.len() != before {
        return None;
    }
    let invert = c.negate ^ is_negative(op);
    Some(CompiledCondition {
        attribute_hash: attribute_hash(&attribute),
        attribute,
        invert,
        when_missing: c.negate_missing && invert,
        default_now: c.default_now,
        test: test?,
    })
}

/// Marks flags on prerequisite cycles and flags whose chains are too deep.
fn check_prerequisite_graph(flags: &[CompiledFlag], problems: &mut Vec<(usize, Vec<(String, String)>)>) {
    const UNVISITED: u8 = 0;
    const ON_STACK: u8 = 1;
    const DONE: u8 = 2;
    let edges = |i: usize| -> &[CompiledPrerequisite] {
        flags.get(i).and_then(|f| f.logic.as_ref().ok()).map_or(&[], |l| &l.prerequisites)
    };
    let n = flags.len();
    if (0..n).all(|i| edges(i).is_empty()) {
        return;
    }
    let mut state = vec![UNVISITED; n];
    // Longest chain below each flag (0 = no prerequisites).
    let mut depth = vec![0usize; n];
    let name = |i: usize| flags.get(i).map_or("?", |f| &*f.key);
    let mut on_cycle = vec![false; n];
    // Iterative DFS: (node, next edge to look at).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if state.get(root) != Some(&UNVISITED) {
            continue;
        }
        stack.clear();
        stack.push((root, 0));
        if let Some(s) = state.get_mut(root) {
            *s = ON_STACK;
        }
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let es = edges(node);
            if let Some(e) = es.get(*next) {
                *next += 1;
                let child = e.flag as usize;
                match state.get(child).copied() {
                    Some(UNVISITED) => {
                        if let Some(s) = state.get_mut(child) {
                            *s = ON_STACK;
                        }
                        stack.push((child, 0));
                    }
                    Some(ON_STACK) => {
                        // Everything on the stack from `child` up is on the cycle.
                        let start = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        let cycle: Vec<usize> = stack.iter().skip(start).map(|(n, _)| *n).collect();
                        let mut names: Vec<&str> = cycle.iter().map(|&i| name(i)).collect();
                        names.push(name(child));
                        let text = names.join(" → ");
                        for &i in &cycle {
                            if let Some(flag_on_cycle) = on_cycle.get_mut(i)
                                && !*flag_on_cycle
                            {
                                *flag_on_cycle = true;
                                add_problem(
                                    problems,
                                    i,
                                    ("prerequisites".into(), format!("prerequisite cycle {text}")),
                                );
                            }
                        }
                    }
                    _ => {}
                }
            } else {
                let d = es.iter().map(|e| depth.get(e.flag as usize).copied().unwrap_or(0) + 1).max().unwrap_or(0);
                if let Some(slot) = depth.get_mut(node) {
                    *slot = d;
                }
                if let Some(s) = state.get_mut(node) {
                    *s = DONE;
                }
                stack.pop();
            }
        }
    }
    for (i, d) in depth.iter().enumerate() {
        if *d > MAX_PREREQUISITE_DEPTH && !on_cycle.get(i).copied().unwrap_or(false) {
            add_problem(
                problems,
                i,
                (
                    "prerequisites".into(),
                    format!("prerequisite chain is {d} flags deep; at most {MAX_PREREQUISITE_DEPTH} are allowed"),
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_flags_stay_small() {
        // A compiled snapshot is mostly rules and flags; rollouts, gates and schedules are
        // boxed because most rules have none (10k imported flags: 11.4 → 9.8 MB).
        assert!(size_of::<CompiledServe>() <= 16, "{}", size_of::<CompiledServe>());
        assert!(size_of::<CompiledRule>() <= 80, "{}", size_of::<CompiledRule>());
        assert!(size_of::<CompiledFlag>() <= 144, "{}", size_of::<CompiledFlag>());
    }
}
