//! Unleash client-API state → Vane [`Snapshot`].
//!
//! Input: the client API document `{version, features, segments?}` (`/api/client/features`), or
//! the delta form `{events: [...]}` (`hydration`, `feature-updated`, `feature-removed`,
//! `segment-updated`, `segment-removed`), folded in `eventId` order first.
//!
//! The mapping (see the module docs of [`crate::unleash`] for the overview):
//!
//! | Unleash | Vane |
//! |---|---|
//! | feature `name`, `enabled`, `description` | flag `key`, `enabled`, `description`; `off_variant: "off"` |
//! | `project`, `type`, `stale` | tags `unleash:project=…`, `unleash:type=…`, `unleash:stale` |
//! | `strategies: []` | the default serves the feature's variants (or `on`): always on |
//! | strategy `i` | rule `s{i}`: constraints + segments + the strategy's own check; its variants |
//! | `default` | no condition |
//! | `userWithId` | `userId in [userIds]` |
//! | `gradualRolloutUserId` / `SessionId` | gate `{percentage, group_id: groupId, bucket_by: userId / sessionId}` |
//! | `gradualRolloutRandom` | gate on `$random` (approximated) |
//! | `flexibleRollout` | gate `{rollout, groupId ?? feature, stickiness chain}` |
//! | `remoteAddress` | `remoteAddress in_cidr [valid IPs]` |
//! | `applicationHostname` | `hostname in [hostNames]` (approximated: the caller sets `hostname`) |
//! | other strategies | left out (never on, as in an SDK without them); reported |
//! | segment `id` | segment `unleash-segment-{id}`; a strategy reference is an `in_segment` condition |
//! | `dependencies` | prerequisites on the parent's variant keys |
//!
//! Keys of `json` flags: `off`, `on`, then one key per variant of the feature list and of each
//! strategy list, in that order (the Unleash name, or `name#f` / `name#s{i}` when taken), so each
//! list keeps its own order — the engine lays rollout buckets out in the flag's variant order.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use regex_lite::RegexBuilder;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_64;

use crate::cidr::Cidr;
use crate::compile::{CompiledSnapshot, MAX_REGEX_LEN, Warning, compile_owned};
#[cfg(feature = "typed")]
use crate::compile::{Compiler, SegmentSource};
use crate::model::{
    BucketHash, Condition, Flag, FlagType, Gate, Name, Operator, Prerequisite, RANDOM_ATTRIBUTE, Rollout, Rule,
    Segment, Serve, Snapshot, Variant,
};
use crate::unleash::answer::{DISABLED_NAME, OFF, ON, unleash_name};
use crate::{datetime, semver};

/// How an item of the Unleash state made it into the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Vane cannot represent it; it was left out (or replaced by "never holds").
    Unsupported,
    /// Imported with a documented difference from Unleash's SDKs.
    Approximated,
    /// Dropped or folded without changing any answer (Unleash ignores it too, or it can never
    /// hold), reported so nothing disappears silently.
    Ignored,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Unsupported => "unsupported",
            NoteKind::Approximated => "approximated",
            NoteKind::Ignored => "ignored",
        }
    }
}

/// One remark about one item of the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportNote {
    /// The feature's name; empty for items outside a feature (segments, events, the envelope).
    pub feature: String,
    /// Where in the feature (or the document), e.g. `strategies[1].constraints[0]`.
    pub path: String,
    pub kind: NoteKind,
    pub message: String,
}

impl fmt::Display for ImportNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind.as_str())?;
        match (self.feature.is_empty(), self.path.is_empty()) {
            (false, false) => write!(f, "feature '{}' {}: ", self.feature, self.path)?,
            (false, true) => write!(f, "feature '{}': ", self.feature)?,
            (true, false) => write!(f, "{}: ", self.path)?,
            (true, true) => {}
        }
        f.write_str(&self.message)
    }
}

/// The prefix of the Vane segment keys made from Unleash segment ids.
pub const SEGMENT_PREFIX: &str = "unleash-segment-";

/// The default stickiness chain of strategy rollouts: `userId`, then `sessionId`, then random.
const ROLLOUT_DEFAULT_CHAIN: [&str; 3] = ["userId", "sessionId", RANDOM_ATTRIBUTE];
/// The default stickiness chain of variants (the Node SDK's, which also tries `remoteAddress`).
const VARIANT_DEFAULT_CHAIN: [&str; 4] = ["userId", "sessionId", "remoteAddress", RANDOM_ATTRIBUTE];

// ---------------------------------------------------------------------------------------------
// Unleash's client API types
// ---------------------------------------------------------------------------------------------

// Strings borrow from the document where they can (`Cow`), so reading a feature copies only
// what the snapshot keeps.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Feature<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    description: Option<Cow<'a, str>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, borrow, deserialize_with = "tight")]
    strategies: Option<Vec<Strategy<'a>>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    variants: Option<Vec<VariantDef<'a>>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    dependencies: Option<Vec<Dependency<'a>>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    project: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "type", deserialize_with = "opt_str")]
    feature_type: Option<Cow<'a, str>>,
    #[serde(default)]
    stale: Option<bool>,
    #[serde(default)]
    impression_data: Option<bool>,
    /// Not part of the client feature type (seen in delta hydration); SDKs ignore it.
    #[serde(default)]
    segments: Option<Vec<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Strategy<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    parameters: Option<Params<'a>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    constraints: Option<Vec<Constraint<'a>>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    segments: Option<Vec<Scalar<'a>>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    variants: Option<Vec<VariantDef<'a>>>,
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Constraint<'a> {
    #[serde(default, borrow, deserialize_with = "opt_str")]
    context_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    operator: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    values: Option<Vec<Scalar<'a>>>,
    #[serde(default, borrow)]
    value: Option<Scalar<'a>>,
    #[serde(default)]
    inverted: Option<bool>,
    #[serde(default)]
    case_insensitive: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantDef<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    weight: Option<Scalar<'a>>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    stickiness: Option<Cow<'a, str>>,
    /// Taken (not copied) into the variant's answer when the flag is built.
    #[serde(default)]
    payload: RefCell<Option<Value>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    overrides: Option<Vec<Override<'a>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Override<'a> {
    #[serde(default, borrow, deserialize_with = "opt_str")]
    context_name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    values: Option<Vec<Scalar<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Dependency<'a> {
    #[serde(borrow)]
    feature: Cow<'a, str>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default, borrow, deserialize_with = "tight")]
    variants: Option<Vec<Cow<'a, str>>>,
}

#[derive(Debug, Deserialize)]
struct UnleashSegment<'a> {
    #[serde(borrow)]
    id: Scalar<'a>,
    #[serde(default, borrow, deserialize_with = "opt_str")]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "tight")]
    constraints: Option<Vec<Constraint<'a>>>,
}

/// A JSON value where Unleash expects text: strings borrowed, anything else kept as a [`Value`].
#[derive(Debug)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl Scalar<'_> {
    fn is_null(&self) -> bool {
        matches!(self, Scalar::Other(Value::Null))
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            Scalar::Other(_) => None,
        }
    }
}

/// As the value's JSON text (what a [`Value`] displays).
impl fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => {
                let mut text = String::with_capacity(s.len() + 2);
                crate::json::write_str(&mut text, s);
                f.write_str(&text)
            }
            Scalar::Other(v) => v.fmt(f),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // What `Value` makes of it (non-finite numbers cannot come from JSON text).
                Ok(Scalar::Other(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Other(Value::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::SeqAccessDeserializer::new(a)).map(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                Value::deserialize(de::value::MapAccessDeserializer::new(a)).map(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Strategy parameters in document order; a repeated name: the last one counts (as in a map).
#[derive(Debug, Default)]
struct Params<'a>(Vec<(Cow<'a, str>, Scalar<'a>)>);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&Scalar<'_>> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Params<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(4));
                while let Some((k, v)) = a.next_entry::<CowStr<'de>, Scalar<'de>>()? {
                    out.push((k.0, v));
                }
                Ok(Params(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A map key borrowed when the text allows it.
#[derive(Deserialize)]
struct CowStr<'a>(#[serde(borrow)] Cow<'a, str>);

/// An optional string borrowed when the text allows it: serde's `borrow` only borrows a `Cow`
/// field itself, so an `Option<Cow<str>>` would copy every value.
fn opt_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|s| s.0))
}

/// An optional list whose allocation fits one or two entries exactly. JSON text gives no
/// length, and a `Vec` read element by element reserves four at once; most Unleash lists
/// (strategies, constraints, values, variants) hold one or two entries.
fn tight<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    struct List<T>(Vec<T>);
    impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = List<T>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a sequence")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                    let Some(first) = a.next_element()? else { return Ok(List(Vec::new())) };
                    let Some(second) = a.next_element()? else { return Ok(List(vec![first])) };
                    let mut out = Vec::with_capacity(2 + a.size_hint().unwrap_or(0));
                    out.push(first);
                    out.push(second);
                    while let Some(next) = a.next_element()? {
                        out.push(next);
                    }
                    Ok(List(out))
                }
            }
            d.deserialize_seq(V(std::marker::PhantomData))
        }
    }
    Ok(Option::<List<T>>::deserialize(d)?.map(|l| l.0))
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// [`import`] of a JSON text.
pub fn import_str(
    doc: &str,
    application: &str,
    environment: &str,
    version: u64,
) -> Result<(Snapshot, Vec<ImportNote>), String> {
    #[cfg(feature = "typed")]
    {
        // A well-formed document is read in one pass, each feature becoming a flag as soon as
        // it is read; otherwise item by item, or as a `Value`.
        let mut import =
            Import::new(Snapshot::new(application, environment, version), Listed::with_capacity(doc.len() / 128));
        match one_pass(doc, &mut import) {
            OnePass::Read => Ok(import.into_snapshot()),
            refused => import_slowly(doc, application, environment, version, refused),
        }
    }
    #[cfg(not(feature = "typed"))]
    import_slowly(doc, application, environment, version)
}

/// How the one-pass reader left a document.
#[cfg(feature = "typed")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnePass {
    /// A client API document, all read.
    Read,
    /// A delta-events document: only [`import`] reads those.
    Events,
    /// Something the one-pass reader does not take (a repeated key, an item of an unexpected
    /// shape, not JSON, …); the item-by-item reader may.
    Refused,
}

/// Reads a client API document into `import` in one pass.
#[cfg(feature = "typed")]
fn one_pass<'a, S: Flags>(doc: &'a str, import: &mut Import<'a, S>) -> OnePass {
    let mut reader = serde_json::Deserializer::from_str(doc);
    let read = de::DeserializeSeed::deserialize(TypedState(import), &mut reader).and_then(|events| {
        reader.end()?;
        Ok(events)
    });
    match read {
        Ok(Present(false)) => OnePass::Read,
        Ok(Present(true)) => OnePass::Events,
        Err(_) => OnePass::Refused,
    }
}

/// [`import_str`] for a document the one-pass reader did not read: item by item if it refused
/// it, else (and if that fails too) through a [`Value`].
fn import_slowly(
    doc: &str,
    application: &str,
    environment: &str,
    version: u64,
    #[cfg(feature = "typed")] after: OnePass,
) -> Result<(Snapshot, Vec<ImportNote>), String> {
    #[cfg(feature = "typed")]
    if after == OnePass::Refused
        && let Some(done) = import_items(doc, application, environment, version)
    {
        return Ok(done);
    }
    let doc: Value = serde_json::from_str(doc).map_err(|e| format!("not JSON: {e}"))?;
    import(&doc, application, environment, version)
}

/// [`import_str`] straight to the compiled form: the same compiled snapshot, notes and warnings
/// as `compile_owned(import_str(..)?.0)`, but a client API document is compiled flag by flag as it
/// is read (each definition is dropped once compiled, so a large document never exists as a
/// snapshot and a compiled snapshot at once). What evaluates an Unleash document directly, as
/// an Unleash SDK's engine does, uses this. The importer's snapshots compile without warnings;
/// they are returned so a caller can check.
pub fn compile_str(
    doc: &str,
    application: &str,
    environment: &str,
    version: u64,
) -> Result<(CompiledSnapshot, Vec<ImportNote>, Vec<Warning>), String> {
    #[cfg(feature = "typed")]
    {
        // Room for a feature per 128 bytes (untouched room costs no memory), but a key table
        // (filled when made, and grown cheaply) for one per 512.
        let snapshot = Snapshot::new(application, environment, version);
        let mut compiler = Compiler::new(&snapshot.hash_salt, &[], doc.len() / 512);
        compiler.reserve_flags(doc.len() / 128);
        let mut import = Import::new(snapshot, Compiling { compiler });
        // Anything else (delta events, a document the one-pass reader refuses) goes the long way,
        // without reading it in one pass again.
        let after = one_pass(doc, &mut import);
        if after == OnePass::Read {
            let (snapshot, flags, notes) = import.finish();
            let mut warnings = Vec::new();
            let compiled = flags.compiler.finish_snapshot(snapshot, &mut warnings);
            return Ok((compiled, notes, warnings));
        }
        let (snapshot, notes) = import_slowly(doc, application, environment, version, after)?;
        let (compiled, warnings) = compile_owned(snapshot);
        Ok((compiled, notes, warnings))
    }
    #[cfg(not(feature = "typed"))]
    {
        let (snapshot, notes) = import_str(doc, application, environment, version)?;
        let (compiled, warnings) = compile_owned(snapshot);
        Ok((compiled, notes, warnings))
    }
}

