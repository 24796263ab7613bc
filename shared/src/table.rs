//! A small open-addressing string table: the one lookup structure behind flag/config/segment
//! indices and `in`-list sets.
//!
//! Why not `hashbrown`: on this project's 2-core target a general map lookup (SIMD group
//! probe, `memcmp` call) costs about as much as a whole flag evaluation. Here a slot is just
//! `(hash, index)`, the table is at most half full so a probe almost always ends at the first
//! slot, and keys are compared inline only when the full 64-bit hashes agree.

/// A key as two words and its length, read with fixed-size overlapping loads: 1–3 bytes as
/// (first, middle, last), 4–8 as two overlapping 4-byte loads, 9–16 as two overlapping 8-byte
/// loads. For keys of equal length up to 16 bytes this encoding is exact (every byte is covered),
/// so comparing two keys is three integer comparisons; longer keys use it as a prefilter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyWords {
    a: u64,
    b: u64,
    len: u64,
}

impl KeyWords {
    #[inline(always)]
    pub fn of(bytes: &[u8]) -> KeyWords {
        let len = bytes.len();
        let (a, b) = if len > 16 { (load8(bytes, 0), load8(bytes, len - 8)) } else { small_words(bytes) };
        KeyWords { a, b, len: len as u64 }
    }

    /// The key's length in bytes.
    #[inline(always)]
    pub fn byte_len(&self) -> usize {
        self.len as usize
    }

    /// Whether equal words mean equal keys.
    #[inline(always)]
    pub fn exact(&self) -> bool {
        self.len <= 16
    }
}

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;

/// The table's hash: a folded 64×64→128-bit multiply per 16 bytes, seeded with the length
/// (the shape of wyhash/foldhash). Only table placement depends on it; nothing persisted or
/// cross-platform does, and keys are compared on a hash match.
#[inline(always)]
fn hash_words(bytes: &[u8], w: &KeyWords) -> u64 {
    let seed = K0 ^ w.len.wrapping_mul(K1);
    if w.exact() {
        return fold(w.a ^ seed, w.b ^ K2) ^ seed;
    }
    let mut acc = seed;
    let mut rest = bytes;
    while rest.len() > 16 {
        let (chunk, tail) = rest.split_at(16);
        let (x, y) = small_words(chunk);
        acc = fold(x ^ acc, y ^ K1);
        rest = tail;
    }
    fold(w.a ^ acc, w.b ^ K2) ^ acc
}

/// The hash [`StrTable::find_exact`] uses.
#[inline]
pub fn key_hash(bytes: &[u8]) -> u64 {
    hash_words(bytes, &KeyWords::of(bytes))
}

/// Two words covering a slice of at most 16 bytes, with overlapping loads.
#[inline(always)]
fn small_words(b: &[u8]) -> (u64, u64) {
    let len = b.len();
    if len >= 8 {
        (load8(b, 0), load8(b, len - 8))
    } else if len >= 4 {
        (u64::from(load4(b, 0)), u64::from(load4(b, len - 4)))
    } else if len > 0 {
        let at = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
        ((at(0) << 16) | (at(len / 2) << 8) | at(len - 1), 0)
    } else {
        (0, 0)
    }
}

#[inline(always)]
pub(crate) fn load8(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map_or(0, u64::from_le_bytes)
}

#[inline(always)]
pub(crate) fn load4(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).map_or(0, u32::from_le_bytes)
}

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

/// Marks an empty slot.
const EMPTY: u32 = u32::MAX;

/// A key's hash, words and entry number in 32 bytes (the length narrowed to 32 bits, so it shares
/// a word with the index; a longer key's length reads as `u32::MAX`, never equal to an exact
/// key's, and its bytes are always compared).
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    a: u64,
    b: u64,
    len: u32,
    index: u32,
}

impl Slot {
    fn new(hash: u64, w: &KeyWords, index: u32) -> Slot {
        Slot { hash, a: w.a, b: w.b, len: narrow(w.len), index }
    }

    /// Words equal, the lengths compared narrowed the same way (so a key of 4 GiB or more still
    /// reaches the byte comparison).
    #[inline(always)]
    fn has_words(&self, w: &KeyWords) -> bool {
        self.a == w.a && self.b == w.b && self.len == narrow(w.len)
    }
}

#[inline(always)]
fn narrow(len: u64) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

const EMPTY_SLOT: Slot = Slot { hash: 0, a: 0, b: 0, len: 0, index: EMPTY };

/// Strings with 64-bit hashes, each with its insertion index.
///
/// Two ways to use it: exact keys hashed by the table ([`StrTable::insert_exact`] /
/// [`StrTable::find_exact`], keys of up to 16 bytes never leave the slot array), or a caller's
/// hash and equality ([`StrTable::insert`] / [`StrTable::find`], for case-folded sets).
#[derive(Debug, Clone)]
pub struct StrTable {
    slots: Box<[Slot]>,
    entries: Vec<Box<str>>,
}

impl Default for StrTable {
    fn default() -> Self {
        StrTable::with_capacity(0)
    }
}

