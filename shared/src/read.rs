//! A hand-written streaming reader of the snapshot model from JSON text.
//!
//! It accepts the same documents as the model's derived `Deserialize` (object form; unknown
//! fields ignored; the same defaults and required fields; the same JSON syntax, which it
//! leaves to serde_json for every number, escaped string and free-form value) and builds the
//! same values — a property test in `tests/fuzz.rs` holds the two to that. It exists for the
//! browser package (`vane-web`, feature `compact` on wasm32): the derived visitors were about a
//! fifth of that package, and reading through a `serde_json::Value` tree first made loading a
//! snapshot half again as slow. Native builds and the edge keep the derived path.
//!
//! Differences that cannot occur in snapshots the control plane writes: structs written as
//! JSON arrays and enums written as `{"variant": null}` are refused here, and a duplicated
//! field keeps its last value instead of being an error. Error messages are worded
//! differently.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{
    AcceptedKey, Audience, BucketHash, Condition, Config, EnvironmentSettings, Flag, FlagType, Gate, KeyScope, Name,
    Operator, Prerequisite, Rollout, Rule, Segment, Serve, Service, Snapshot, StalePolicy, ValueType, Variant,
};

pub(crate) type Read<T> = Result<T, String>;

/// The browser package's build (see the crate's `compact` feature).
const BROWSER: bool = cfg!(all(feature = "compact", target_arch = "wasm32"));

