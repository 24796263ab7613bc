//! Evaluation contexts: the attributes of whoever a flag is evaluated for.
//!
//! A context is built once per request (from JSON, or in code) and then read by every
//! condition of every flag without allocating. Each attribute name is hashed once when the
//! context is built, and compiled conditions carry the hash of the name they read, so a lookup
//! is a binary search over a few integers plus one short byte comparison.

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

use crate::text::bytes_eq;

/// The attribute OpenFeature uses for the subject's identity; the default rollout bucket key.
pub const TARGETING_KEY: &str = "targetingKey";

/// One attribute value. JSON `null` is not a value: such an attribute counts as missing.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    String(Box<str>),
    Number(f64),
    Bool(bool),
    /// A list of scalars (e.g. groups): a condition holds if it holds for any element.
    List(Box<[AttrValue]>),
    /// An object or nested list: present (for `exists`) but never compared.
    Opaque,
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::String(s.into())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::String(s.into())
    }
}
impl From<f64> for AttrValue {
    fn from(n: f64) -> Self {
        AttrValue::Number(n)
    }
}
impl From<i64> for AttrValue {
    fn from(n: i64) -> Self {
        AttrValue::Number(n as f64)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

impl AttrValue {
    /// Converts a JSON value; `None` for `null`.
    pub fn from_json(v: &Value) -> Option<AttrValue> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => AttrValue::Bool(*b),
            Value::Number(n) => AttrValue::Number(n.as_f64()?),
            Value::String(s) => AttrValue::String(s.as_str().into()),
            Value::Array(items) => AttrValue::List(
                items
                    .iter()
                    .filter_map(|i| match i {
                        Value::Array(_) | Value::Object(_) => Some(AttrValue::Opaque),
                        scalar => AttrValue::from_json(scalar),
                    })
                    .collect(),
            ),
            Value::Object(_) => AttrValue::Opaque,
        })
    }
}

/// Why a JSON document is not a usable context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextError {
    NotAnObject,
    TargetingKeyNotString,
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextError::NotAnObject => f.write_str("context must be a JSON object"),
            ContextError::TargetingKeyNotString => f.write_str("targetingKey must be a string"),
        }
    }
}

impl std::error::Error for ContextError {}

/// An evaluation context. Build it with [`Context::from_json`] or [`Context::set`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Sorted by name hash, then name.
    attrs: Vec<Attr>,
}

#[derive(Debug, Clone, PartialEq)]
struct Attr {
    hash: u64,
    name: Box<str>,
    value: AttrValue,
}

/// The hash a compiled condition stores for the attribute it reads.
#[inline]
pub fn attribute_hash(name: &str) -> u64 {
    xxh3_64(name.as_bytes())
}

impl Context {
    pub fn new() -> Self {
        Context::default()
    }

    /// A context with only a targeting key.
    pub fn with_targeting_key(key: &str) -> Self {
        let mut c = Context::new();
        c.set(TARGETING_KEY, key);
        c
    }

    /// Reads an OpenFeature context object. `targetingKey`, when present and not null,
    /// must be a string (OFREP's rule); nested objects are kept as opaque attributes.
    pub fn from_json(v: &Value) -> Result<Context, ContextError> {
        let Value::Object(map) = v else {
            return Err(ContextError::NotAnObject);
        };
        if let Some(tk) = map.get(TARGETING_KEY)
            && !(tk.is_string() || tk.is_null())
        {
            return Err(ContextError::TargetingKeyNotString);
        }
        let mut attrs: Vec<Attr> = map
            .iter()
            .filter_map(|(k, v)| {
                Some(Attr { hash: attribute_hash(k), name: k.as_str().into(), value: AttrValue::from_json(v)? })
            })
            .collect();
        attrs.sort_unstable_by(|a, b| (a.hash, &a.name).cmp(&(b.hash, &b.name)));
        Ok(Context { attrs })
    }

    /// Sets (or replaces) an attribute.
    pub fn set(&mut self, name: &str, value: impl Into<AttrValue>) -> &mut Self {
        let value = value.into();
        let hash = attribute_hash(name);
        match self.position(hash, name) {
            Ok(i) => {
                if let Some(slot) = self.attrs.get_mut(i) {
                    slot.value = value;
                }
            }
            Err(i) => self.attrs.insert(i, Attr { hash, name: name.into(), value }),
        }
        self
    }

    fn position(&self, hash: u64, name: &str) -> Result<usize, usize> {
        self.attrs.binary_search_by(|a| a.hash.cmp(&hash).then_with(|| (*a.name).cmp(name)))
    }

    #[inline]
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        self.get_hashed(attribute_hash(name), name)
    }

    /// Lookup with a precomputed [`attribute_hash`] (what compiled conditions do).
    #[inline(always)]
    pub fn get_hashed(&self, hash: u64, name: &str) -> Option<&AttrValue> {
        // Typical contexts have a handful of attributes: a linear scan over the hashes beats a
        // binary search there. Equal hashes (almost never) are resolved by name.
        if self.attrs.len() <= 8 {
            return self
                .attrs
                .iter()
                .find(|a| a.hash == hash && bytes_eq(a.name.as_bytes(), name.as_bytes()))
                .map(|a| &a.value);
        }
        let start = self.attrs.partition_point(|a| a.hash < hash);
        self.attrs
            .get(start..)?
            .iter()
            .take_while(|a| a.hash == hash)
            .find(|a| bytes_eq(a.name.as_bytes(), name.as_bytes()))
            .map(|a| &a.value)
    }

    pub fn targeting_key(&self) -> Option<&str> {
        match self.get(TARGETING_KEY) {
            Some(AttrValue::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
}
