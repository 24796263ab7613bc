//! Sets of strings for `in`/`not_in` conditions and segment key lists.
//!
//! Strings are hashed once with xxh3 at compile time; a lookup hashes the attribute once
//! (folding case on the fly when the set is case-insensitive) and compares at most a few
//! candidates, so membership in a 100k-key segment costs about as much as in a 3-key list.
//! Client-audience snapshots carry [`HashedSet`]s instead: 128-bit truncated salted SHA-256
//! digests, so a browser can test membership without ever seeing a key.

use hashbrown::HashTable;
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::xxh3_64;

use crate::table::{KeyWords, StrTable};
use crate::text;

/// A set of (possibly case-folded) strings.
#[derive(Debug, Clone)]
pub struct StringSet {
    repr: Repr,
    case_insensitive: bool,
}

/// Most `in` lists hold a handful of values: those are kept as one text and one array of key
/// words (two allocations, whatever the count) and scanned; larger sets are hash tables.
#[derive(Debug, Clone)]
enum Repr {
    Small {
        /// The entries, one after another.
        text: String,
        /// Each entry's words (its length included, so its place in `text` is implied).
        words: Vec<KeyWords>,
    },
    Table(StrTable),
}

impl Default for StringSet {
    fn default() -> Self {
        StringSet::new(false)
    }
}

/// Sets made for up to this many entries are [`Repr::Small`]: a lookup compares against each
/// entry instead of hashing.
const SCAN_LIMIT: usize = 8;

impl StringSet {
    /// A set for an unknown number of entries (a table).
    pub fn new(case_insensitive: bool) -> Self {
        StringSet::with_capacity(SCAN_LIMIT + 1, case_insensitive)
    }

    /// A set for `n` entries: small (scanned) up to [`SCAN_LIMIT`], else a table. A small set
    /// given more entries than it was made for still answers right, only scanning further.
    pub fn with_capacity(n: usize, case_insensitive: bool) -> Self {
        StringSet::with_capacity_and_bytes(n, 0, case_insensitive)
    }

    /// [`StringSet::with_capacity`], with room for `bytes` of text in a small set (so its text
    /// is allocated once, not grown entry by entry).
    pub fn with_capacity_and_bytes(n: usize, bytes: usize, case_insensitive: bool) -> Self {
        let repr = if n <= SCAN_LIMIT {
            Repr::Small { text: String::with_capacity(bytes), words: Vec::with_capacity(n) }
        } else {
            Repr::Table(StrTable::with_capacity(n))
        };
        StringSet { repr, case_insensitive }
    }

