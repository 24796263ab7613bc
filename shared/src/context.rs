//! Evaluation contexts: the attributes of whoever a flag is evaluated for.
//!
//! A context is built once per request (from JSON, or in code) and then read by every
//! condition of every flag without allocating. Attributes are kept sorted by name, so a
//! lookup is a binary search over a handful of entries and never hashes.

use serde_json::Value;

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
    attrs: Vec<(Box<str>, AttrValue)>,
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
        let mut attrs: Vec<(Box<str>, AttrValue)> =
            map.iter().filter_map(|(k, v)| Some((k.as_str().into(), AttrValue::from_json(v)?))).collect();
        attrs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Context { attrs })
    }

    /// Sets (or replaces) an attribute.
    pub fn set(&mut self, name: &str, value: impl Into<AttrValue>) -> &mut Self {
        let value = value.into();
        match self.attrs.binary_search_by(|(k, _)| (**k).cmp(name)) {
            Ok(i) => {
                if let Some(slot) = self.attrs.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.attrs.insert(i, (name.into(), value)),
        }
        self
    }

    #[inline]
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        match self.attrs.binary_search_by(|(k, _)| (**k).cmp(name)) {
            Ok(i) => self.attrs.get(i).map(|(_, v)| v),
            Err(_) => None,
        }
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
