//! Sets of strings for `in`/`not_in` conditions and segment key lists.
//!
//! Strings are hashed once with xxh3 at compile time; a lookup hashes the attribute once
//! (folding case on the fly when the set is case-insensitive) and compares at most a few
//! candidates, so membership in a 100k-key segment costs about as much as in a 3-key list.
//! Client-audience snapshots carry [`HashedSet`]s instead: 128-bit truncated salted SHA-256
//! digests, so a browser can test membership without ever seeing a key.

use hashbrown::HashTable;
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::table::StrTable;
use crate::text;

/// A set of (possibly case-folded) strings.
#[derive(Debug, Clone, Default)]
pub struct StringSet {
    table: StrTable,
    case_insensitive: bool,
}

/// Up to this many entries, a lookup compares against each entry instead of hashing.
const SCAN_LIMIT: usize = 8;

impl StringSet {
    pub fn new(case_insensitive: bool) -> Self {
        StringSet::with_capacity(0, case_insensitive)
    }

    pub fn with_capacity(n: usize, case_insensitive: bool) -> Self {
        StringSet { table: StrTable::with_capacity(n), case_insensitive }
    }

    pub fn insert(&mut self, s: &str) {
        if self.case_insensitive {
            let s: Box<str> = text::fold(s).into();
            let h = xxh3_64(s.as_bytes());
            if self.table.find(h, |e| e == &*s).is_none() {
                self.table.insert(h, s);
            }
        } else if self.table.find_exact(s.as_bytes()).is_none() {
            self.table.insert_exact(s.into());
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    #[inline(always)]
    pub fn contains(&self, s: &str) -> bool {
        if self.case_insensitive {
            return self.contains_folded(s);
        }
        if self.table.len() <= SCAN_LIMIT {
            return self.table.scan_exact(s.as_bytes());
        }
        self.table.find_exact(s.as_bytes()).is_some()
    }

    #[inline(never)]
    fn contains_folded(&self, s: &str) -> bool {
        let entries = self.table.entries();
        if entries.len() <= SCAN_LIMIT {
            return entries.iter().any(|e| text::eq_folded(s, e));
        }
        self.table.find(hash_folded(s), |e| text::eq_folded(s, e)).is_some()
    }
}

fn hash_folded(s: &str) -> u64 {
    if s.is_ascii() && s.len() <= 128 {
        let mut buf = [0u8; 128];
        let dst = buf.get_mut(..s.len()).unwrap_or_default();
        dst.copy_from_slice(s.as_bytes());
        dst.make_ascii_lowercase();
        return xxh3_64(dst);
    }
    let mut h = Xxh3::new();
    text::for_folded_bytes(s, |b| h.update(b));
    h.digest()
}

/// Number of hex digits in a salted key hash.
pub const SALTED_HASH_HEX_LEN: usize = 32;

/// The salted hash published instead of a key in client snapshots: the first 16 bytes of
/// SHA-256(`salt` ":" `value`), as 32 lowercase hex digits. Case-insensitive conditions hash the
/// case-folded value.
pub fn salted_key_hash(salt: &str, value: &str) -> String {
    to_hex(&salted_digest(salt, value.as_bytes()))
}

fn salted_digest(salt: &str, value: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(value);
    truncate(h)
}

fn truncate(h: Sha256) -> [u8; 16] {
    let full = h.finalize();
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(full.iter()) {
        *o = *b;
    }
    out
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Parses 32 hex digits into a digest.
pub fn parse_salted_hash(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != SALTED_HASH_HEX_LEN {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = (*pair.first()? as char).to_digit(16)?;
        let lo = (*pair.get(1)? as char).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// SHA-256 of an API key as lowercase hex: what snapshots and the database store.
pub fn api_key_hash(key: &str) -> String {
    to_hex(&Sha256::digest(key.as_bytes()))
}

/// SHA-256 of a snapshot's exact bytes as lowercase hex: its content hash and ETag. The control
/// plane computes it when publishing; the edge checks every body it receives against it.
pub fn content_hash(body: &str) -> String {
    to_hex(&Sha256::digest(body.as_bytes()))
}

/// A set of salted digests (client audience).
#[derive(Debug, Clone)]
pub struct HashedSet {
    table: HashTable<[u8; 16]>,
    salt: Box<str>,
    case_insensitive: bool,
}

impl HashedSet {
    pub fn new(salt: &str, case_insensitive: bool) -> Self {
        HashedSet { table: HashTable::new(), salt: salt.into(), case_insensitive }
    }

    pub fn insert(&mut self, digest: [u8; 16]) {
        let h = digest_key(&digest);
        if self.table.find(h, |e| *e == digest).is_none() {
            self.table.insert_unique(h, digest, digest_key);
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn contains(&self, s: &str) -> bool {
        let digest = if self.case_insensitive {
            let mut h = Sha256::new();
            h.update(self.salt.as_bytes());
            h.update(b":");
            text::for_folded_bytes(s, |b| h.update(b));
            truncate(h)
        } else {
            salted_digest(&self.salt, s.as_bytes())
        };
        self.table.find(digest_key(&digest), |e| *e == digest).is_some()
    }
}

fn digest_key(d: &[u8; 16]) -> u64 {
    let mut k = [0u8; 8];
    for (o, b) in k.iter_mut().zip(d.iter()) {
        *o = *b;
    }
    u64::from_le_bytes(k)
}

/// Either kind of key set.
#[derive(Debug, Clone)]
pub enum KeySet {
    Plain(StringSet),
    Hashed(HashedSet),
}

impl KeySet {
    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        match self {
            KeySet::Plain(set) => set.contains(s),
            KeySet::Hashed(set) => set.contains(s),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            KeySet::Plain(set) => set.is_empty(),
            KeySet::Hashed(set) => set.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_set_exact_and_folded() {
        let mut exact = StringSet::new(false);
        let mut folded = StringSet::new(true);
        for s in ["Alice", "BOB", "Ünïcode"] {
            exact.insert(s);
            folded.insert(s);
        }
        assert!(exact.contains("Alice") && !exact.contains("alice"));
        assert!(folded.contains("alice") && folded.contains("bob") && folded.contains("üNÏCODE"));
        assert!(!folded.contains("carol"));
        let long = "X".repeat(500);
        folded.insert(&long);
        assert!(folded.contains(&"x".repeat(500)));
    }

    #[test]
    fn hashed_set_matches_salted_hashes() {
        let mut set = HashedSet::new("s3cret", false);
        set.insert(parse_salted_hash(&salted_key_hash("s3cret", "user-1")).unwrap());
        assert!(set.contains("user-1"));
        assert!(!set.contains("user-2"));
        let mut ci = HashedSet::new("s3cret", true);
        ci.insert(parse_salted_hash(&salted_key_hash("s3cret", &text::fold("Mixed@Example.COM"))).unwrap());
        assert!(ci.contains("mixed@example.com") && ci.contains("MIXED@EXAMPLE.COM"));
    }

    #[test]
    fn parse_hash_rejects_garbage() {
        assert!(parse_salted_hash("zz").is_none());
        assert!(parse_salted_hash(&"g".repeat(32)).is_none());
        assert!(parse_salted_hash(&"ab".repeat(16)).is_some());
    }
}