    pub fn insert(&mut self, s: &str) {
        let folded;
        let s = if self.case_insensitive {
            folded = text::fold(s);
            &*folded
        } else {
            s
        };
        match &mut self.repr {
            Repr::Small { text, words } => {
                if !small_entries(text, words).any(|(_, e)| e == s) {
                    text.push_str(s);
                    words.push(KeyWords::of(s.as_bytes()));
                }
            }
            Repr::Table(table) if self.case_insensitive => {
                let h = xxh3_64(s.as_bytes());
                if table.find(h, |e| e == s).is_none() {
                    table.insert(h, s.into());
                }
            }
            Repr::Table(table) => {
                if table.find_exact(s.as_bytes()).is_none() {
                    table.insert_exact(s.into());
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small { words, .. } => words.len(),
            Repr::Table(table) => table.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn contains(&self, s: &str) -> bool {
        if self.case_insensitive {
            return self.contains_folded(s);
        }
        match &self.repr {
            Repr::Small { text, words } => {
                let key = KeyWords::of(s.as_bytes());
                if key.exact() {
                    words.contains(&key)
                } else {
                    small_entries(text, words).any(|(w, e)| *w == key && e == s)
                }
            }
            Repr::Table(table) => table.find_exact(s.as_bytes()).is_some(),
        }
    }

    #[inline(never)]
    fn contains_folded(&self, s: &str) -> bool {
        match &self.repr {
            Repr::Small { text, words } => small_entries(text, words).any(|(_, e)| text::eq_folded(s, e)),
            Repr::Table(table) => table.find(hash_folded(s), |e| text::eq_folded(s, e)).is_some(),
        }
    }
}

/// The entries of a small set with their words.
fn small_entries<'s>(text: &'s str, words: &'s [KeyWords]) -> impl Iterator<Item = (&'s KeyWords, &'s str)> {
    let mut at = 0usize;
    words.iter().map(move |w| {
        let start = at;
        at += w.byte_len();
        (w, text.get(start..at).unwrap_or_default())
    })
}

fn hash_folded(s: &str) -> u64 {
    if s.is_ascii() && s.len() <= 128 {
        let mut buf = [0u8; 128];
        let dst = buf.get_mut(..s.len()).unwrap_or_default();
        dst.copy_from_slice(s.as_bytes());
        dst.make_ascii_lowercase();
        return xxh3_64(dst);
    }
    // Rare (non-ASCII or long): one-shot over a heap copy (the same hash as streaming, and
    // xxh3's streaming code stays out of the browser package).
    let mut folded = Vec::with_capacity(s.len());
    text::for_folded_bytes(s, |b| folded.extend_from_slice(b));
    xxh3_64(&folded)
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

/// xxh3-128 of a snapshot's exact bytes as 32 lowercase hex digits: its content hash and ETag.
/// The control plane computes it when publishing; the edge checks every body it receives against
/// it ([`content_matches`]). It guards against corruption and truncation in transit, which is
/// what it is for (authenticity is the channel's: TLS and keys); SHA-256, used before, did no
/// more for that and was a tenth of the speed on bodies of megabytes, hashed on every write.
pub fn content_hash(body: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(body.as_bytes()))
}

/// Whether `etag` is the content hash of `body`: xxh3-128 (32 hex digits), or SHA-256 (64) for
/// snapshots published before the switch — so an edge accepts both while the control plane is
/// upgraded.
pub fn content_matches(body: &str, etag: &str) -> bool {
    match etag.len() {
        32 => content_hash(body) == etag,
        64 => to_hex(&Sha256::digest(body.as_bytes())) == etag,
        _ => false,
    }
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
    fn small_sets_scan_and_large_ones_hash() {
        // Keys of every length up to 40 (the exact and the prefiltered word encodings), eight
        // at a time (a small set), then all in one set made for an unknown count (a table).
        let keys: Vec<String> =
            (0..40).map(|n| "abcdefghijklmnopqrstuvwxyz0123456789ABCD".get(..n).unwrap().to_owned()).collect();
        let mut all = StringSet::new(false);
        for chunk in keys.chunks(SCAN_LIMIT) {
            let mut set = StringSet::with_capacity(chunk.len(), false);
            for k in chunk {
                set.insert(k);
                set.insert(k);
                all.insert(k);
            }
            assert!(matches!(set.repr, Repr::Small { .. }));
            assert_eq!(set.len(), chunk.len(), "repeats are not entries");
            for k in chunk {
                assert!(set.contains(k), "{k:?}");
                for pos in 0..k.len() {
                    let mut other = k.clone().into_bytes();
                    other[pos] = b'~';
                    assert!(!set.contains(std::str::from_utf8(&other).unwrap()), "{k:?} at {pos}");
                }
            }
        }
        assert!(matches!(all.repr, Repr::Table(_)));
        assert_eq!(all.len(), keys.len());
        assert!(keys.iter().all(|k| all.contains(k)) && !all.contains("zzz"));

        let mut folded = StringSet::with_capacity(3, true);
        for s in ["Ada", "ADA", "Bob"] {
            folded.insert(s);
        }
        assert_eq!(folded.len(), 2);
        assert!(folded.contains("aDa") && folded.contains("BOB") && !folded.contains("carol"));

        // A small set given more than it was made for keeps answering (it scans further).
        let mut over = StringSet::with_capacity(1, false);
        for k in &keys {
            over.insert(k);
        }
        assert!(matches!(over.repr, Repr::Small { .. }));
        assert!(keys.iter().all(|k| over.contains(k)) && !over.contains("zzz"));
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
