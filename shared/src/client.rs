//! The client audience transform: what the control plane applies to a snapshot before it may
//! reach a browser. Every value a browser could use to learn who is targeted — the values of
//! `eq`, `neq`, `in` and `not_in` conditions and segment key lists — is replaced by its salted
//! hash (see [`crate::salted_key_hash`]) under the snapshot's `hash_salt`. The engine evaluates
//! the result exactly like the original (tested), without the browser ever seeing a raw key.
//!
//! Choosing which flags a client may see (server-only flags, secrets) is the control plane's
//! business; this module only rewrites targeting.

use serde_json::Value;

use crate::keyset::salted_key_hash;
use crate::model::{Condition, Flag, Operator, Segment, Snapshot};
use crate::text;

/// Hashes every hashable targeting value of `snapshot` with its `hash_salt` (which must be set)
/// and marks the conditions and segments `hashed`. Idempotent.
pub fn hash_targeting(snapshot: &mut Snapshot) {
    let salt = snapshot.hash_salt.clone();
    for flag in &mut snapshot.flags {
        hash_flag(flag, &salt);
    }
    for segment in &mut snapshot.segments {
        hash_segment(segment, &salt);
    }
}

/// [`hash_targeting`] for one flag (for publishers that assemble snapshots piecewise).
pub fn hash_flag(flag: &mut Flag, salt: &str) {
    for rule in &mut flag.rules {
        for condition in &mut rule.conditions {
            hash_condition(condition, salt);
        }
    }
}

/// [`hash_targeting`] for one segment: its conditions and its key lists.
pub fn hash_segment(segment: &mut Segment, salt: &str) {
    for condition in &mut segment.conditions {
        hash_condition(condition, salt);
    }
    if !segment.hashed {
        for list in [&mut segment.included, &mut segment.excluded] {
            for key in list.iter_mut() {
                *key = salted_key_hash(salt, key);
            }
        }
        segment.hashed = true;
    }
}

fn hash_condition(c: &mut Condition, salt: &str) {
    if c.hashed || !matches!(c.operator, Operator::Eq | Operator::Neq | Operator::In | Operator::NotIn) {
        return;
    }
    // A JSON number compared with `eq` is a numeric comparison ("42" == 42.0); hashing would
    // turn it into an exact string match, so such conditions stay as they are. Numbers are not
    // identities worth hiding.
    if matches!(c.operator, Operator::Eq | Operator::Neq) && c.values.iter().any(Value::is_number) {
        return;
    }
    c.values = c
        .values
        .iter()
        .map(|v| {
            let form = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => {
                    let mut buf = text::ScalarBuf::new();
                    text::number_str(n.as_f64().unwrap_or(f64::NAN), &mut buf).to_owned()
                }
                Value::Bool(b) => b.to_string(),
                // Not a scalar: the compiler reports it; keep it visible to that check.
                other => return other.clone(),
            };
            let form = if c.case_insensitive { text::fold(&form) } else { form };
            Value::String(salted_key_hash(salt, &form))
        })
        .collect();
    c.hashed = true;
}