/// A cursor over JSON text.
struct Json<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Json<'a> {
    fn new(text: &'a str) -> Self {
        Json { text, at: 0 }
    }

    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&c) = bytes.get(self.at) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.at += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn found(&mut self) -> &'static str {
        match self.peek() {
            None => "the end of the document",
            Some(b'{') => "an object",
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            Some(_) => "a number",
        }
    }

    #[inline(never)]
    fn expected(&mut self, what: &str) -> String {
        let found = self.found();
        format!("expected {what}, found {found}")
    }

    /// Any JSON value, parsed (and validated) by serde_json.
    fn value(&mut self) -> Read<Value> {
        self.peek();
        let rest = self.text.get(self.at..).unwrap_or_default();
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(v)) => {
                self.at += values.byte_offset();
                Ok(v)
            }
            Some(Err(e)) => Err(crate::json::error_text(&e)),
            None => Err("expected a value, found the end of the document".into()),
        }
    }

    /// Steps over any JSON value, checking its syntax only (numbers out of `f64`'s range pass),
    /// as serde does for fields it ignores.
    fn skip(&mut self) -> Read<()> {
        self.peek();
        let rest = self.text.get(self.at..).unwrap_or_default();
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
        match values.next() {
            Some(Ok(_)) => {
                self.at += values.byte_offset();
                Ok(())
            }
            Some(Err(e)) => Err(crate::json::error_text(&e)),
            None => Err("expected a value, found the end of the document".into()),
        }
    }

    fn string(&mut self) -> Read<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return Err(self.expected("a string"));
        }
        let start = self.at + 1;
        let bytes = self.text.as_bytes();
        let mut end = start;
        while let Some(&c) = bytes.get(end) {
            match c {
                b'"' => {
                    self.at = end + 1;
                    return Ok(Cow::Borrowed(self.text.get(start..end).unwrap_or_default()));
                }
                // Escapes and control characters: serde_json's rules.
                b'\\' | 0..=0x1f => break,
                _ => end += 1,
            }
        }
        match self.value()? {
            Value::String(s) => Ok(Cow::Owned(s)),
            _ => Err("expected a string".into()),
        }
    }

    fn owned_string(&mut self) -> Read<String> {
        self.string().map(Cow::into_owned)
    }

    fn option_string(&mut self) -> Read<Option<String>> {
        if self.literal("null") { Ok(None) } else { self.owned_string().map(Some) }
    }

    fn literal(&mut self, word: &str) -> bool {
        self.peek();
        if self.text.get(self.at..).is_some_and(|rest| rest.starts_with(word)) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn boolean(&mut self) -> Read<bool> {
        if self.literal("true") {
            Ok(true)
        } else if self.literal("false") {
            Ok(false)
        } else {
            Err(self.expected("a boolean"))
        }
    }

    fn u64(&mut self) -> Read<u64> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let v = self.value()?;
                v.as_u64().ok_or_else(|| format!("expected a non-negative integer, found {}", crate::json::Text(&v)))
            }
            _ => Err(self.expected("a non-negative integer")),
        }
    }

    fn u32(&mut self) -> Read<u32> {
        let n = self.u64()?;
        u32::try_from(n).map_err(|_| format!("{n} is too large"))
    }

    /// Walks an object's fields in order, handing each name to `field`, which must consume
    /// the value. Errors are prefixed with the field's name.
    fn object(&mut self, what: &str, mut field: impl FnMut(&mut Self, &str) -> Read<()>) -> Read<()> {
        if !self.eat(b'{') {
            return Err(self.expected(what));
        }
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let name = self.string()?;
            if !self.eat(b':') {
                return Err(self.expected("`:`"));
            }
            field(self, &name).map_err(|e| at(&name, e))?;
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(());
            }
            return Err(self.expected("`,` or `}`"));
        }
    }

    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Read<T>) -> Read<Vec<T>> {
        let mut out = Vec::new();
        if !self.eat(b'[') {
            return Err(self.expected("an array"));
        }
        if self.eat(b']') {
            return Ok(out);
        }
        loop {
            let i = out.len();
            out.push(item(self).map_err(|e| at_index(i, e))?);
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                return Ok(out);
            }
            return Err(self.expected("`,` or `]`"));
        }
    }

    /// A unit enum variant written as its snake_case name.
    fn name_of<T: Copy>(&mut self, all: &[(&str, T)]) -> Read<T> {
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        let i = self.name_index(&names)?;
        all.get(i).map(|(_, t)| *t).ok_or_else(String::new)
    }

    #[inline(never)]
    fn name_index(&mut self, names: &[&str]) -> Read<usize> {
        let s = self.string()?;
        names
            .iter()
            .position(|n| *n == s)
            .ok_or_else(|| format!("unknown variant `{s}`, expected one of {}", names.join(", ")))
    }

    /// The end of the document: only whitespace may follow.
    fn end(&mut self) -> Read<()> {
        if self.peek().is_some() { Err("trailing characters after the document".into()) } else { Ok(()) }
    }

    /// One entry of a list read on its own: on failure, the entry is skipped (the document
    /// must still be valid JSON) and reported with its key.
    fn entry<T>(&mut self, list: &str, i: usize, read: fn(&mut Self) -> Read<T>) -> Read<Result<T, (String, String)>> {
        self.peek();
        let start = self.at;
        match read(self) {
            Ok(t) => Ok(Ok(t)),
            Err(e) => {
                self.at = start;
                self.skip()?;
                let entry = self.text.get(start..self.at).unwrap_or_default();
                Ok(Err((key_of(entry).unwrap_or_else(|| format!("{list}[{i}]")), e)))
            }
        }
    }

    fn entries<T>(&mut self, list: &str, read: fn(&mut Self) -> Read<T>) -> Read<Vec<Result<T, (String, String)>>> {
        let mut i = 0;
        self.list(|j| {
            i += 1;
            j.entry(list, i - 1, read)
        })
    }
}

#[inline(never)]
/// The `key` of an entry that did not read: like serde's `KeyOnly` in the typed path — a
/// string field `key` of an object, or the first element of an array.
fn key_of(entry: &str) -> Option<String> {
    let mut j = Json::new(entry);
    let mut key = None;
    match j.peek() {
        Some(b'[') => {
            j.eat(b'[');
            key = j.owned_string().ok();
        }
        _ => {
            let _ = j.object("an entry", |j, k| {
                if k == "key" {
                    key = Some(j.owned_string()?);
                } else {
                    j.skip()?;
                }
                Ok(())
            });
        }
    }
    key
}