/// A client API document the one-pass reader refused, read item by item without a [`Value`] tree
/// of the whole: an item the typed reader refuses goes through a `Value` of its own. `None` for
/// anything else (delta events, not an object, repeated keys at the top, …), which [`import`]
/// then reads and reports on.
#[cfg(feature = "typed")]
fn import_items(doc: &str, application: &str, environment: &str, version: u64) -> Option<(Snapshot, Vec<ImportNote>)> {
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    struct ClientState<'a> {
        #[serde(borrow)]
        features: Vec<&'a RawValue>,
        #[serde(default, borrow)]
        segments: Option<&'a RawValue>,
        #[serde(default)]
        events: Present,
    }
    let state: ClientState<'_> = serde_json::from_str(doc).ok()?;
    if state.events.0 {
        return None;
    }
    let mut import =
        Import::new(Snapshot::new(application, environment, version), Listed::with_capacity(state.features.len()));
    let segments: Vec<&RawValue> = match state.segments.map(RawValue::get) {
        None | Some("null") => Vec::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(list) => list,
            Err(_) => {
                import.notes.push("", "segments", NoteKind::Unsupported, "not an array; no segment was imported");
                Vec::new()
            }
        },
    };
    // An item the typed reader refuses goes through a `Value`, so what is accepted and the
    // words of a refusal are those of `import`.
    import.segments(segments.iter().map(|raw| {
        serde_json::from_str::<UnleashSegment<'_>>(raw.get()).or_else(|_| {
            let v: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            UnleashSegment::deserialize(v).map_err(|e| e.to_string())
        })
    }));
    for raw in &state.features {
        import.feature(serde_json::from_str::<Feature<'_>>(raw.get()).or_else(|_| {
            let v: Value = serde_json::from_str(raw.get()).map_err(|e| (String::new(), e.to_string()))?;
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            Feature::deserialize(v).map_err(|e| (name, e.to_string()))
        }));
    }
    Some(import.into_snapshot())
}

/// Converts an Unleash state (client API or delta events) into a snapshot for
/// `application` × `environment` at `version`, plus a note per item that is not imported
/// exactly. Only a document that is not an Unleash state at all is an error; a broken feature
/// is left out and reported. The snapshot always compiles without problems.
pub fn import(
    doc: &Value,
    application: &str,
    environment: &str,
    version: u64,
) -> Result<(Snapshot, Vec<ImportNote>), String> {
    let mut notes = Notes::new();
    let state = read_state(doc, &mut notes)?;
    let mut import =
        Import::new(Snapshot::new(application, environment, version), Listed::with_capacity(state.features.len()));
    import.notes = notes;
    import.segments(state.segments.iter().map(|raw| UnleashSegment::deserialize(*raw).map_err(|e| e.to_string())));
    for raw in &state.features {
        import.feature(
            Feature::deserialize(*raw)
                .map_err(|e| (raw.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(), e.to_string())),
        );
    }
    Ok(import.into_snapshot())
}

/// Feature name → index among the kept features, without copies of the names: the table holds
/// indices and the caller compares names where the features are.
struct Names(hashbrown::HashTable<usize>);

impl Names {
    fn with_capacity(n: usize) -> Self {
        Names(hashbrown::HashTable::with_capacity(n))
    }

    fn find(&self, name: &str, is: impl Fn(usize) -> bool) -> Option<usize> {
        self.0.find(xxh3_64(name.as_bytes()), |&k| is(k)).copied()
    }

    /// Adds a name [`Names::find`] did not find; `name_of` gives an entry's name if the table grows.
    fn insert<'n>(&mut self, name: &str, index: usize, name_of: impl Fn(usize) -> &'n str) {
        self.0.insert_unique(xxh3_64(name.as_bytes()), index, |&k| xxh3_64(name_of(k).as_bytes()));
    }
}

/// Reads a client state in one pass into an [`Import`] (what a derived reader would: unknown
/// members skipped, a repeated one refused); the value is whether the document has `events`.
#[cfg(feature = "typed")]
struct TypedState<'i, 'a, S>(&'i mut Import<'a, S>);

#[cfg(feature = "typed")]
impl<'de, S: Flags> de::DeserializeSeed<'de> for TypedState<'_, 'de, S> {
    type Value = Present;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

#[cfg(feature = "typed")]
impl<'de, S: Flags> Visitor<'de> for TypedState<'_, 'de, S> {
    type Value = Present;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Unleash client state")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let (mut features, mut segments, mut events) = (false, false, None);
        while let Some(key) = a.next_key::<CowStr<'de>>()? {
            match key.0.as_ref() {
                "features" if !features => {
                    a.next_value_seed(FeatureList(&mut *self.0))?;
                    features = true;
                }
                "segments" if !segments => {
                    let list = a.next_value::<Option<Vec<UnleashSegment>>>()?;
                    self.0.segments(list.into_iter().flatten().map(Ok));
                    segments = true;
                }
                "events" if events.is_none() => events = Some(a.next_value::<Present>()?),
                name @ ("features" | "segments" | "events") => {
                    return Err(de::Error::custom(format_args!("duplicate field `{name}`")));
                }
                _ => {
                    a.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !features {
            return Err(de::Error::missing_field("features"));
        }
        Ok(events.unwrap_or_default())
    }
}

/// The feature list, each feature handed to the import as soon as it is read.
#[cfg(feature = "typed")]
struct FeatureList<'i, 'a, S>(&'i mut Import<'a, S>);

#[cfg(feature = "typed")]
impl<'de, S: Flags> de::DeserializeSeed<'de> for FeatureList<'_, 'de, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

#[cfg(feature = "typed")]
impl<'de, S: Flags> Visitor<'de> for FeatureList<'_, 'de, S> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        while let Some(f) = a.next_element()? {
            self.0.feature(Ok(f));
        }
        Ok(())
    }
}

/// Whether a member is there at all (`null` included).
#[cfg(feature = "typed")]
#[derive(Default)]
struct Present(bool);

#[cfg(feature = "typed")]
impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// Features whose reading failed carry their name (if any) and the reason.
type ReadFeature<'a> = Result<Feature<'a>, (String, String)>;

/// A snapshot being built from Unleash items as they are read: segments, then features in
/// document order, in any interleaving. A feature becomes its flag at once and is dropped
/// (so a large document is never held as features and flags at the same time), unless it
/// refers to segments not read yet; prerequisites are worked out at the end, when every
/// parent's variants are known.
struct Import<'a, S> {
    /// The snapshot's envelope and segments; its flags go to `flags`.
    snapshot: Snapshot,
    flags: S,
    notes: Notes,
    /// Segment id → what a reference to it means.
    segments: HashMap<String, SegmentUse>,
    segments_read: bool,
    /// Features that refer to segments read before the segments, with their flag's index (the
    /// flag is a placeholder until [`Import::finish`]).
    waiting: Vec<(usize, Feature<'a>)>,
    /// Kept features with dependencies, with their flag's index.
    dependent: Vec<(usize, Feature<'a>)>,
    /// Features read so far, kept or not.
    read: usize,
}

/// Where an import puts the flags it builds, in document order: a list for a snapshot
/// ([`Listed`]) or a compiler ([`Compiling`]). The last definition of a name wins (as in the
/// SDKs' maps), in the place of the first.
trait Flags {
    /// How many there are (the index of the next one).
    fn len(&self) -> usize;
    /// The index of the flag with this key.
    fn find(&self, key: &str) -> Option<usize>;
    /// What a dependency on flag `index` needs to know of it.
    fn parent(&self, index: usize) -> Option<Parent<'_>>;
    /// Appends a flag (its key not taken yet); its index. A `held` flag gets its dependencies
    /// from [`Flags::settle`] before it is final.
    fn add(&mut self, flag: Flag, held: bool) -> usize;
    /// Puts `flag` in the place of flag `index`, which has the same key.
    fn replace(&mut self, index: usize, flag: Flag, held: bool);
    /// The dependencies of held flag `index`.
    fn settle(&mut self, index: usize, enabled: bool, prerequisites: Vec<Prerequisite>);
    /// The snapshot's segments, once read (flags referring to them come after).
    fn segments(&mut self, segments: &[Segment]);
}

/// A parent flag as [`dependencies`] sees it.
struct Parent<'f> {
    key: &'f str,
    /// Boolean, without explicit variants.
    boolean: bool,
    /// Variant keys, in order (`off`, `on`, then the Unleash variants for a json flag).
    variants: Vec<&'f str>,
}

/// The flags of a snapshot ([`import`]).
struct Listed {
    list: Vec<Flag>,
    by_name: Names,
}

impl Listed {
    fn with_capacity(n: usize) -> Self {
        Listed { list: Vec::with_capacity(n), by_name: Names::with_capacity(n) }
    }
}

impl Flags for Listed {
    fn len(&self) -> usize {
        self.list.len()
    }
    fn find(&self, key: &str) -> Option<usize> {
        let list = &self.list;
        self.by_name.find(key, |k| list.get(k).is_some_and(|g| g.key == key))
    }
    fn parent(&self, index: usize) -> Option<Parent<'_>> {
        let f = self.list.get(index)?;
        Some(Parent {
            key: &f.key,
            boolean: f.variants.is_empty(),
            variants: f.variants.iter().map(|v| &*v.key).collect(),
        })
    }
    fn add(&mut self, flag: Flag, _held: bool) -> usize {
        let k = self.list.len();
        self.list.push(flag);
        let list = &self.list;
        let key = list.get(k).map_or("", |g| g.key.as_str());
        self.by_name.insert(key, k, |j| list.get(j).map_or("", |g| g.key.as_str()));
        k
    }
    fn replace(&mut self, index: usize, flag: Flag, _held: bool) {
        if let Some(old) = self.list.get_mut(index) {
            *old = flag;
        }
    }
    fn settle(&mut self, index: usize, enabled: bool, prerequisites: Vec<Prerequisite>) {
        if let Some(flag) = self.list.get_mut(index) {
            flag.enabled = enabled;
            flag.prerequisites = prerequisites;
        }
    }
    fn segments(&mut self, _segments: &[Segment]) {}
}

/// Flags compiled as they are built ([`compile_str`]): each definition is dropped once
/// compiled, so the document is never held as flags and compiled flags at the same time.
#[cfg(feature = "typed")]
struct Compiling {
    compiler: Compiler,
}

#[cfg(feature = "typed")]
impl Flags for Compiling {
    fn len(&self) -> usize {
        self.compiler.len()
    }
    fn find(&self, key: &str) -> Option<usize> {
        self.compiler.find(key)
    }
    fn parent(&self, index: usize) -> Option<Parent<'_>> {
        let f = self.compiler.flag(index)?;
        // Listed without variants: the compiled form gives a boolean flag `on`/`off`.
        let boolean = f.implicit_variants();
        let variants = if boolean { Vec::new() } else { f.variants.iter().map(|v| &*v.key).collect() };
        Some(Parent { key: &f.key, boolean, variants })
    }
    fn add(&mut self, flag: Flag, held: bool) -> usize {
        self.compiler.add_flag(flag, held)
    }
    fn replace(&mut self, index: usize, flag: Flag, held: bool) {
        self.compiler.replace(index, flag, held);
    }
    fn settle(&mut self, index: usize, enabled: bool, prerequisites: Vec<Prerequisite>) {
        if let Some(flag) = self.compiler.held_mut(index) {
            flag.enabled = enabled;
            flag.prerequisites = prerequisites;
        }
    }
    fn segments(&mut self, segments: &[Segment]) {
        let sources: Vec<SegmentSource<'_>> = segments.iter().map(SegmentSource::Parsed).collect();
        self.compiler.add_segments(&sources);
    }
}

impl<'a, S: Flags> Import<'a, S> {
    fn new(snapshot: Snapshot, flags: S) -> Self {
        Import {
            snapshot,
            flags,
            notes: Notes::new(),
            segments: HashMap::new(),
            segments_read: false,
            waiting: Vec::new(),
            dependent: Vec::new(),
            read: 0,
        }
    }

    /// The state's segments: id → what a reference to it means.
    fn segments(&mut self, read: impl IntoIterator<Item = Result<UnleashSegment<'a>, String>>) {
        let notes = &mut self.notes;
        notes.at = Stage::State;
        let snapshot = &mut self.snapshot;
        let segments = &mut self.segments;
        for (i, read) in read.into_iter().enumerate() {
            let seg = match read {
                Ok(s) => s,
                Err(e) => {
                    notes.push(
                        "",
                        format!("segments[{i}]"),
                        NoteKind::Unsupported,
                        format!("unreadable segment, left out: {e}"),
                    );
                    continue;
                }
            };
            let Some(id) = scalar_id(&seg.id) else {
                notes.push(
                    "",
                    format!("segments[{i}].id"),
                    NoteKind::Unsupported,
                    "segment id is not a number or string; left out",
                );
                continue;
            };
            let key = format!("{SEGMENT_PREFIX}{id}");
            let mut conditions = Vec::new();
            let mut never = false;
            for (j, c) in seg.constraints.iter().flatten().enumerate() {
                let path = format!("segments[id={id}].constraints[{j}]");
                match constraint(c, "", &path, notes) {
                    Folded::Const(true) => {}
                    Folded::Const(false) => never = true,
                    Folded::Condition(c) => conditions.push(c),
                }
            }
            let used = if never {
                SegmentUse::Never
            } else if conditions.is_empty() {
                SegmentUse::Always
            } else {
                snapshot.segments.retain(|s| s.key != key);
                snapshot.segments.push(Segment {
                    key: key.clone(),
                    description: seg.name.as_deref().unwrap_or_default().to_owned(),
                    conditions,
                    included: Vec::new(),
                    excluded: Vec::new(),
                    hashed: false,
                });
                SegmentUse::Member(key)
            };
            if segments.insert(id.clone(), used).is_some() {
                notes.push(
                    "",
                    format!("segments[{i}]"),
                    NoteKind::Ignored,
                    format!("duplicate segment id {id}; the later one is used"),
                );
            }
        }
        // Segments that became constants may have left an earlier definition behind.
        snapshot.segments.retain(|s| {
            s.key.strip_prefix(SEGMENT_PREFIX).is_some_and(|id| matches!(segments.get(id), Some(SegmentUse::Member(_))))
        });
        self.segments_read = true;
        self.flags.segments(&self.snapshot.segments);
    }