impl StrTable {
    pub fn with_capacity(n: usize) -> Self {
        let slots = (n.max(4) * 2).next_power_of_two();
        StrTable { slots: vec![EMPTY_SLOT; slots].into_boxed_slice(), entries: Vec::with_capacity(n) }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Appends `key` as entry number `len()`, hashed by the table. The entry is findable unless
    /// an equal key was inserted before (then the earlier one keeps answering); returns whether
    /// it is findable. Entry numbers thus always equal insertion order, duplicates included.
    pub fn insert_exact(&mut self, key: Box<str>) -> bool {
        let hash = key_hash(key.as_bytes());
        self.insert(hash, key)
    }

    /// Like [`StrTable::insert_exact`] with the caller's hash (find with [`StrTable::find`]).
    pub fn insert(&mut self, hash: u64, key: Box<str>) -> bool {
        let duplicate = self.find(hash, |e| e == &*key).is_some();
        let index = self.entries.len();
        let words = KeyWords::of(key.as_bytes());
        self.entries.push(key);
        if !duplicate {
            if self.entries.len() * 2 > self.slots.len() {
                self.grow();
            }
            self.place(Slot::new(hash, &words, u32::try_from(index).unwrap_or(EMPTY - 1)));
        }
        !duplicate
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY_SLOT; self.slots.len() * 2].into_boxed_slice();
        let old = std::mem::replace(&mut self.slots, doubled);
        for slot in old.iter().filter(|s| s.index != EMPTY) {
            self.place(*slot);
        }
    }

    fn place(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = slot.hash as usize & mask;
        // At most half full, so an empty slot is always found within `len` steps.
        for _ in 0..self.slots.len() {
            match self.slots.get_mut(i) {
                Some(s) if s.index == EMPTY => {
                    *s = slot;
                    return;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The index of the entry equal to `key` (table hashed with [`StrTable::insert_exact`]).
    #[inline(always)]
    pub fn find_exact(&self, key: &[u8]) -> Option<usize> {
        let words = KeyWords::of(key);
        let hash = hash_words(key, &words);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = hash as usize & mask;
        let mut budget = self.slots.len();
        loop {
            let slot = self.slots.get(i)?;
            if slot.index == EMPTY {
                return None;
            }
            if slot.hash == hash && slot.has_words(&words) {
                let index = slot.index as usize;
                if words.exact() || self.entries.get(index).is_some_and(|e| e.as_bytes() == key) {
                    return Some(index);
                }
            }
            budget = budget.checked_sub(1)?;
            i = (i + 1) & mask;
        }
    }

    /// The index of the entry with this hash for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u64, eq: impl Fn(&str) -> bool) -> Option<usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = hash as usize & mask;
        // The table is never full, so the probe meets an empty slot; the bound is a backstop.
        let mut budget = self.slots.len();
        loop {
            let slot = self.slots.get(i)?;
            if slot.hash == hash && slot.index != EMPTY {
                let index = slot.index as usize;
                if self.entries.get(index).is_some_and(|e| eq(e)) {
                    return Some(index);
                }
            } else if slot.index == EMPTY {
                return None;
            }
            budget = budget.checked_sub(1)?;
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StrTable;
    use xxhash_rust::xxh3::xxh3_64;

    #[test]
    fn inserts_finds_and_grows() {
        let mut t = StrTable::with_capacity(0);
        for i in 0..10_000 {
            let k = format!("key-{i}");
            assert!(t.insert(xxh3_64(k.as_bytes()), k.into()));
        }
        assert!(!t.insert(xxh3_64(b"key-7"), "key-7".into()));
        assert_eq!(t.find(xxh3_64(b"key-7"), |e| e == "key-7"), Some(7));
        for i in 0..10_000 {
            let k = format!("key-{i}");
            assert_eq!(t.find(xxh3_64(k.as_bytes()), |e| e == k), Some(i));
        }
        assert_eq!(t.find(xxh3_64(b"nope"), |e| e == "nope"), None);
        // Colliding hashes still resolve by key.
        let mut c = StrTable::with_capacity(2);
        c.insert(1, "a".into());
        c.insert(1, "b".into());
        assert_eq!(c.find(1, |e| e == "b"), Some(1));
        assert_eq!(c.find(1, |e| e == "z"), None);
        assert_eq!(StrTable::default().find(5, |_| true), None);
    }

    #[test]
    fn a_slot_is_four_words() {
        assert_eq!(size_of::<super::Slot>(), 32);
    }

    #[test]
    fn exact_lookups_cover_every_length() {
        let keys: Vec<String> =
            (0..40).map(|n| "abcdefghijklmnopqrstuvwxyz0123456789ABCD".get(..n).unwrap().to_owned()).collect();
        let mut t = StrTable::with_capacity(0);
        for k in &keys {
            assert!(t.insert_exact(k.as_str().into()));
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.find_exact(k.as_bytes()), Some(i), "{k:?}");
            // Same length, one byte different anywhere: never found.
            for pos in 0..k.len() {
                let mut other = k.clone().into_bytes();
                other[pos] = b'~';
                assert_eq!(t.find_exact(&other), None, "{k:?} at {pos}");
            }
        }
        assert_eq!(t.find_exact(b"zzz"), None);
    }
}