fn at(name: &str, e: String) -> String {
    if e.starts_with('[') || e.starts_with('.') { format!("{name}{e}") } else { format!("{name}: {e}") }
}

#[inline(never)]
fn at_index(i: usize, e: String) -> String {
    if e.starts_with('.') { format!("[{i}]{e}") } else { format!("[{i}]: {e}") }
}

/// A required field that was not there.
fn required<T>(v: Option<T>, name: &str) -> Read<T> {
    v.ok_or_else(|| format!("missing field `{name}`"))
}

fn settings(j: &mut Json<'_>) -> Read<EnvironmentSettings> {
    let mut out = EnvironmentSettings::default();
    j.object("settings (an object)", |j, k| {
        match k {
            "max_staleness_s" => out.max_staleness_s = j.u64()?,
            "stale_policy" => {
                out.stale_policy =
                    j.name_of(&[("serve_stale", StalePolicy::ServeStale), ("fail_closed", StalePolicy::FailClosed)])?
            }
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(out)
}

fn flag_in(j: &mut Json<'_>) -> Read<Flag> {
    let (mut key, mut kind, mut default) = (None, None, None);
    let mut out = Flag {
        key: String::new(),
        flag_type: FlagType::Boolean,
        variants: Vec::new(),
        description: String::new(),
        tags: Vec::new(),
        enabled: true,
        off_variant: None,
        rules: Vec::new(),
        default: Serve::Variant(Cow::Borrowed("")),
        prerequisites: Vec::new(),
        salt: String::new(),
        version: 0,
    };
    j.object("a flag (an object)", |j, k| {
        match k {
            "key" => key = Some(j.owned_string()?),
            "type" => {
                kind = Some(j.name_of(&[
                    ("boolean", FlagType::Boolean),
                    ("string", FlagType::String),
                    ("number", FlagType::Number),
                    ("json", FlagType::Json),
                ])?)
            }
            "variants" => out.variants = j.list(variant)?,
            "description" => out.description = j.owned_string()?,
            "tags" => out.tags = j.list(Json::owned_string)?,
            "enabled" => out.enabled = j.boolean()?,
            "off_variant" => out.off_variant = j.option_string()?.map(Cow::Owned),
            "rules" => out.rules = j.list(rule)?,
            "default" => default = Some(serve(j)?),
            "prerequisites" => out.prerequisites = j.list(prerequisite)?,
            "salt" => out.salt = j.owned_string()?,
            "version" => out.version = j.u64()?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    out.key = required(key, "key")?;
    out.flag_type = required(kind, "type")?;
    out.default = required(default, "default")?;
    Ok(out)
}

fn variant(j: &mut Json<'_>) -> Read<Variant> {
    let (mut key, mut value) = (None, None);
    j.object("a variant (an object)", |j, k| {
        match k {
            "key" => key = Some(j.owned_string()?),
            "value" => value = Some(j.value()?),
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(Variant { key: Cow::Owned(required(key, "key")?), value: required(value, "value")? })
}

fn serve(j: &mut Json<'_>) -> Read<Serve> {
    let mut out = None;
    let mut fields = 0;
    j.object("{\"variant\": …} or {\"rollout\": …} (an object)", |j, k| {
        fields += 1;
        out = Some(match k {
            "variant" => Serve::Variant(Cow::Owned(j.owned_string()?)),
            "rollout" => Serve::Rollout(rollout(j)?),
            other => return Err(format!("unknown variant `{other}`, expected `variant` or `rollout`")),
        });
        Ok(())
    })?;
    match out {
        Some(s) if fields == 1 => Ok(s),
        _ => Err(format!("expected exactly one of `variant` or `rollout`, found {fields} fields")),
    }
}

fn bucket_hash(j: &mut Json<'_>) -> Read<BucketHash> {
    j.name_of(&[("xxh3", BucketHash::Xxh3), ("unleash", BucketHash::Unleash)])
}

/// `bucket_by`: one name, a list of names, or null (none).
fn bucket_by(j: &mut Json<'_>) -> Read<Vec<Name>> {
    match j.peek() {
        Some(b'[') => j.list(|j| j.owned_string().map(Cow::Owned)),
        _ => Ok(j.option_string()?.into_iter().map(Cow::Owned).collect()),
    }
}

fn rollout(j: &mut Json<'_>) -> Read<Rollout> {
    let (mut by, mut hash, mut group_id, mut weights) = (Vec::new(), BucketHash::Xxh3, None, None);
    j.object("a rollout (an object)", |j, k| {
        match k {
            "bucket_by" => by = bucket_by(j)?,
            "hash" => hash = bucket_hash(j)?,
            "group_id" => group_id = j.option_string()?,
            "weights" => {
                let mut w = BTreeMap::new();
                j.object("weights (an object)", |j, k| {
                    w.insert(k.to_owned(), j.u32()?);
                    Ok(())
                })?;
                weights = Some(w);
            }
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(Rollout { bucket_by: by, hash, group_id, weights: required(weights, "weights")? })
}

fn gate(j: &mut Json<'_>) -> Read<Gate> {
    let (mut percentage, mut group_id, mut by, mut hash) = (None, None, Vec::new(), BucketHash::Unleash);
    j.object("a gate (an object)", |j, k| {
        match k {
            "percentage" => percentage = Some(j.u32()?),
            "group_id" => group_id = Some(j.owned_string()?),
            "bucket_by" => by = bucket_by(j)?,
            "hash" => hash = bucket_hash(j)?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(Gate {
        percentage: required(percentage, "percentage")?,
        group_id: required(group_id, "group_id")?,
        bucket_by: by,
        hash,
    })
}

fn rule(j: &mut Json<'_>) -> Read<Rule> {
    let mut serve_of = None;
    let mut out = Rule {
        id: Cow::Borrowed(""),
        description: Cow::Borrowed(""),
        conditions: Vec::new(),
        serve: Serve::Variant(Cow::Borrowed("")),
        active_from: None,
        active_until: None,
        gate: None,
    };
    j.object("a rule (an object)", |j, k| {
        match k {
            "id" => out.id = Cow::Owned(j.owned_string()?),
            "description" => out.description = Cow::Owned(j.owned_string()?),
            "conditions" => out.conditions = j.list(condition)?,
            "serve" => serve_of = Some(serve(j)?),
            "active_from" => out.active_from = j.option_string()?,
            "active_until" => out.active_until = j.option_string()?,
            "gate" => out.gate = if j.literal("null") { None } else { Some(gate(j)?) },
            _ => j.skip()?,
        }
        Ok(())
    })?;
    out.serve = required(serve_of, "serve")?;
    Ok(out)
}

fn condition(j: &mut Json<'_>) -> Read<Condition> {
    let (mut attribute, mut operator) = (None, None);
    let mut out = Condition::new(String::new(), Operator::Exists, Vec::new());
    j.object("a condition (an object)", |j, k| {
        match k {
            "attribute" => attribute = Some(j.owned_string()?),
            "operator" => {
                let s = j.string()?;
                let op = Operator::ALL.iter().copied().find(|o| o.as_str() == s);
                operator = Some(op.ok_or_else(|| format!("unknown operator `{s}`"))?);
            }
            "values" => out.values = j.list(Json::value)?,
            "negate" => out.negate = j.boolean()?,
            "case_insensitive" => out.case_insensitive = j.boolean()?,
            "hashed" => out.hashed = j.boolean()?,
            "negate_missing" => out.negate_missing = j.boolean()?,
            "default_now" => out.default_now = j.boolean()?,
            "strict_semver" => out.strict_semver = j.boolean()?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    out.attribute = Cow::Owned(required(attribute, "attribute")?);
    out.operator = required(operator, "operator")?;
    Ok(out)
}

fn prerequisite(j: &mut Json<'_>) -> Read<Prerequisite> {
    let (mut flag, mut variants) = (None, None);
    j.object("a prerequisite (an object)", |j, k| {
        match k {
            "flag" => flag = Some(j.owned_string()?),
            "variants" => variants = Some(j.list(Json::owned_string)?),
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(Prerequisite { flag: required(flag, "flag")?, variants: required(variants, "variants")? })
}

fn segment_in(j: &mut Json<'_>) -> Read<Segment> {
    let mut key = None;
    let mut out = Segment {
        key: String::new(),
        description: String::new(),
        conditions: Vec::new(),
        included: Vec::new(),
        excluded: Vec::new(),
        hashed: false,
    };
    j.object("a segment (an object)", |j, k| {
        match k {
            "key" => key = Some(j.owned_string()?),
            "description" => out.description = j.owned_string()?,
            "conditions" => out.conditions = j.list(condition)?,
            "included" => out.included = j.list(Json::owned_string)?,
            "excluded" => out.excluded = j.list(Json::owned_string)?,
            "hashed" => out.hashed = j.boolean()?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    out.key = required(key, "key")?;
    Ok(out)
}

fn config(j: &mut Json<'_>) -> Read<Config> {
    let (mut key, mut value, mut value_type) = (None, None, None);
    let (mut version, mut description) = (0, String::new());
    j.object("a config (an object)", |j, k| {
        match k {
            "key" => key = Some(j.owned_string()?),
            "value" => value = Some(j.value()?),
            "value_type" => {
                value_type = Some(j.name_of(&[
                    ("string", ValueType::String),
                    ("number", ValueType::Number),
                    ("boolean", ValueType::Boolean),
                    ("json", ValueType::Json),
                ])?)
            }
            "version" => version = j.u64()?,
            "description" => description = j.owned_string()?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(Config {
        key: required(key, "key")?,
        value: required(value, "value")?,
        value_type: required(value_type, "value_type")?,
        version,
        description,
    })
}

fn service(j: &mut Json<'_>) -> Read<Service> {
    let (mut name, mut url) = (None, None);
    let (mut health_check_url, mut status, mut metadata) = (None, String::new(), Value::Null);
    j.object("a service (an object)", |j, k| {
        match k {
            "service_name" => name = Some(j.owned_string()?),
            "service_url" => url = Some(j.owned_string()?),
            "health_check_url" => health_check_url = j.option_string()?,
            "status" => status = j.owned_string()?,
            "metadata" => metadata = j.value()?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(Service {
        service_name: required(name, "service_name")?,
        service_url: required(url, "service_url")?,
        health_check_url,
        status,
        metadata,
    })
}

fn accepted_key(j: &mut Json<'_>) -> Read<AcceptedKey> {
    let (mut id, mut hash, mut scope) = (None, None, None);
    j.object("a key (an object)", |j, k| {
        match k {
            "id" => id = Some(j.owned_string()?),
            "hash" => hash = Some(j.owned_string()?),
            "scope" => {
                scope = Some(j.name_of(&[
                    ("admin", KeyScope::Admin),
                    ("read", KeyScope::Read),
                    ("edge", KeyScope::Edge),
                    ("client", KeyScope::Client),
                ])?)
            }
            _ => j.skip()?,
        }
        Ok(())
    })?;
    Ok(AcceptedKey { id: required(id, "id")?, hash: required(hash, "hash")?, scope: required(scope, "scope")? })
}

/// An entry that could not be read: its key (or `list[i]`) and why.
pub(crate) type Unreadable = (String, String);

/// A snapshot document: the envelope, and each entry read on its own.
pub(crate) struct Document {
    pub(crate) format_version: u32,
    pub(crate) application: String,
    pub(crate) environment: String,
    pub(crate) audience: Audience,
    pub(crate) version: u64,
    pub(crate) created_at: String,
    pub(crate) hash_salt: String,
    pub(crate) settings: EnvironmentSettings,
    pub(crate) flags: Vec<Result<Flag, Unreadable>>,
    pub(crate) segments: Vec<Result<Segment, Unreadable>>,
    pub(crate) configs: Vec<Result<Config, Unreadable>>,
    pub(crate) services: Vec<Result<Service, Unreadable>>,
    pub(crate) keys: Vec<Result<AcceptedKey, Unreadable>>,
}

/// Reads a snapshot document. Only an unusable envelope (or text that is not JSON) is an
/// error; entries that do not read come back as `Err` with their key.
pub(crate) fn document(text: &str) -> Read<Document> {
    let mut j = Json::new(text);
    let (mut format_version, mut application, mut environment, mut version) = (None, None, None, None);
    let mut out = Document {
        format_version: 0,
        application: String::new(),
        environment: String::new(),
        audience: Audience::default(),
        version: 0,
        created_at: String::new(),
        hash_salt: String::new(),
        settings: EnvironmentSettings::default(),
        flags: Vec::new(),
        segments: Vec::new(),
        configs: Vec::new(),
        services: Vec::new(),
        keys: Vec::new(),
    };
    j.object("a snapshot (an object)", |j, k| {
        match k {
            "format_version" => format_version = Some(j.u32()?),
            "application" => application = Some(j.owned_string()?),
            "environment" => environment = Some(j.owned_string()?),
            "audience" => out.audience = j.name_of(&[("server", Audience::Server), ("client", Audience::Client)])?,
            "version" => version = Some(j.u64()?),
            "created_at" => out.created_at = j.owned_string()?,
            "hash_salt" => out.hash_salt = j.owned_string()?,
            "settings" => out.settings = settings(j)?,
            "flags" => out.flags = j.entries("flags", flag_in)?,
            "segments" => out.segments = j.entries("segments", segment_in)?,
            "configs" => out.configs = j.entries("configs", config)?,
            // The browser has no use for the registry or key hashes (nor do client snapshots
            // carry them): its build only checks that they are JSON.
            "services" if !BROWSER => out.services = j.entries("services", service)?,
            "keys" if !BROWSER => out.keys = j.entries("keys", accepted_key)?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    j.end()?;
    out.format_version = required(format_version, "format_version")?;
    out.application = required(application, "application")?;
    out.environment = required(environment, "environment")?;
    out.version = required(version, "version")?;
    Ok(out)
}

fn whole<T>(text: &str, read: fn(&mut Json<'_>) -> Read<T>) -> Read<T> {
    let mut j = Json::new(text);
    let t = read(&mut j)?;
    j.end()?;
    Ok(t)
}

/// One flag document.
pub fn flag(text: &str) -> Read<Flag> {
    whole(text, flag_in)
}

/// One segment document.
pub fn segment(text: &str) -> Read<Segment> {
    whole(text, segment_in)
}

/// A whole snapshot, strictly: any entry that does not read is an error, as with serde.
pub fn snapshot(text: &str) -> Read<Snapshot> {
    fn all<T>(list: Vec<Result<T, Unreadable>>, name: &str) -> Read<Vec<T>> {
        list.into_iter().enumerate().map(|(i, r)| r.map_err(|(_, e)| format!("{name}[{i}]: {e}"))).collect()
    }
    let d = document(text)?;
    Ok(Snapshot {
        format_version: d.format_version,
        application: d.application,
        environment: d.environment,
        audience: d.audience,
        version: d.version,
        created_at: d.created_at,
        hash_salt: d.hash_salt,
        settings: d.settings,
        flags: all(d.flags, "flags")?,
        segments: all(d.segments, "segments")?,
        configs: all(d.configs, "configs")?,
        services: all(d.services, "services")?,
        keys: all(d.keys, "keys")?,
    })
}