    /// The next feature of the state's list.
    fn feature(&mut self, read: ReadFeature<'a>) {
        let i = self.read;
        self.read += 1;
        self.notes.at = Stage::Read(i);
        let f = match read {
            Ok(f) if f.name.is_empty() => {
                self.notes.push(
                    "",
                    format!("features[{i}]"),
                    NoteKind::Unsupported,
                    "feature without a name, left out",
                );
                return;
            }
            Ok(f) => f,
            Err((name, e)) => {
                self.notes.push(
                    &name,
                    format!("features[{i}]"),
                    NoteKind::Unsupported,
                    format!("unreadable feature, left out: {e}"),
                );
                return;
            }
        };
        let slot = self.flags.find(&f.name);
        if let Some(k) = slot {
            self.notes.push(&f.name, "", NoteKind::Ignored, "defined twice; the later definition is used");
            // What the earlier definition made goes.
            self.notes.list.retain(|(at, _)| *at != Stage::Flag(k));
            self.waiting.retain(|(at, _)| *at != k);
            self.dependent.retain(|(at, _)| *at != k);
        }
        let refers_to_segments =
            || f.strategies.iter().flatten().any(|s| s.segments.as_ref().is_some_and(|s| !s.is_empty()));
        if !self.segments_read && refers_to_segments() {
            let k = match slot {
                Some(k) => {
                    self.flags.replace(k, placeholder(&f.name), true);
                    k
                }
                None => self.flags.add(placeholder(&f.name), true),
            };
            self.waiting.push((k, f));
            return;
        }
        self.build(slot, f);
    }

    /// Makes `f`'s flag, in place `slot` (a flag of the same name) or appended.
    fn build(&mut self, slot: Option<usize>, f: Feature<'a>) {
        self.notes.at = Stage::Flag(slot.unwrap_or(self.flags.len()));
        let plan = plan_feature(&f, &self.segments, &mut self.notes);
        let flag = build_flag(&f, plan, self.snapshot.version);
        let held = f.dependencies.as_ref().is_some_and(|d| !d.is_empty());
        let k = match slot {
            Some(k) => {
                self.flags.replace(k, flag, held);
                k
            }
            None => self.flags.add(flag, held),
        };
        if held {
            self.dependent.push((k, f));
        }
    }

    fn finish(mut self) -> (Snapshot, S, Vec<ImportNote>) {
        for (k, f) in std::mem::take(&mut self.waiting) {
            self.build(Some(k), f);
        }
        let mut dependent = std::mem::take(&mut self.dependent);
        dependent.sort_unstable_by_key(|(k, _)| *k);
        let has_dependencies = |k: usize| dependent.binary_search_by_key(&k, |(at, _)| *at).is_ok();
        for (k, f) in &dependent {
            self.notes.at = Stage::Dependencies(*k);
            let (enabled, prerequisites) = dependencies(f, &self.flags, has_dependencies, &mut self.notes);
            self.flags.settle(*k, enabled, prerequisites);
        }
        (self.snapshot, self.flags, self.notes.into_sorted())
    }
}

impl Import<'_, Listed> {
    fn into_snapshot(self) -> (Snapshot, Vec<ImportNote>) {
        let (mut snapshot, flags, notes) = self.finish();
        snapshot.flags = flags.list;
        (snapshot, notes)
    }
}

/// The flag of a feature waiting for segments, until it is built.
fn placeholder(name: &str) -> Flag {
    Flag {
        key: name.to_owned(),
        flag_type: FlagType::Boolean,
        variants: Vec::new(),
        description: String::new(),
        tags: Vec::new(),
        enabled: false,
        off_variant: None,
        rules: Vec::new(),
        default: Serve::Variant(OFF.into()),
        prerequisites: Vec::new(),
        salt: String::new(),
        version: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the state
// ---------------------------------------------------------------------------------------------

/// Where a note belongs in the report: reading the state and its segments; reading feature `i`
/// of the list; the flag at index `k`; its prerequisites. Items are imported in the order the
/// document lists them, so the notes are put in this order at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    State,
    Read(usize),
    Flag(usize),
    Dependencies(usize),
}

struct Notes {
    list: Vec<(Stage, ImportNote)>,
    /// The stage of the notes pushed now.
    at: Stage,
}

impl Notes {
    fn new() -> Self {
        Notes { list: Vec::new(), at: Stage::State }
    }

    fn push(&mut self, feature: &str, path: impl fmt::Display, kind: NoteKind, message: impl Into<String>) {
        let note = ImportNote { feature: feature.to_owned(), path: path.to_string(), kind, message: message.into() };
        self.list.push((self.at, note));
    }

    /// In stage order; notes of one stage in the order they were made.
    fn into_sorted(mut self) -> Vec<ImportNote> {
        self.list.sort_by_key(|(at, _)| *at);
        self.list.into_iter().map(|(_, note)| note).collect()
    }
}

/// A place in the document, written out only when a note needs it.
#[derive(Clone, Copy)]
enum At<'p> {
    /// `name[i]`
    Item(&'static str, usize),
    /// `parent.name[i]`
    SubItem(&'p At<'p>, &'static str, usize),
    /// `parent.name`
    Field(&'p At<'p>, &'static str),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Item(name, i) => write!(f, "{name}[{i}]"),
            At::SubItem(parent, name, i) => write!(f, "{parent}.{name}[{i}]"),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

struct State<'a> {
    features: Vec<&'a Value>,
    segments: Vec<&'a Value>,
}

fn read_state<'a>(doc: &'a Value, notes: &mut Notes) -> Result<State<'a>, String> {
    let Value::Object(map) = doc else {
        return Err("an Unleash state must be a JSON object ({version, features} or {events})".into());
    };
    if let Some(events) = map.get("events") {
        let Value::Array(events) = events else {
            return Err("`events` must be an array".into());
        };
        return Ok(fold_events(events, notes));
    }
    let features = match map.get("features") {
        Some(Value::Array(f)) => f.iter().collect(),
        Some(_) => return Err("`features` must be an array".into()),
        None => {
            return Err(
                "not an Unleash state: expected {version, features, segments?} (client API) or {events} (delta API)"
                    .into(),
            );
        }
    };
    let segments = match map.get("segments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(s)) => s.iter().collect(),
        Some(_) => {
            notes.push("", "segments", NoteKind::Unsupported, "not an array; no segment was imported");
            Vec::new()
        }
    };
    Ok(State { features, segments })
}

/// Applies delta events in `eventId` order onto an empty state.
fn fold_events<'a>(events: &'a [Value], notes: &mut Notes) -> State<'a> {
    let mut ordered: Vec<(f64, usize, &Value)> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        match e.get("eventId").and_then(Value::as_f64) {
            Some(id) => ordered.push((id, i, e)),
            None => notes.push(
                "",
                format!("events[{i}]"),
                NoteKind::Unsupported,
                "event without a numeric eventId, ignored",
            ),
        }
    }
    ordered.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut features: Vec<&Value> = Vec::new();
    let mut segments: Vec<&Value> = Vec::new();
    let name_of = |f: &Value| f.get("name").and_then(Value::as_str).map(str::to_owned);
    let id_of = |s: &Value| s.get("id").and_then(id_key);
    for (_, i, e) in ordered {
        let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "hydration" => {
                features = e.get("features").and_then(Value::as_array).map(|f| f.iter().collect()).unwrap_or_default();
                segments = e.get("segments").and_then(Value::as_array).map(|s| s.iter().collect()).unwrap_or_default();
            }
            "feature-updated" => match e.get("feature") {
                Some(f) => upsert(&mut features, f, name_of),
                None => {
                    notes.push("", format!("events[{i}]"), NoteKind::Unsupported, "feature-updated without a feature")
                }
            },
            "feature-removed" => match e.get("featureName").and_then(Value::as_str) {
                Some(name) => features.retain(|f| name_of(f).as_deref() != Some(name)),
                None => notes.push(
                    "",
                    format!("events[{i}]"),
                    NoteKind::Unsupported,
                    "feature-removed without a featureName",
                ),
            },
            "segment-updated" => match e.get("segment") {
                Some(s) => upsert(&mut segments, s, id_of),
                None => {
                    notes.push("", format!("events[{i}]"), NoteKind::Unsupported, "segment-updated without a segment")
                }
            },
            "segment-removed" => match e.get("segmentId").and_then(id_key) {
                Some(id) => segments.retain(|s| id_of(s).as_deref() != Some(id.as_str())),
                None => {
                    notes.push("", format!("events[{i}]"), NoteKind::Unsupported, "segment-removed without a segmentId")
                }
            },
            other => notes.push("", format!("events[{i}]"), NoteKind::Ignored, format!("unknown event type '{other}'")),
        }
    }
    State { features, segments }
}

/// Replaces the item with the same identity (`None` matches nothing), or appends.
fn upsert<'a>(list: &mut Vec<&'a Value>, item: &'a Value, identity: impl Fn(&Value) -> Option<String>) {
    let id = identity(item);
    match list.iter_mut().find(|old| id.is_some() && identity(old) == id) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

/// A segment id as text: numbers and strings (Unleash ids are numbers).
fn id_key(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// [`id_key`] of a read id.
fn scalar_id(v: &Scalar<'_>) -> Option<String> {
    match v {
        Scalar::Str(s) => Some(s.as_ref().to_owned()),
        Scalar::Other(v) => id_key(v),
    }
}

// ---------------------------------------------------------------------------------------------
// Constraints
// ---------------------------------------------------------------------------------------------

/// A constraint after folding: decided without a context, or a condition.
#[derive(Debug)]
enum Folded {
    Const(bool),
    Condition(Condition),
}

/// What a reference to a segment means.
#[derive(Debug)]
enum SegmentUse {
    /// A constraint of it can never hold: every strategy referring to it is off.
    Never,
    /// No constraint left: the reference always holds.
    Always,
    Member(String),
}

fn condition(attribute: &str, operator: Operator, values: Vec<Value>, inverted: bool) -> Condition {
    Condition {
        negate: inverted,
        // Unleash: a missing attribute fails the positive test, and `inverted` / NOT_IN flip that.
        negate_missing: true,
        ..Condition::new(known(attribute), operator, values)
    }
}

/// Unleash's own names (context fields, strategies) borrow a constant; any other is copied.
fn known(name: &str) -> Name {
    let constant = match name {
        "userId" => "userId",
        "sessionId" => "sessionId",
        "remoteAddress" => "remoteAddress",
        "environment" => "environment",
        "appName" => "appName",
        "currentTime" => "currentTime",
        RANDOM_ATTRIBUTE => RANDOM_ATTRIBUTE,
        "default" => "default",
        "userWithId" => "userWithId",
        "flexibleRollout" => "flexibleRollout",
        "gradualRolloutUserId" => "gradualRolloutUserId",
        "gradualRolloutSessionId" => "gradualRolloutSessionId",
        "gradualRolloutRandom" => "gradualRolloutRandom",
        "applicationHostname" => "applicationHostname",
        other => return Cow::Owned(other.to_owned()),
    };
    Cow::Borrowed(constant)
}

/// The string form of a list entry; `None` for null, lists and objects.
fn scalar_string(v: &Scalar<'_>) -> Option<String> {
    match v {
        Scalar::Str(s) => Some(s.as_ref().to_owned()),
        Scalar::Other(Value::Number(n)) => Some(n.to_string()),
        Scalar::Other(Value::Bool(b)) => Some(b.to_string()),
        Scalar::Other(_) => None,
    }
}

fn constraint(c: &Constraint<'_>, feature: &str, path: &dyn fmt::Display, notes: &mut Notes) -> Folded {
    let inverted = c.inverted.unwrap_or(false);
    let ci = c.case_insensitive.unwrap_or(false);
    let op = c.operator.as_deref().unwrap_or_default();
    // A test decided without the context: `positive`, then `inverted` flips it (as Unleash does).
    let fixed = |positive: bool| Folded::Const(positive ^ inverted);

    let list = |notes: &mut Notes| -> Vec<String> {
        let mut out = Vec::with_capacity(c.values.as_ref().map_or(0, Vec::len));
        for (i, v) in c.values.iter().flatten().enumerate() {
            match scalar_string(v) {
                Some(s) => out.push(s),
                None => notes.push(feature, format!("{path}.values[{i}]"), NoteKind::Ignored, "not a string; skipped"),
            }
        }
        out
    };
    let single = |notes: &mut Notes| -> Option<String> {
        let v = c.value.as_ref().filter(|v| !v.is_null()).or_else(|| c.values.as_ref().and_then(|v| v.first()));
        let s = v.and_then(scalar_string);
        if s.is_none() {
            notes.push(feature, path, NoteKind::Unsupported, format!("{op} without a value never holds"));
        }
        s
    };

    let attribute = match c.context_name.as_deref() {
        Some(a) if !a.is_empty() => a,
        _ => {
            notes.push(
                feature,
                path,
                NoteKind::Unsupported,
                "constraint without a contextName: its attribute is always missing",
            );
            let negative = op == "NOT_IN";
            return if is_known_operator(op) { fixed(negative) } else { Folded::Const(false) };
        }
    };

    match op {
        "IN" | "NOT_IN" => {
            let negative = op == "NOT_IN";
            if ci {
                notes.push(
                    feature,
                    format!("{path}.caseInsensitive"),
                    NoteKind::Ignored,
                    format!("{op} compares case-sensitively in Unleash's SDKs; caseInsensitive is ignored"),
                );
            }
            let values = list(notes);
            if values.is_empty() {
                // IN [] never holds; NOT_IN [] always does.
                return fixed(negative);
            }
            let operator = if negative { Operator::NotIn } else { Operator::In };
            Folded::Condition(condition(attribute, operator, values.into_iter().map(Value::String).collect(), inverted))
        }
        "STR_CONTAINS" | "STR_STARTS_WITH" | "STR_ENDS_WITH" => {
            let operator = match op {
                "STR_CONTAINS" => Operator::Contains,
                "STR_STARTS_WITH" => Operator::StartsWith,
                _ => Operator::EndsWith,
            };
            let values = list(notes);
            if values.is_empty() {
                return fixed(false);
            }
            let mut cond = condition(attribute, operator, values.into_iter().map(Value::String).collect(), inverted);
            cond.case_insensitive = ci;
            Folded::Condition(cond)
        }
        "NUM_EQ" | "NUM_GT" | "NUM_GTE" | "NUM_LT" | "NUM_LTE" => {
            let operator = match op {
                "NUM_EQ" => Operator::Eq,
                "NUM_GT" => Operator::Gt,
                "NUM_GTE" => Operator::Gte,
                "NUM_LT" => Operator::Lt,
                _ => Operator::Lte,
            };
            let Some(raw) = single(notes) else { return fixed(false) };
            let number =
                raw.trim().parse::<f64>().ok().filter(|n| n.is_finite()).and_then(serde_json::Number::from_f64);
            let Some(number) = number else {
                notes.push(
                    feature,
                    path,
                    NoteKind::Ignored,
                    format!("{op} value '{raw}' is not a number: never holds"),
                );
                return fixed(false);
            };
            // A JSON number, so the engine compares numerically (a string would compare as text).
            Folded::Condition(condition(attribute, operator, vec![Value::Number(number)], inverted))
        }
        "DATE_AFTER" | "DATE_BEFORE" => {
            let operator = if op == "DATE_AFTER" { Operator::After } else { Operator::Before };
            let Some(raw) = single(notes) else { return fixed(false) };
            if datetime::parse_rfc3339_ms(&raw).is_none() {
                notes.push(
                    feature,
                    path,
                    NoteKind::Ignored,
                    format!("{op} value '{raw}' is not an RFC 3339 datetime: never holds"),
                );
                return fixed(false);
            }
            let mut cond = condition(attribute, operator, vec![Value::String(raw)], inverted);
            // Unleash compares the current time when the context has no currentTime.
            cond.default_now = attribute == "currentTime";
            Folded::Condition(cond)
        }
        "SEMVER_EQ" | "SEMVER_GT" | "SEMVER_GTE" | "SEMVER_LT" | "SEMVER_LTE" => {
            let operator = match op {
                "SEMVER_EQ" => Operator::SemverEq,
                "SEMVER_GT" => Operator::SemverGt,
                "SEMVER_GTE" => Operator::SemverGte,
                "SEMVER_LT" => Operator::SemverLt,
                _ => Operator::SemverLte,
            };
            let Some(raw) = single(notes) else { return fixed(false) };
            if raw.starts_with(['v', 'V']) || semver::parse(&raw).is_none() {
                notes.push(
                    feature,
                    path,
                    NoteKind::Ignored,
                    format!("{op} value '{raw}' is not a strict semantic version: never holds"),
                );
                return fixed(false);
            }
            let mut cond = condition(attribute, operator, vec![Value::String(raw)], inverted);
            cond.strict_semver = true;
            Folded::Condition(cond)
        }
        "REGEX" => {
            let Some(pattern) = single(notes) else { return fixed(false) };
            if pattern.len() > MAX_REGEX_LEN {
                notes.push(
                    feature,
                    path,
                    NoteKind::Unsupported,
                    format!("regex longer than {MAX_REGEX_LEN} bytes: never matches"),
                );
                return fixed(false);
            }
            if let Err(e) = RegexBuilder::new(&pattern).case_insensitive(ci).build() {
                notes.push(
                    feature,
                    path,
                    NoteKind::Unsupported,
                    format!("regex not supported by the engine (no look-around, backreferences or Unicode classes), never matches: {e}"),
                );
                return fixed(false);
            }
            let mut cond = condition(attribute, Operator::Matches, vec![Value::String(pattern)], inverted);
            cond.case_insensitive = ci;
            Folded::Condition(cond)
        }
        "IN_CIDR" => {
            let mut blocks = Vec::new();
            for (i, v) in c.values.iter().flatten().enumerate() {
                match v.as_str().map(str::trim).filter(|s| Cidr::parse(s).is_some()) {
                    Some(s) => blocks.push(Value::from(s)),
                    None => notes.push(
                        feature,
                        format!("{path}.values[{i}]"),
                        NoteKind::Ignored,
                        format!("not an IP address or CIDR block, skipped (as the SDKs do): {v}"),
                    ),
                }
            }
            if blocks.is_empty() {
                return fixed(false);
            }
            Folded::Condition(condition(attribute, Operator::InCidr, blocks, inverted))
        }
        other => {
            notes.push(
                feature,
                format!("{path}.operator"),
                NoteKind::Unsupported,
                format!("unknown operator '{other}': the constraint never holds (as in the SDKs)"),
            );
            Folded::Const(false)
        }
    }
}

fn is_known_operator(op: &str) -> bool {
    matches!(
        op,
        "IN" | "NOT_IN"
            | "STR_CONTAINS"
            | "STR_STARTS_WITH"
            | "STR_ENDS_WITH"
            | "NUM_EQ"
            | "NUM_GT"
            | "NUM_GTE"
            | "NUM_LT"
            | "NUM_LTE"
            | "DATE_AFTER"
            | "DATE_BEFORE"
            | "SEMVER_EQ"
            | "SEMVER_GT"
            | "SEMVER_GTE"
            | "SEMVER_LT"
            | "SEMVER_LTE"
            | "REGEX"
            | "IN_CIDR"
    )
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A strategy that can be on, ready to become a rule.
#[derive(Debug)]
struct StrategyPlan<'f> {
    /// Index in the feature's `strategies`.
    index: usize,
    name: &'f str,
    conditions: Vec<Condition>,
    gate: Option<Gate>,
    /// Its own variants (total weight > 0), group id and stickiness.
    variants: Option<VariantList<'f>>,
}

/// A variant list with a positive total.
#[derive(Debug)]
struct VariantList<'f> {
    defs: &'f [VariantDef<'f>],
    /// Sanitised weights, aligned with `defs`.
    weights: Vec<u32>,
    group_id: Cow<'f, str>,
    stickiness: Cow<'f, str>,
    /// Where the list's variants start in the flag's variants (set by the layout); they follow
    /// in `defs` order.
    first: usize,
}

