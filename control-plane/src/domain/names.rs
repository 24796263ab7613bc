//! What keys and texts may look like.

use crate::error::FieldError;

/// Application and environment keys: `[a-z0-9][a-z0-9._-]{0,99}` (the engine's rule, which the
/// edge applies too).
pub use vane_core::is_slug;

/// Flag and segment keys: `[A-Za-z0-9][A-Za-z0-9._-]{0,199}`, case-sensitive, safe in a URL path.
pub fn is_entity_key(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// What [`is_entity_key`] asks for, as a message.
pub const ENTITY_KEY: &str = "must match [A-Za-z0-9][A-Za-z0-9._-]{0,199}";

/// A slug derived from a display name (for clients of the original service, which sent names only).
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(100).collect()
}

/// Notes a problem when `value` is not `min` to `max` characters long.
pub fn check_text(problems: &mut Vec<FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max {
        problems.push(FieldError::new(field, format!("must be {min} to {max} characters, is {n}")));
    }
}