#[derive(Debug)]
struct FeaturePlan<'f> {
    strategies: Vec<StrategyPlan<'f>>,
    feature_variants: Option<VariantList<'f>>,
    /// `json` flag variants (empty for a boolean flag): `off`, `on`, then every list's keys.
    variants: Vec<Variant>,
}

fn plan_feature<'f>(f: &'f Feature, segments: &HashMap<String, SegmentUse>, notes: &mut Notes) -> FeaturePlan<'f> {
    let name = f.name.as_ref();
    if f.impression_data == Some(true) {
        notes.push(name, "impressionData", NoteKind::Ignored, "impression events are not produced");
    }
    if f.segments.as_ref().is_some_and(|s| !s.is_empty()) {
        notes.push(
            name,
            "segments",
            NoteKind::Ignored,
            "feature-level segments are not part of a client feature; the SDKs ignore them",
        );
    }
    let mut strategies = Vec::with_capacity(f.strategies.as_ref().map_or(0, Vec::len));
    for (i, s) in f.strategies.iter().flatten().enumerate() {
        if let Some(p) = plan_strategy(f, i, s, segments, notes) {
            strategies.push(p);
        }
    }
    let feature_variants =
        f.variants.as_deref().and_then(|defs| variant_list(defs, name, &"variants", notes)).map(|(defs, weights)| {
            let stickiness = defs.first().and_then(|v| v.stickiness.as_deref()).unwrap_or_default();
            VariantList {
                defs,
                weights,
                group_id: Cow::Borrowed(name),
                stickiness: Cow::Borrowed(stickiness),
                first: 0,
            }
        });
    for (i, v) in f.variants.iter().flatten().enumerate() {
        for (j, o) in v.overrides.iter().flatten().enumerate() {
            let path = format!("variants[{i}].overrides[{j}]");
            if o.context_name.as_deref().is_none_or(str::is_empty) {
                notes.push(name, path, NoteKind::Ignored, "override without a contextName never applies");
                continue;
            }
            for (k, value) in o.values.iter().flatten().enumerate() {
                if scalar_string(value).is_none() {
                    notes.push(name, format!("{path}.values[{k}]"), NoteKind::Ignored, "not a string; skipped");
                }
            }
        }
    }
    let mut plan = FeaturePlan { strategies, feature_variants, variants: Vec::new() };
    let lists = plan.feature_variants.iter().chain(plan.strategies.iter().filter_map(|s| s.variants.as_ref()));
    let listed: usize = lists.map(|l| l.defs.len()).sum();

    // Keys: every list gets its own, so each list's order is the flag's variant order.
    let any_list = plan.feature_variants.is_some() || plan.strategies.iter().any(|s| s.variants.is_some());
    if any_list {
        let variants = &mut plan.variants;
        variants.reserve_exact(2 + listed);
        // An empty object allocates nothing; `answer` builds Unleash's answers.
        variants.push(Variant { key: OFF.into(), value: Value::Object(Map::new()) });
        variants.push(Variant { key: ON.into(), value: Value::Object(Map::new()) });
        let lists = plan
            .feature_variants
            .iter_mut()
            .map(|l| (l, None))
            .chain(plan.strategies.iter_mut().filter_map(|s| s.variants.as_mut().map(|l| (l, Some(s.index)))));
        for (list, strategy) in lists {
            list.first = variants.len();
            for def in list.defs {
                let key = unique_key(&def.name, strategy, variants);
                variants.push(Variant { key: Cow::Owned(key), value: variant_value(def) });
            }
        }
    }
    plan
}

/// The variant's Unleash name if no earlier variant has it as key, else `name#f` (feature list)
/// or `name#s{i}` (strategy `i`'s list), numbered on if taken as well. A name containing `#` is
/// always suffixed, so the name is what precedes the key's last `#` ([`unleash_name`]).
///
/// [`unleash_name`]: crate::unleash::answer::unleash_name
fn unique_key(name: &str, strategy: Option<usize>, taken: &[Variant]) -> String {
    let free = |key: &str| !taken.iter().any(|v| v.key == key);
    if !name.is_empty() && !name.contains('#') && free(name) {
        return name.to_owned();
    }
    let base = match strategy {
        None => format!("{name}#f"),
        Some(i) => format!("{name}#s{i}"),
    };
    if free(&base) {
        return base;
    }
    (2usize..).map(|n| format!("{base}.{n}")).find(|key| free(key)).unwrap_or(base)
}

/// The value of an Unleash variant: its payload (taken, not copied), `{}` without one. The
/// rest of the `getVariant` answer is the same for every served variant (see `answer`).
fn variant_value(def: &VariantDef) -> Value {
    def.payload.take().filter(|p| !p.is_null()).unwrap_or_else(|| Value::Object(Map::new()))
}

/// The list with its weights, when they add up to more than 0 (else Unleash picks no variant).
fn variant_list<'f>(
    defs: &'f [VariantDef<'f>],
    feature: &str,
    path: &dyn fmt::Display,
    notes: &mut Notes,
) -> Option<(&'f [VariantDef<'f>], Vec<u32>)> {
    let mut weights = Vec::with_capacity(defs.len());
    for (i, v) in defs.iter().enumerate() {
        if v.payload.borrow().as_ref().and_then(Value::as_object).is_some_and(Map::is_empty) {
            notes.push(
                feature,
                format!("{path}[{i}].payload"),
                NoteKind::Approximated,
                "empty payload object: getVariant answers without a payload",
            );
        }
        let w = match &v.weight {
            None | Some(Scalar::Other(Value::Null)) => Some(0),
            Some(Scalar::Other(Value::Number(n))) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX)).map(|f| f as u64)
                })
                .and_then(|w| u32::try_from(w).ok()),
            Some(Scalar::Str(s)) => s.trim().parse::<u32>().ok(),
            Some(_) => None,
        };
        weights.push(w.unwrap_or_else(|| {
            notes.push(
                feature,
                format!("{path}[{i}].weight"),
                NoteKind::Unsupported,
                "not a whole number from 0 to 2^32-1: read as 0",
            );
            0
        }));
    }
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return None;
    }
    if total > u64::from(u32::MAX) {
        notes.push(
            feature,
            path,
            NoteKind::Unsupported,
            format!("weights add up to {total}, above 2^32-1: the list is left out"),
        );
        return None;
    }
    Some((defs, weights))
}

/// The rollout chain of a variant stickiness.
fn variant_chain(stickiness: &str) -> Vec<Name> {
    match stickiness {
        "" | "default" => VARIANT_DEFAULT_CHAIN.iter().map(|s| Cow::Borrowed(*s)).collect(),
        "random" => vec![Cow::Borrowed(RANDOM_ATTRIBUTE)],
        s => vec![known(s), Cow::Borrowed(RANDOM_ATTRIBUTE)],
    }
}

/// What serves a list: its one variant, or an Unleash rollout over it.
fn list_serve(list: &VariantList<'_>, variants: &[Variant]) -> Serve {
    let keys = variants.get(list.first..).unwrap_or_default().iter().map(|v| &v.key);
    let positive: Vec<(&Name, u32)> = keys.zip(&list.weights).filter(|(_, w)| **w > 0).map(|(k, w)| (k, *w)).collect();
    if let [(only, _)] = positive.as_slice() {
        return Serve::Variant((*only).clone());
    }
    Serve::Rollout(Rollout {
        bucket_by: variant_chain(&list.stickiness),
        hash: BucketHash::Unleash,
        group_id: Some(list.group_id.as_ref().to_owned()),
        weights: positive.into_iter().map(|(k, w)| (k.to_string(), w)).collect(),
    })
}

/// A parameter as text (Unleash parameters are strings; numbers are taken as their text).
fn param_text<'f>(params: Option<&'f Params<'f>>, name: &str) -> Option<Cow<'f, str>> {
    match params?.get(name)? {
        Scalar::Str(s) => Some(Cow::Borrowed(s.as_ref())),
        other => scalar_string(other).map(Cow::Owned),
    }
}

/// Splits a comma-separated parameter (numbers are taken as their text).
fn param_list(params: Option<&Params<'_>>, name: &str) -> Vec<String> {
    let number;
    let text = match params.and_then(|p| p.get(name)) {
        Some(Scalar::Str(s)) => s.as_ref(),
        Some(Scalar::Other(Value::Number(n))) => {
            number = n.to_string();
            number.as_str()
        }
        _ => "",
    };
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A rollout percentage (0 to 100): decimals floored and out-of-range values clamped, reported.
fn percentage(
    v: Option<&Scalar<'_>>,
    what: &str,
    feature: &str,
    path: &dyn fmt::Display,
    notes: &mut Notes,
) -> Option<u32> {
    let p = match v {
        Some(Scalar::Other(Value::Number(n))) => n.as_f64(),
        Some(Scalar::Str(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|p| p.is_finite());
    let Some(p) = p else {
        notes.push(
            feature,
            format!("{path}.parameters.{what}"),
            NoteKind::Unsupported,
            "missing or not a number: the strategy is left out (never on)",
        );
        return None;
    };
    let at = || format!("{path}.parameters.{what}");
    if p < 0.0 {
        notes.push(feature, at(), NoteKind::Approximated, format!("{p} is below 0: read as 0"));
        return Some(0);
    }
    if p > 100.0 {
        notes.push(feature, at(), NoteKind::Approximated, format!("{p} is above 100: read as 100"));
        return Some(100);
    }
    let whole = p.floor();
    if whole != p {
        notes.push(
            feature,
            at(),
            NoteKind::Approximated,
            format!("{p} is not a whole number: read as {whole} (the Node SDK's result; Yggdrasil-based SDKs turn the strategy off)"),
        );
    }
    // In 0..=100 here, so the conversion is exact.
    Some(whole as u32)
}

fn plan_strategy<'f>(
    f: &'f Feature,
    i: usize,
    s: &'f Strategy,
    segments: &HashMap<String, SegmentUse>,
    notes: &mut Notes,
) -> Option<StrategyPlan<'f>> {
    let feature = f.name.as_ref();
    let path = At::Item("strategies", i);
    if s.disabled == Some(true) {
        notes.push(feature, path, NoteKind::Ignored, "disabled strategy left out");
        return None;
    }
    let params = s.parameters.as_ref();
    // Constraints, segments and the strategy's own condition, if it has one.
    let own = usize::from(matches!(s.name.as_ref(), "userWithId" | "remoteAddress" | "applicationHostname"));
    let mut conditions =
        Vec::with_capacity(s.constraints.as_ref().map_or(0, Vec::len) + s.segments.as_ref().map_or(0, Vec::len) + own);
    for (j, c) in s.constraints.iter().flatten().enumerate() {
        match constraint(c, feature, &At::SubItem(&path, "constraints", j), notes) {
            Folded::Const(true) => {}
            Folded::Const(false) => {
                notes.push(
                    feature,
                    path,
                    NoteKind::Ignored,
                    format!("constraints[{j}] never holds: the strategy is never on, left out"),
                );
                return None;
            }
            Folded::Condition(c) => conditions.push(c),
        }
    }
    for (j, id) in s.segments.iter().flatten().enumerate() {
        let at = At::SubItem(&path, "segments", j);
        match scalar_id(id).and_then(|id| segments.get(&id)) {
            None => {
                notes.push(
                    feature,
                    at,
                    NoteKind::Ignored,
                    format!("segment {id} does not exist: the strategy is never on, left out"),
                );
                return None;
            }
            Some(SegmentUse::Never) => {
                notes.push(
                    feature,
                    at,
                    NoteKind::Ignored,
                    format!("segment {id} never holds: the strategy is never on, left out"),
                );
                return None;
            }
            Some(SegmentUse::Always) => {}
            Some(SegmentUse::Member(key)) => {
                conditions.push(Condition::new(String::new(), Operator::InSegment, vec![Value::String(key.clone())]))
            }
        }
    }

    let gate = |percentage: u32, group_id: String, bucket_by: &[&str]| Gate {
        percentage,
        group_id,
        bucket_by: bucket_by.iter().map(|s| known(s)).collect(),
        hash: BucketHash::Unleash,
    };
    let gate = match s.name.as_ref() {
        "default" => None,
        "userWithId" => {
            let ids = param_list(params, "userIds");
            if ids.is_empty() {
                notes.push(feature, path, NoteKind::Ignored, "userWithId without userIds is never on, left out");
                return None;
            }
            conditions.push(condition("userId", Operator::In, ids.into_iter().map(Value::String).collect(), false));
            None
        }
        "gradualRolloutUserId" | "gradualRolloutSessionId" => {
            let p = percentage(params.and_then(|p| p.get("percentage")), "percentage", feature, &path, notes)?;
            let group = param_text(params, "groupId").unwrap_or_default().into_owned();
            let by = if s.name == "gradualRolloutUserId" { "userId" } else { "sessionId" };
            Some(gate(p, group, &[by]))
        }
        "gradualRolloutRandom" => {
            let p = percentage(params.and_then(|p| p.get("percentage")), "percentage", feature, &path, notes)?;
            notes.push(
                feature,
                path,
                NoteKind::Approximated,
                "random rollout: hashes the context attribute $random (the caller's random value), \"\" without it",
            );
            Some(gate(p, feature.to_owned(), &[RANDOM_ATTRIBUTE]))
        }
        "flexibleRollout" => {
            let p = percentage(params.and_then(|p| p.get("rollout")), "rollout", feature, &path, notes)?;
            let group = param_text(params, "groupId")
                .filter(|g| !g.is_empty())
                .map_or_else(|| feature.to_owned(), Cow::into_owned);
            let stickiness = param_text(params, "stickiness").unwrap_or_default();
            let chain: Vec<&str> = match stickiness.as_ref() {
                "" | "default" => ROLLOUT_DEFAULT_CHAIN.to_vec(),
                "random" => {
                    notes.push(
                        feature,
                        format!("{path}.parameters.stickiness"),
                        NoteKind::Approximated,
                        "random stickiness: hashes the context attribute $random (the caller's random value), \"\" without it",
                    );
                    vec![RANDOM_ATTRIBUTE]
                }
                custom => vec![custom],
            };
            Some(gate(p, group, &chain))
        }
        "remoteAddress" => {
            let mut blocks = Vec::new();
            for entry in param_list(params, "IPs") {
                if Cidr::parse(&entry).is_some() {
                    blocks.push(Value::String(entry));
                } else {
                    notes.push(
                        feature,
                        format!("{path}.parameters.IPs"),
                        NoteKind::Ignored,
                        format!("'{entry}' is not an IP address or CIDR block, skipped (as the SDKs do)"),
                    );
                }
            }
            if blocks.is_empty() {
                notes.push(feature, path, NoteKind::Ignored, "remoteAddress without a valid IP is never on, left out");
                return None;
            }
            conditions.push(condition("remoteAddress", Operator::InCidr, blocks, false));
            None
        }
        "applicationHostname" => {
            let names: Vec<Value> =
                param_list(params, "hostNames").into_iter().map(|h| Value::String(h.to_lowercase())).collect();
            if names.is_empty() {
                notes.push(
                    feature,
                    path,
                    NoteKind::Ignored,
                    "applicationHostname without hostNames is never on, left out",
                );
                return None;
            }
            notes.push(
                feature,
                path,
                NoteKind::Approximated,
                "applicationHostname compares the SDK's host name; Vane reads the context attribute `hostname`, which the caller must set",
            );
            let mut c = condition("hostname", Operator::In, names, false);
            c.case_insensitive = true;
            conditions.push(c);
            None
        }
        other => {
            notes.push(
                feature,
                path,
                NoteKind::Unsupported,
                format!("custom strategy '{other}' cannot be evaluated: left out (never on, as in an SDK without it)"),
            );
            return None;
        }
    };

    let variants = s
        .variants
        .as_deref()
        .and_then(|defs| variant_list(defs, feature, &At::Field(&path, "variants"), notes))
        .map(|(defs, weights)| {
            let stickiness = defs
                .first()
                .and_then(|v| v.stickiness.as_deref())
                .filter(|s| !s.is_empty())
                .map(Cow::Borrowed)
                .or_else(|| param_text(params, "stickiness"))
                .unwrap_or_default();
            let group_id = param_text(params, "groupId").filter(|g| !g.is_empty()).unwrap_or(Cow::Borrowed(feature));
            VariantList { defs, weights, group_id, stickiness, first: 0 }
        });
    Some(StrategyPlan { index: i, name: s.name.as_ref(), conditions, gate, variants })
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

/// Rules for the feature variants' overrides (before the rule they belong to), each with the
/// strategy's conditions and gate plus "the attribute is one of the override's values".
fn override_rules(
    list: &VariantList<'_>,
    variants: &[Variant],
    strategy: Option<&StrategyPlan<'_>>,
    rules: &mut Vec<Rule>,
) {
    let prefix = strategy.map(|s| format!("s{}.", s.index)).unwrap_or_default();
    let mut k = 0usize;
    let keys = variants.get(list.first..).unwrap_or_default().iter().map(|v| &v.key);
    for (def, key) in list.defs.iter().zip(keys) {
        for o in def.overrides.iter().flatten() {
            let values: Vec<Value> = o.values.iter().flatten().filter_map(scalar_string).map(Value::String).collect();
            // Overrides that never apply were reported by `plan_feature`.
            let Some(attribute) = o.context_name.as_deref().filter(|a| !a.is_empty()) else { continue };
            if values.is_empty() {
                continue;
            }
            let mut conditions = strategy.map(|s| s.conditions.clone()).unwrap_or_default();
            let mut c = condition(attribute, Operator::In, values, false);
            c.negate_missing = false;
            conditions.push(c);
            rules.push(Rule {
                id: Cow::Owned(format!("{prefix}o{k}")),
                description: Cow::Owned(format!("override: variant {}", def.name)),
                conditions,
                serve: Serve::Variant(key.clone()),
                active_from: None,
                active_until: None,
                gate: strategy.and_then(|s| s.gate.clone()),
            });
            k += 1;
        }
    }
}

/// The id of strategy `index`'s rule, `s{index}`: a constant for the first strategies, else a
/// string of exactly that length (compile keeps it as it is).
fn rule_id(index: usize) -> Name {
    const FIRST: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
    if let Some(id) = FIRST.get(index) {
        return Cow::Borrowed(id);
    }
    let digits = index.checked_ilog10().map_or(1, |d| d as usize + 1);
    let mut id = String::with_capacity(1 + digits);
    id.push('s');
    // Writing to a String cannot fail.
    let _ = fmt::Write::write_fmt(&mut id, format_args!("{index}"));
    Cow::Owned(id)
}

/// The flag of a feature (enabled as the feature; dependencies are added afterwards).
fn build_flag(f: &Feature<'_>, plan: FeaturePlan<'_>, version: u64) -> Flag {
    let overrides =
        |list: &VariantList<'_>| -> usize { list.defs.iter().flat_map(|d| d.overrides.iter().flatten()).count() };
    let feature_overrides = plan.feature_variants.as_ref().map_or(0, overrides);
    let mut rules = Vec::with_capacity(plan.strategies.len().max(1) * (1 + feature_overrides));
    let no_strategies = f.strategies.as_ref().is_none_or(Vec::is_empty);
    let FeaturePlan { strategies, feature_variants, variants, .. } = plan;
    let default = if no_strategies {
        // No strategy: always on, with the feature's variants.
        match &feature_variants {
            Some(list) => {
                override_rules(list, &variants, None, &mut rules);
                list_serve(list, &variants)
            }
            None => Serve::Variant(ON.into()),
        }
    } else {
        for s in strategies {
            let serve = match (&s.variants, &feature_variants) {
                (Some(own), _) => list_serve(own, &variants),
                (None, Some(list)) => {
                    override_rules(list, &variants, Some(&s), &mut rules);
                    list_serve(list, &variants)
                }
                (None, None) => Serve::Variant(ON.into()),
            };
            rules.push(Rule {
                id: rule_id(s.index),
                description: known(s.name),
                conditions: s.conditions,
                serve,
                active_from: None,
                active_until: None,
                gate: s.gate,
            });
        }
        // Every strategy left out: the feature is never on (not "no strategies").
        Serve::Variant(OFF.into())
    };

    let mut tags = Vec::new();
    if let Some(p) = f.project.as_deref().filter(|p| !p.is_empty()) {
        tags.push(format!("unleash:project={p}"));
    }
    if let Some(t) = f.feature_type.as_deref().filter(|t| !t.is_empty()) {
        tags.push(format!("unleash:type={t}"));
    }
    if f.stale == Some(true) {
        tags.push("unleash:stale".into());
    }
    let json = !variants.is_empty();
    Flag {
        key: f.name.as_ref().to_owned(),
        flag_type: if json { FlagType::Json } else { FlagType::Boolean },
        variants,
        description: f.description.as_deref().unwrap_or_default().to_owned(),
        tags,
        enabled: f.enabled.unwrap_or(false),
        off_variant: Some(OFF.into()),
        rules,
        default,
        prerequisites: Vec::new(),
        salt: String::new(),
        version,
    }
}

/// Whether the feature can be on at all after its dependencies, and its prerequisites.
fn dependencies(
    f: &Feature<'_>,
    flags: &impl Flags,
    has_dependencies: impl Fn(usize) -> bool,
    notes: &mut Notes,
) -> (bool, Vec<Prerequisite>) {
    let name = f.name.as_ref();
    let mut enabled = f.enabled.unwrap_or(false);
    let mut prerequisites = Vec::new();
    for (i, d) in f.dependencies.iter().flatten().enumerate() {
        let path = format!("dependencies[{i}]");
        let parent = flags.find(d.feature.as_ref()).and_then(|p| Some((p, flags.parent(p)?)));
        let Some((parent, parent_flag)) = parent else {
            notes.push(
                name,
                path,
                NoteKind::Ignored,
                format!("parent '{}' does not exist: the feature is never on", d.feature),
            );
            enabled = false;
            continue;
        };
        if has_dependencies(parent) {
            notes.push(
                name,
                path,
                NoteKind::Ignored,
                format!(
                    "parent '{}' has dependencies itself (not supported by Unleash): the feature is never on",
                    d.feature
                ),
            );
            enabled = false;
            continue;
        }
        let boolean_parent = parent_flag.boolean;
        let variants: Vec<String> = if d.enabled == Some(false) {
            vec![OFF.into()]
        } else {
            match d.variants.as_deref() {
                Some(wanted) if !wanted.is_empty() => {
                    let mut keys: Vec<String> = Vec::new();
                    // An enabled parent without a variant answers the name "disabled".
                    if wanted.iter().any(|w| w == DISABLED_NAME) {
                        keys.push(ON.into());
                    }
                    // A json parent's Unleash variants follow `off` and `on`.
                    let unleash_variants = parent_flag.variants.iter().skip(2);
                    keys.extend(
                        unleash_variants.filter(|v| wanted.iter().any(|w| w == unleash_name(v))).map(|v| v.to_string()),
                    );
                    keys
                }
                _ if boolean_parent => vec![ON.into()],
                _ => parent_flag.variants.iter().filter(|v| **v != OFF).map(|v| v.to_string()).collect(),
            }
        };
        if variants.is_empty() {
            notes.push(
                name,
                path,
                NoteKind::Ignored,
                format!(
                    "parent '{}' has none of the variants [{}]: the feature is never on",
                    d.feature,
                    d.variants.as_deref().unwrap_or_default().join(", ")
                ),
            );
            enabled = false;
            continue;
        }
        prerequisites.push(Prerequisite { flag: parent_flag.key.to_owned(), variants });
    }
    if !enabled {
        // A disabled flag serves `off` whatever its prerequisites say; drop them so an
        // unsatisfiable dependency leaves no reference behind.
        prerequisites.clear();
    }
    (enabled, prerequisites)
}

#[cfg(test)]
mod tests {
    //! What the client specification does not pin (design notes §6.8): the `+ 1` of the rollout
    //! normalisation, UTF-8 hashing, the variant default chain, decimal and out-of-range
    //! percentages, ignored `caseInsensitive` on IN, invalid CIDR entries, `default_now`, and the
    //! importer's own promises (reports, no compile problem, no panic).

    use std::collections::HashSet;

    use serde_json::{Value, json};

    use super::*;
    use crate::CompiledSnapshot;
    use crate::murmur::{VARIANT_SEED, normalized};
    use crate::unleash::{context, is_enabled, variant};

    /// 2025-06-15T15:06:40Z.
    const NOW: i64 = 1_750_000_000_000;

    /// The snapshot and notes of `import`, after checking that the text reader gives the same.
    fn load(doc: &Value) -> (CompiledSnapshot, Snapshot, Vec<ImportNote>) {
        let (snapshot, notes) = import(doc, "app", "production", 3).unwrap();
        same_from_text(doc, &doc.to_string());
        let (compiled, warnings) = crate::compile(&snapshot);
        assert!(warnings.is_empty(), "the import must compile cleanly: {warnings:?}\n{snapshot:#?}");
        (compiled, snapshot, notes)
    }

    fn state(features: Value) -> Value {
        json!({"version": 1, "features": features})
    }

    fn one(strategies: Value) -> Value {
        state(json!([{"name": "f", "enabled": true, "strategies": strategies}]))
    }

    fn on_at(c: &CompiledSnapshot, flag: &str, ctx: Value, now: i64) -> bool {
        is_enabled(&c.evaluate(flag, &context(&ctx).unwrap(), now))
    }

    fn on(c: &CompiledSnapshot, flag: &str, ctx: Value) -> bool {
        on_at(c, flag, ctx, NOW)
    }

    fn has_note(notes: &[ImportNote], kind: NoteKind, path_part: &str, message_part: &str) -> bool {
        notes.iter().any(|n| n.kind == kind && n.path.contains(path_part) && n.message.contains(message_part))
    }

    fn flexible(group: &str, rollout: Value) -> Value {
        one(json!([{"name": "flexibleRollout",
            "parameters": {"rollout": rollout, "stickiness": "userId", "groupId": group}}]))
    }

    /// A user id whose normalised rollout value in `group` is `n`.
    fn user_at(group: &str, n: u32) -> String {
        (0..100_000).map(|i| i.to_string()).find(|id| normalized(group, id, 100, 0) == n).unwrap()
    }

    #[test]
    fn rollout_boundaries_pin_the_plus_one() {
        // boundary:28 → 50 and boundary:68 → 51: without the `+ 1` both would move down by one.
        assert_eq!(normalized("boundary", "28", 100, 0), 50);
        assert_eq!(normalized("boundary", "68", 100, 0), 51);
        let (c50, ..) = load(&flexible("boundary", json!("50")));
        assert!(on(&c50, "f", json!({"userId": "28"})));
        assert!(!on(&c50, "f", json!({"userId": "68"})));
        let (c51, ..) = load(&flexible("boundary", json!("51")));
        assert!(on(&c51, "f", json!({"userId": "68"})));
        let (c1, ..) = load(&flexible("boundary", json!(1)));
        assert!(on(&c1, "f", json!({"userId": "17"})), "boundary:17 → 1 is in at 1%");
        let (c99, ..) = load(&flexible("boundary", json!("99")));
        assert!(!on(&c99, "f", json!({"userId": "40"})), "boundary:40 → 100 is out at 99%");
        let (c100, ..) = load(&flexible("boundary", json!("100")));
        assert!(on(&c100, "f", json!({"userId": "40"})));
        let (c0, ..) = load(&flexible("boundary", json!("0")));
        assert!(!on(&c0, "f", json!({"userId": "17"})), "0% is never on");
        // Custom stickiness without the attribute: off even at 100% (both reference SDKs).
        assert!(!on(&c100, "f", json!({"sessionId": "40"})));
    }

    #[test]
    fn hashing_is_over_utf8_bytes() {
        // UTF-8 (Yggdrasil and the SDKs built on it) gives 95; the Node SDK's low bytes of
        // UTF-16 units would give 96.
        let group = "Feature.UTF-8.Hellø_Wørld";
        assert_eq!(normalized(group, "u1", 100, 0), 95);
        let (c95, ..) = load(&flexible(group, json!("95")));
        assert!(on(&c95, "f", json!({"userId": "u1"})));
        let (c94, ..) = load(&flexible(group, json!("94")));
        assert!(!on(&c94, "f", json!({"userId": "u1"})));
        // The feature name is the default group id, non-ASCII included.
        let doc = state(json!([{"name": group, "enabled": true,
            "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "95"}}]}]));
        let (c, ..) = load(&doc);
        assert!(on(&c, group, json!({"userId": "u1"})));
    }

    #[test]
    fn variant_default_stickiness_falls_back_to_remote_address() {
        let doc = state(json!([{"name": "v", "enabled": true, "strategies": [], "variants": [
            {"name": "a", "weight": 1, "payload": {"type": "string", "value": "A"}},
            {"name": "b", "weight": 1}]}]));
        let (c, ..) = load(&doc);
        let name = |ctx: Value| json!(variant(&c.evaluate("v", &context(&ctx).unwrap(), NOW)).name);
        let want = |id: &str| if normalized("v", id, 2, VARIANT_SEED) == 1 { "a" } else { "b" };
        let mut seen = HashSet::new();
        for i in 0..20 {
            let ip = format!("10.0.0.{i}");
            assert_eq!(name(json!({"remoteAddress": ip})), json!(want(&ip)), "{ip}");
            seen.insert(want(&ip));
            // userId, then sessionId, come first.
            assert_eq!(name(json!({"remoteAddress": ip, "userId": "u7"})), json!(want("u7")));
            assert_eq!(name(json!({"remoteAddress": ip, "sessionId": "s7"})), json!(want("s7")));
        }
        assert_eq!(seen.len(), 2, "both variants are reached");
        // Neither: the caller's $random, "" without one.
        assert_eq!(name(json!({})), json!(want("")));
        assert_eq!(name(json!({"$random": "r1"})), json!(want("r1")));
        // The payload travels verbatim; the second variant has none (absent, not null).
        let a = (0..100).map(|i| i.to_string()).find(|id| want(id) == "a").unwrap();
        assert_eq!(
            variant(&c.evaluate("v", &context(&json!({"userId": a})).unwrap(), NOW)).to_value(),
            json!({"name": "a", "payload": {"type": "string", "value": "A"}, "enabled": true, "feature_enabled": true})
        );
        let b = (0..100).map(|i| i.to_string()).find(|id| want(id) == "b").unwrap();
        assert_eq!(
            variant(&c.evaluate("v", &context(&json!({"userId": b})).unwrap(), NOW)).to_value(),
            json!({"name": "b", "enabled": true, "feature_enabled": true})
        );
    }

    #[test]
    fn decimal_and_out_of_range_percentages_are_reported() {
        let group = "pct";
        let (c, snapshot, notes) = load(&flexible(group, json!("33.5")));
        assert!(has_note(&notes, NoteKind::Approximated, "strategies[0].parameters.rollout", "read as 33"));
        assert_eq!(snapshot.flags[0].rules[0].gate.as_ref().map(|g| g.percentage), Some(33));
        assert!(on(&c, "f", json!({"userId": user_at(group, 33)})));
        assert!(!on(&c, "f", json!({"userId": user_at(group, 34)})));

        let (c, _, notes) = load(&flexible(group, json!(150)));
        assert!(has_note(&notes, NoteKind::Approximated, "parameters.rollout", "read as 100"));
        assert!(on(&c, "f", json!({"userId": user_at(group, 100)})));

        let (c, _, notes) = load(&flexible(group, json!("-5")));
        assert!(has_note(&notes, NoteKind::Approximated, "parameters.rollout", "read as 0"));
        assert!(!on(&c, "f", json!({"userId": user_at(group, 1)})));

        for bad in [json!("abc"), json!(""), json!(null), json!("1e400"), json!([50])] {
            let (c, snapshot, notes) = load(&flexible(group, bad.clone()));
            assert!(has_note(&notes, NoteKind::Unsupported, "parameters.rollout", "not a number"), "{bad}");
            assert!(snapshot.flags[0].rules.is_empty(), "{bad}: strategy left out");
            assert!(!on(&c, "f", json!({"userId": user_at(group, 1)})), "{bad}: never on (not 'no strategies')");
        }
        // gradualRolloutUserId without groupId hashes with the empty group (Node SDK).
        let doc = one(json!([{"name": "gradualRolloutUserId", "parameters": {"percentage": "50"}}]));
        let (c, ..) = load(&doc);
        assert!(on(&c, "f", json!({"userId": user_at("", 50)})));
        assert!(!on(&c, "f", json!({"userId": user_at("", 51)})));
        assert!(!on(&c, "f", json!({"sessionId": user_at("", 1)})), "userId required");
    }

    #[test]
    fn unknown_strategies_are_reported_and_never_on() {
        let (c, snapshot, notes) = load(&one(json!([{"name": "myCustomStrategy", "parameters": {"x": "1"}}])));
        assert!(has_note(&notes, NoteKind::Unsupported, "strategies[0]", "myCustomStrategy"));
        assert!(snapshot.flags[0].rules.is_empty());
        assert!(!on(&c, "f", json!({"userId": "1"})));
        // Other strategies still count (OR).
        let (c, snapshot, _) = load(&one(json!([{"name": "myCustomStrategy"}, {"name": "default"}])));
        assert_eq!(snapshot.flags[0].rules[0].id, "s1", "rule ids keep the Unleash index");
        assert!(on(&c, "f", json!({})));
        // Disabled strategies are left out, reported.
        let (c, _, notes) = load(&one(json!([{"name": "default", "disabled": true}])));
        assert!(has_note(&notes, NoteKind::Ignored, "strategies[0]", "disabled"));
        assert!(!on(&c, "f", json!({})));
    }

    fn constrained(constraints: Value) -> Value {
        one(json!([{"name": "default", "constraints": constraints}]))
    }

    #[test]
    fn in_ignores_case_insensitive_and_string_operators_honour_it() {
        let (c, _, notes) = load(&constrained(
            json!([{"contextName": "environment", "operator": "IN", "values": ["Prod"], "caseInsensitive": true}]),
        ));
        assert!(has_note(&notes, NoteKind::Ignored, "caseInsensitive", "case-sensitively"));
        assert!(on(&c, "f", json!({"environment": "Prod"})));
        assert!(!on(&c, "f", json!({"environment": "prod"})));
        let (c, _, notes) = load(&constrained(json!([{"contextName": "email", "operator": "STR_ENDS_WITH",
            "values": ["@EXAMPLE.com"], "caseInsensitive": true}])));
        assert!(notes.is_empty(), "{notes:?}");
        assert!(on(&c, "f", json!({"properties": {"email": "a@example.COM"}})));
        assert!(!on(&c, "f", json!({"properties": {"email": "a@example.org"}})));
    }

    #[test]
    fn invalid_cidr_entries_are_reported_and_skipped() {
        let (c, _, notes) = load(&constrained(json!([{"contextName": "remoteAddress", "operator": "IN_CIDR",
            "values": ["10.0.0.0/8", "nope", "300.1.1.1", "10.0.0.0/33", 7]}])));
        for i in 1..=4 {
            assert!(has_note(&notes, NoteKind::Ignored, &format!("values[{i}]"), "not an IP"), "values[{i}]");
        }
        assert!(on(&c, "f", json!({"remoteAddress": "10.1.2.3"})));
        assert!(!on(&c, "f", json!({"remoteAddress": "11.1.2.3"})));
        assert!(!on(&c, "f", json!({})));
        // The remoteAddress strategy: the same, from its comma-separated IPs.
        let (c, _, notes) =
            load(&one(json!([{"name": "remoteAddress", "parameters": {"IPs": "nope, 192.168.0.0/16 ,2001:db8::1"}}])));
        assert!(has_note(&notes, NoteKind::Ignored, "parameters.IPs", "'nope'"));
        assert!(on(&c, "f", json!({"remoteAddress": "192.168.7.7"})));
        assert!(on(&c, "f", json!({"remoteAddress": "2001:db8::1"})));
        assert!(!on(&c, "f", json!({"remoteAddress": "10.0.0.1"})));
        // Nothing valid: never on.
        let (c, snapshot, _) = load(&one(json!([{"name": "remoteAddress", "parameters": {"IPs": "x, y"}}])));
        assert!(snapshot.flags[0].rules.is_empty());
        assert!(!on(&c, "f", json!({"remoteAddress": "10.0.0.1"})));
    }

    #[test]
    fn list_values_are_compared_untrimmed() {
        // Yggdrasil compares values as given (the Node SDK trims them); pinned here.
        let (c, ..) = load(&constrained(json!([{"contextName": "userId", "operator": "NOT_IN", "values": [" a"]}])));
        assert!(on(&c, "f", json!({"userId": "a"})));
        assert!(!on(&c, "f", json!({"userId": " a"})));
        let (c, ..) = load(&one(json!([{"name": "userWithId", "parameters": {"userIds": " a ,b,, c "}}])));
        for (user, want) in [("a", true), ("b", true), ("c", true), (" a ", false), ("", false)] {
            assert_eq!(on(&c, "f", json!({"userId": user})), want, "userWithId trims its list: {user:?}");
        }
    }

    #[test]
    fn dates_on_a_missing_current_time_compare_now() {
        let after = |inverted: bool| {
            constrained(json!([{"contextName": "currentTime", "operator": "DATE_AFTER",
                "value": "2025-01-01T00:00:00.000Z", "inverted": inverted}]))
        };
        let (c, snapshot, _) = load(&after(false));
        assert!(snapshot.flags[0].rules[0].conditions[0].default_now);
        let jan_2024 = 1_704_067_200_000;
        assert!(on(&c, "f", json!({})), "now (2025-06) is after 2025-01-01");
        assert!(!on_at(&c, "f", json!({}), jan_2024));
        assert!(!on(&c, "f", json!({"currentTime": "2024-06-01T00:00:00Z"})), "a given currentTime wins");
        let (c, ..) = load(&after(true));
        assert!(!on(&c, "f", json!({})));
        assert!(on_at(&c, "f", json!({}), jan_2024));
        // Strict: the instant itself is not after.
        assert!(!on_at(&load(&after(false)).0, "f", json!({}), 1_735_689_600_000));
        // Other attributes: missing is missing.
        let (c, snapshot, _) = load(&constrained(
            json!([{"contextName": "signup", "operator": "DATE_BEFORE", "value": "2030-01-01T00:00:00Z"}]),
        ));
        assert!(!snapshot.flags[0].rules[0].conditions[0].default_now);
        assert!(!on(&c, "f", json!({})));
        assert!(on(&c, "f", json!({"properties": {"signup": "2024-01-01T00:00:00+02:00"}})));
    }

    #[test]
    fn missing_attributes_fail_the_positive_test_before_inversion() {
        for (op, values, inverted, want) in [
            ("STR_CONTAINS", json!(["x"]), true, true),
            ("STR_CONTAINS", json!(["x"]), false, false),
            ("NOT_IN", json!(["x"]), false, true),
            ("NOT_IN", json!(["x"]), true, false),
            ("IN", json!(["x"]), true, true),
            ("NUM_GT", json!(["1"]), true, true),
            ("SEMVER_LT", json!(["1.0.0"]), true, true),
            ("REGEX", json!(["x"]), true, true),
            ("IN_CIDR", json!(["10.0.0.0/8"]), true, true),
        ] {
            let (c, ..) = load(&constrained(
                json!([{"contextName": "attr", "operator": op, "values": values, "inverted": inverted}]),
            ));
            assert_eq!(on(&c, "f", json!({})), want, "{op} inverted={inverted} on a missing attribute");
            assert_eq!(on(&c, "f", json!({"properties": {"attr": null}})), want, "{op}: null is missing");
        }
    }

    #[test]
    fn constants_fold_and_unsupported_constraints_are_reported() {
        for (constraint, want, note) in [
            (json!({"contextName": "a", "operator": "IN", "values": []}), false, ""),
            (json!({"contextName": "a", "operator": "IN", "values": [], "inverted": true}), true, ""),
            (json!({"contextName": "a", "operator": "NOT_IN", "values": []}), true, ""),
            (json!({"contextName": "a", "operator": "STR_STARTS_WITH"}), false, ""),
            (json!({"contextName": "a", "operator": "NUM_EQ", "value": "ten"}), false, "not a number"),
            (json!({"contextName": "a", "operator": "NUM_EQ", "value": "ten", "inverted": true}), true, "not a number"),
            (json!({"contextName": "a", "operator": "NUM_LT"}), false, "without a value"),
            (json!({"contextName": "a", "operator": "DATE_AFTER", "value": "yesterday"}), false, "RFC 3339"),
            (json!({"contextName": "a", "operator": "SEMVER_EQ", "value": "v1.2.3"}), false, "strict semantic"),
            (json!({"contextName": "a", "operator": "SEMVER_EQ", "value": "1.2"}), false, "strict semantic"),
            (json!({"contextName": "a", "operator": "REGEX", "value": "\\p{L}+"}), false, "regex not supported"),
            (json!({"contextName": "a", "operator": "REGEX", "value": "(?<=a)b", "inverted": true}), true, "regex"),
            (
                json!({"contextName": "a", "operator": "SOMETHING_NEW", "values": ["x"], "inverted": true}),
                false,
                "unknown operator",
            ),
            (json!({"operator": "NOT_IN", "values": ["x"]}), true, "without a contextName"),
        ] {
            let (c, snapshot, notes) = load(&constrained(json!([constraint])));
            assert_eq!(on(&c, "f", json!({"properties": {"a": "1.2.3"}})), want, "{constraint}");
            let rules = &snapshot.flags[0].rules;
            if want {
                assert!(rules[0].conditions.is_empty(), "{constraint}: a constant true is dropped");
            } else {
                assert!(rules.is_empty(), "{constraint}: a constant false drops the strategy");
            }
            if !note.is_empty() {
                assert!(notes.iter().any(|n| n.message.contains(note)), "{constraint}: {notes:?}");
            }
        }
        // POSIX classes and inline flags are within the engine's regex dialect.
        let (c, _, notes) =
            load(&constrained(json!([{"contextName": "userId", "operator": "REGEX", "value": "^[[:alpha:]]+(?i)X$"}])));
        assert!(notes.is_empty(), "{notes:?}");
        assert!(on(&c, "f", json!({"userId": "abcx"})));
    }

    #[test]
    fn segments_become_vane_segments_or_fold() {
        let doc = json!({"version": 2, "features": [
            {"name": "member", "enabled": true, "strategies": [{"name": "default", "segments": [1]}]},
            {"name": "always", "enabled": true, "strategies": [{"name": "default", "segments": [2, "3"]}]},
            {"name": "never", "enabled": true, "strategies": [{"name": "default", "segments": [4]}, {"name": "default", "segments": [99]}]}
        ], "segments": [
            {"id": 1, "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]},
            {"id": 2, "constraints": []},
            {"id": 3, "constraints": [{"contextName": "plan", "operator": "NOT_IN", "values": []}]},
            {"id": 4, "constraints": [{"contextName": "plan", "operator": "IN", "values": []}]},
            {"id": {"bad": true}}
        ]});
        let (c, snapshot, notes) = load(&doc);
        assert_eq!(snapshot.segments.len(), 1);
        assert_eq!(snapshot.segments[0].key, "unleash-segment-1");
        assert!(on(&c, "member", json!({"properties": {"plan": "pro"}})));
        assert!(!on(&c, "member", json!({"properties": {"plan": "free"}})));
        assert!(on(&c, "always", json!({})));
        assert!(!on(&c, "never", json!({"properties": {"plan": "pro"}})));
        assert!(has_note(&notes, NoteKind::Ignored, "strategies[0].segments[0]", "segment 4 never holds"));
        assert!(has_note(&notes, NoteKind::Ignored, "strategies[1].segments[0]", "segment 99 does not exist"));
        assert!(has_note(&notes, NoteKind::Unsupported, "segments[4].id", "not a number"));
    }

    #[test]
    fn features_before_or_after_their_segments_import_the_same() {
        // Features are built as they are read; one that refers to segments listed later waits
        // for them. Either order gives the same snapshot and the same notes in the same order,
        // and a replaced definition (waiting or not) leaves no note or dependency behind.
        let features = r#"[
            {"name": "member", "enabled": true, "impressionData": true, "strategies": [{"name": "default", "segments": [1]}]},
            {"name": "child", "enabled": true, "strategies": [], "dependencies": [{"feature": "member"}]},
            {"name": "dup", "enabled": true, "strategies": [{"name": "default", "segments": [9]}], "dependencies": [{"feature": "gone"}]},
            {"name": "plain", "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "7"}}]},
            {"name": "dup", "enabled": true, "impressionData": true, "strategies": [{"name": "default"}]}
        ]"#;
        let segments = r#"[{"id": 1, "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]},
                           {"id": {"bad": true}}]"#;
        let before = format!(r#"{{"version": 2, "segments": {segments}, "features": {features}}}"#);
        let after = format!(r#"{{"version": 2, "features": {features}, "segments": {segments}}}"#);
        let read = |text: &str| {
            let (snapshot, notes) = import_str(text, "app", "production", 3).unwrap();
            (serde_json::to_value(&snapshot).unwrap(), notes)
        };
        let (first, notes) = read(&before);
        assert_eq!(read(&after), (first.clone(), notes.clone()));
        for text in [&before, &after] {
            let value: Value = serde_json::from_str(text).unwrap();
            same_from_text(&value, text);
        }

        let places: Vec<(&str, &str)> = notes.iter().map(|n| (n.feature.as_str(), n.path.as_str())).collect();
        assert_eq!(
            places,
            [("", "segments[1].id"), ("dup", ""), ("member", "impressionData"), ("dup", "impressionData")],
            "{notes:#?}"
        );
        let keys: Vec<&str> = first["flags"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["member", "child", "dup", "plain"]);
        let (c, warnings) = crate::compile(&serde_json::from_value(first).unwrap());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(on(&c, "child", json!({"properties": {"plan": "pro"}})));
        assert!(!on(&c, "child", json!({"properties": {"plan": "free"}})));
        assert!(on(&c, "dup", json!({})), "the later definition, without segments or dependencies");
    }

    #[test]
    fn delta_events_fold_in_event_id_order() {
        let feature = |name: &str| json!({"name": name, "enabled": true, "strategies": [{"name": "default"}]});
        let doc = json!({"events": [
            {"eventId": 3, "type": "feature-removed", "featureName": "b", "project": "default"},
            {"eventId": 1, "type": "hydration", "features": [feature("a"), feature("b")], "segments": []},
            {"eventId": 2, "type": "feature-updated", "feature": {"name": "a", "enabled": false, "strategies": []}},
            {"eventId": 4, "type": "feature-updated", "feature": feature("c")},
            {"eventId": 5, "type": "segment-updated", "segment": {"id": 7, "constraints": [
                {"contextName": "appName", "operator": "IN", "values": ["x"]}]}},
            {"eventId": 6, "type": "segment-removed", "segmentId": 7},
            {"eventId": 7, "type": "something-else"},
            {"type": "hydration", "features": []}
        ]});
        let (c, snapshot, notes) = load(&doc);
        let keys: Vec<&str> = snapshot.flags.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "c"]);
        assert!(!on(&c, "a", json!({})), "updated to disabled");
        assert!(!on(&c, "b", json!({})), "removed");
        assert!(on(&c, "c", json!({})));
        assert!(snapshot.segments.is_empty());
        assert!(has_note(&notes, NoteKind::Ignored, "events[6]", "something-else"));
        assert!(has_note(&notes, NoteKind::Unsupported, "events[7]", "eventId"));
    }

    #[test]
    fn documents_that_are_not_unleash_states_are_errors() {
        for doc in [json!(null), json!([]), json!({}), json!({"features": 3}), json!({"events": {}}), json!("x")] {
            assert!(import(&doc, "a", "e", 1).is_err(), "{doc}");
        }
        assert!(import_str("{", "a", "e", 1).is_err());
        assert!(import_str(r#"{"features": []}"#, "a", "e", 1).is_ok());
    }

    /// `import_str(text)` gives what `import` gives for the text's value: same snapshot (as
    /// JSON), same notes in the same order.
    fn same_from_text(doc: &Value, text: &str) {
        let from_value = import(doc, "app", "production", 3).map(|(s, n)| (serde_json::to_value(s).unwrap(), n));
        let from_text = import_str(text, "app", "production", 3).map(|(s, n)| (serde_json::to_value(s).unwrap(), n));
        assert_eq!(from_text, from_value, "{text}");
        // Compiled as read: the same compiled form, notes and warnings as compiling the import.
        let fused = compile_str(text, "app", "production", 3).map(|(c, n, w)| (c.test_form(), n, w));
        let two_steps = import_str(text, "app", "production", 3).map(|(s, n)| {
            let (c, w) = compile_owned(s);
            (c.test_form(), n, w)
        });
        assert_eq!(fused, two_steps, "{text}");
    }

    #[test]
    fn the_text_reader_agrees_with_the_value_reader_on_damaged_documents() {
        // Each is read one-pass, item by item (a feature or segment the typed reader refuses), or
        // through a `Value` (repeated keys, delta events, not a client state).
        let texts = [
            r#"{"features": [{"name": "a", "enabled": true, "strategies": [{"name": "default"}]}]}"#,
            r#"{"features": [{"name": "a\u0041\n", "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "x\"y,z"}}]}]}"#,
            r#"{"features": [{"name": "a", "enabled": true, "enabled": false}]}"#,
            r#"{"features": [{"name": "a", "enabled": "yes"}, {"name": "b", "enabled": true}]}"#,
            r#"{"features": [{"enabled": true}, {"name": 3}, 7, null, {"name": "b", "enabled": true}]}"#,
            r#"{"features": [{"name": "a", "enabled": true, "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": 50, "rollout": "20", "groupId": 4}}]}]}"#,
            r#"{"features": [{"name": "a", "enabled": true, "strategies": [{"name": "default", "segments": [1, "2", null]}]}], "segments": [{"id": 1, "constraints": []}, {"id": "2", "constraints": [{"contextName": "x", "operator": "IN", "values": [1, true, null, [1], {"a": "b"}]}]}, {"name": "no id"}, 5]}"#,
            r#"{"features": [], "segments": {"id": 1}}"#,
            r#"{"features": [], "segments": null}"#,
            r#"{"features": [], "events": null}"#,
            r#"{"features": [], "features": [{"name": "x", "enabled": true}]}"#,
            r#"{"features": null}"#,
            r#"{"version": 2, "features": [{"name": "v", "enabled": true, "strategies": [{"name": "default", "variants": [{"name": "p", "weight": "5", "payload": {"type": "json", "value": "{\"a\":1}"}}, {"name": "q", "weight": 5.0, "payload": null, "overrides": [{"contextName": "userId", "values": ["1", 2]}]}]}], "variants": [{"name": "f", "weight": 1, "payload": [1, 2]}]}]}"#,
            r#"{"features": [{"name": "c", "enabled": true, "strategies": [{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.1, bad"}, "constraints": [{"contextName": "ip", "operator": "IN_CIDR", "values": ["1.2.3.4/8", 5, "x\ty"]}]}], "dependencies": [{"feature": "v", "variants": ["p"]}]}]}"#,
            r#"{"events": [{"eventId": 1, "type": "hydration", "features": [{"name": "e", "enabled": true}], "segments": []}]}"#,
            r#"[]"#,
            r#"{"features": [{"name": "a", "enabled": true}]"#,
        ];
        for text in texts {
            match serde_json::from_str::<Value>(text) {
                Ok(doc) => same_from_text(&doc, text),
                Err(_) => assert!(import_str(text, "app", "production", 3).is_err(), "{text}"),
            }
        }
    }

    #[test]
    fn broken_and_duplicate_features_are_reported() {
        let doc = state(json!([
            {"name": "a", "enabled": true, "strategies": []},
            {"name": "broken", "enabled": "yes"},
            {"enabled": true},
            {"name": "", "enabled": true},
            {"name": "a", "enabled": false, "strategies": []}
        ]));
        let (c, snapshot, notes) = load(&doc);
        assert_eq!(snapshot.flags.len(), 1);
        assert!(!on(&c, "a", json!({})), "the later definition wins");
        assert!(has_note(&notes, NoteKind::Ignored, "", "defined twice"));
        assert!(notes.iter().any(|n| n.feature == "broken" && n.kind == NoteKind::Unsupported));
        assert!(has_note(&notes, NoteKind::Unsupported, "features[2]", "unreadable"));
        assert!(has_note(&notes, NoteKind::Unsupported, "features[3]", "without a name"));

        // Three definitions among others: the last wins, in the place of the first.
        let doc = state(json!([
            {"name": "x", "enabled": false},
            {"name": "y", "enabled": true, "description": "y1"},
            {"name": "z", "enabled": true},
            {"name": "y", "enabled": true, "description": "y2"},
            {"name": "x", "enabled": true},
            {"name": "y", "enabled": false, "description": "y3"}
        ]));
        let (_, snapshot, notes) = load(&doc);
        let flags: Vec<(&str, bool, &str)> =
            snapshot.flags.iter().map(|f| (f.key.as_str(), f.enabled, f.description.as_str())).collect();
        assert_eq!(flags, [("x", true, ""), ("y", false, "y3"), ("z", true, "")]);
        assert_eq!(notes.iter().filter(|n| n.message.contains("defined twice")).count(), 3);
    }

    #[test]
    fn variant_keys_never_collide_and_names_come_from_values() {
        let doc = state(json!([{"name": "v", "enabled": true,
            "strategies": [
                {"name": "flexibleRollout", "parameters": {"rollout": "100", "stickiness": "userId"},
                 "constraints": [{"contextName": "userId", "operator": "IN", "values": ["s"]}],
                 "variants": [{"name": "x", "weight": 1}, {"name": "off", "weight": 1}]},
                {"name": "default"}],
            "variants": [{"name": "off", "weight": 1}, {"name": "x", "weight": 1}, {"name": "on", "weight": 0}]}]));
        let (c, snapshot, _) = load(&doc);
        let keys: Vec<&str> = snapshot.flags[0].variants.iter().map(|v| &*v.key).collect();
        assert_eq!(keys, ["off", "on", "off#f", "x", "on#f", "x#s0", "off#s0"]);
        // Names are served from the values, whatever the key.
        let mut names = HashSet::new();
        for i in 0..40 {
            let e = c.evaluate("v", &context(&json!({"userId": i.to_string()})).unwrap(), NOW);
            assert!(is_enabled(&e), "a variant named off is still on");
            names.insert(variant(&e).name.to_owned());
        }
        assert_eq!(names, HashSet::from(["off".to_owned(), "x".to_owned()]));
    }

    #[test]
    fn names_with_a_hash_sign_and_payloads_survive_the_key() {
        let doc = state(json!([{"name": "v", "enabled": true, "strategies": [], "variants": [
            {"name": "a#b", "weight": 1, "payload": {"type": "string", "value": "A"}},
            {"name": "a", "weight": 1, "payload": {}},
            {"name": "", "weight": 1}]}]));
        let (c, snapshot, notes) = load(&doc);
        let keys: Vec<&str> = snapshot.flags[0].variants.iter().map(|v| &*v.key).collect();
        assert_eq!(keys, ["off", "on", "a#b#f", "a", "#f"]);
        assert!(has_note(&notes, NoteKind::Approximated, "variants[1].payload", "empty payload"));
        let mut answers = HashSet::new();
        for i in 0..60 {
            let e = c.evaluate("v", &context(&json!({"userId": i.to_string()})).unwrap(), NOW);
            answers.insert(variant(&e).to_value().to_string());
        }
        let expected = [
            json!({"name": "a#b", "payload": {"type": "string", "value": "A"}, "enabled": true, "feature_enabled": true}),
            json!({"name": "a", "enabled": true, "feature_enabled": true}),
            json!({"name": "", "enabled": true, "feature_enabled": true}),
        ];
        assert_eq!(answers, expected.iter().map(Value::to_string).collect::<HashSet<_>>());
    }

    #[test]
    fn overrides_come_first_and_reach_zero_weight_variants() {
        let doc = state(json!([{"name": "v", "enabled": true,
            "strategies": [{"name": "default", "constraints": [{"contextName": "appName", "operator": "IN", "values": ["web"]}]}],
            "variants": [
                {"name": "a", "weight": 1, "stickiness": "userId"},
                {"name": "b", "weight": 0, "overrides": [{"contextName": "plan", "values": ["beta", "internal"]}]},
                {"name": "c", "weight": 1, "overrides": [{"contextName": "plan", "values": ["beta"]}, {"values": ["x"]}]}]}]));
        let (c, snapshot, notes) = load(&doc);
        let name = |ctx: Value| json!(variant(&c.evaluate("v", &context(&ctx).unwrap(), NOW)).name);
        assert_eq!(name(json!({"appName": "web", "properties": {"plan": "beta"}})), json!("b"), "first override wins");
        assert_eq!(name(json!({"appName": "web", "properties": {"plan": "internal"}})), json!("b"));
        // Overrides keep the strategy's constraints.
        assert_eq!(name(json!({"appName": "ios", "properties": {"plan": "beta"}})), json!("disabled"));
        let ids: Vec<&str> = snapshot.flags[0].rules.iter().map(|r| &*r.id).collect();
        assert_eq!(ids, ["s0.o0", "s0.o1", "s0"]);
        assert!(has_note(&notes, NoteKind::Ignored, "variants[2].overrides[1]", "contextName"));
        // Stickiness userId: the user's bucket among a:1, c:1 (b has no weight).
        for user in ["1", "2", "3", "4", "5"] {
            let want = if normalized("v", user, 2, VARIANT_SEED) == 1 { "a" } else { "c" };
            assert_eq!(name(json!({"appName": "web", "userId": user})), json!(want));
        }
    }

    #[test]
    fn dependencies_follow_the_node_sdk() {
        let doc = state(json!([
            {"name": "p.on", "enabled": true, "strategies": []},
            {"name": "p.off", "enabled": false, "strategies": []},
            {"name": "p.var", "enabled": true, "strategies": [], "variants": [{"name": "blue", "weight": 1}]},
            {"name": "c.disabled.name", "enabled": true, "strategies": [], "dependencies": [{"feature": "p.on", "variants": ["disabled"]}]},
            {"name": "c.x", "enabled": true, "strategies": [], "dependencies": [{"feature": "p.on", "variants": ["x"]}]},
            {"name": "c.not.off", "enabled": true, "strategies": [], "dependencies": [{"feature": "p.off", "enabled": false}]},
            {"name": "c.not.on", "enabled": true, "strategies": [], "dependencies": [{"feature": "p.on", "enabled": false}]},
            {"name": "c.blue", "enabled": true, "strategies": [], "dependencies": [{"feature": "p.var", "variants": ["blue", "red"]}]},
            {"name": "c.var.on", "enabled": true, "strategies": [], "dependencies": [{"feature": "p.var"}]},
            {"name": "c.self", "enabled": true, "strategies": [], "dependencies": [{"feature": "c.self"}]}
        ]));
        let (c, _, notes) = load(&doc);
        for (flag, want) in [
            ("c.disabled.name", true),
            ("c.x", false),
            ("c.not.off", true),
            ("c.not.on", false),
            ("c.blue", true),
            ("c.var.on", true),
            ("c.self", false),
        ] {
            assert_eq!(on(&c, flag, json!({})), want, "{flag}");
        }
        assert!(notes.iter().any(|n| n.feature == "c.x" && n.message.contains("none of the variants")));
        assert!(notes.iter().any(|n| n.feature == "c.self" && n.message.contains("dependencies itself")));
        assert_eq!(
            variant(&c.evaluate("c.not.on", &context(&json!({})).unwrap(), NOW)).to_value(),
            json!({"name": "disabled", "enabled": false, "feature_enabled": false})
        );
    }

    #[test]
    fn application_hostname_reads_the_hostname_attribute() {
        let (c, _, notes) =
            load(&one(json!([{"name": "applicationHostname", "parameters": {"hostNames": "Web-1, web-2"}}])));
        assert!(has_note(&notes, NoteKind::Approximated, "strategies[0]", "hostname"));
        assert!(on(&c, "f", json!({"properties": {"hostname": "WEB-1"}})));
        assert!(on(&c, "f", json!({"hostname": "web-2"})));
        assert!(!on(&c, "f", json!({"hostname": "web-3"})));
        assert!(!on(&c, "f", json!({})));
    }

    #[test]
    fn random_strategies_are_reported_and_deterministic() {
        let (c, _, notes) = load(&one(json!([{"name": "gradualRolloutRandom", "parameters": {"percentage": "50"}}])));
        assert!(has_note(&notes, NoteKind::Approximated, "strategies[0]", "$random"));
        let want = |r: &str| normalized("f", r, 100, 0) <= 50;
        assert_eq!(on(&c, "f", json!({})), want(""));
        for r in ["1", "2", "3", "4", "5", "6"] {
            assert_eq!(on(&c, "f", json!({"$random": r})), want(r));
        }
        let (_, _, notes) =
            load(&one(json!([{"name": "flexibleRollout", "parameters": {"rollout": "5", "stickiness": "random"}}])));
        assert!(has_note(&notes, NoteKind::Approximated, "parameters.stickiness", "$random"));
    }

    /// Every operator × value shape × flag, and odd strategies and variants: the import always
    /// compiles without a problem and no evaluation errors or panics.
    #[test]
    fn never_emits_a_compile_problem() {
        let ops = [
            "IN",
            "NOT_IN",
            "STR_CONTAINS",
            "STR_STARTS_WITH",
            "STR_ENDS_WITH",
            "NUM_EQ",
            "NUM_GT",
            "NUM_GTE",
            "NUM_LT",
            "NUM_LTE",
            "DATE_AFTER",
            "DATE_BEFORE",
            "SEMVER_EQ",
            "SEMVER_GT",
            "SEMVER_GTE",
            "SEMVER_LT",
            "SEMVER_LTE",
            "REGEX",
            "IN_CIDR",
            "NOPE",
        ];
        let values = [
            json!(null),
            json!([]),
            json!(["x"]),
            json!(["1.2.3", "2"]),
            json!(["2024-01-01T00:00:00Z"]),
            json!(["10.0.0.0/8", "bad"]),
            json!(["(bad"]),
            json!([""]),
            json!([1, null, {"a": 1}]),
        ];
        let singles = [
            json!(null),
            json!("5"),
            json!(5),
            json!("v1.0.0"),
            json!("1.0.0-rc.1"),
            json!("2024-01-01"),
            json!("("),
            json!(""),
        ];
        let mut constraints = Vec::new();
        for op in ops {
            for v in &values {
                for s in &singles {
                    for (inverted, ci) in [(false, false), (true, true)] {
                        for attr in ["a", "", "currentTime"] {
                            constraints.push(json!({"contextName": attr, "operator": op, "values": v, "value": s,
                                "inverted": inverted, "caseInsensitive": ci}));
                        }
                    }
                }
            }
        }
        let strategies: Vec<Value> = constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let stickiness = ["default", "random", "x", ""][i % 4];
                let kinds = [
                    json!({"name": "flexibleRollout", "parameters": {"rollout": i % 130, "stickiness": stickiness}}),
                    json!({"name": "gradualRolloutSessionId", "parameters": {"percentage": "50.5", "groupId": "g"}}),
                    json!({"name": "userWithId", "parameters": {"userIds": ""}}),
                    json!({"name": "default", "segments": [i % 4, "x", null]}),
                ];
                let mut s = kinds[i % kinds.len()].clone();
                s["constraints"] = json!([c]);
                s["variants"] =
                    json!([{"name": "", "weight": i % 3}, {"name": "off", "weight": -1}, {"name": "v", "weight": "7"}]);
                s
            })
            .collect();
        let features: Vec<Value> = strategies
            .chunks(7)
            .enumerate()
            .map(|(i, chunk)| {
                json!({"name": format!("f{i}"), "enabled": i % 5 != 0, "strategies": chunk,
                    "variants": [{"name": "a", "weight": 5_000_000_000u64}, {"name": "a", "weight": 1.5, "overrides": [{"contextName": "a", "values": ["x"]}]}],
                    "dependencies": if i > 0 { json!([{"feature": format!("f{}", i - 1), "variants": ["a", "disabled"]}]) } else { json!(null) }})
            })
            .collect();
        let doc = json!({"version": 1, "features": features, "segments": [
            {"id": 0, "constraints": []},
            {"id": 1, "constraints": [{"contextName": "a", "operator": "IN", "values": ["x"]}]},
            {"id": 2, "constraints": [{"contextName": "a", "operator": "NUM_EQ", "value": "x", "inverted": true}]},
            {"id": 3, "constraints": [{"contextName": "a", "operator": "NUM_EQ", "value": "x"}]}
        ]});
        let (c, snapshot, notes) = load(&doc);
        assert!(!notes.is_empty());
        for ctx in [
            json!({}),
            json!({"userId": "u", "properties": {"a": "x"}}),
            json!({"sessionId": "s", "currentTime": "2020-01-01T00:00:00Z", "properties": {"a": "1.2.3"}}),
        ] {
            let ctx = context(&ctx).unwrap();
            for f in &snapshot.flags {
                let e = c.evaluate(&f.key, &ctx, NOW);
                assert!(!e.is_error(), "{}: {e:?}", f.key);
            }
        }
    }
}
