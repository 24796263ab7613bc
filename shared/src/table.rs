//! A small open-addressing string table: the one lookup structure behind flag/config/segment
//! indices and `in`-list sets.
//!
//! Why not `hashbrown`: on this project's 2-core target a general map lookup (SIMD group
//! probe, `memcmp` call) costs about as much as a whole flag evaluation. Here a slot is just
//! `(hash, index)`, the table is at most half full so a probe almost always ends at the first
//! slot, and keys are compared inline only when the full 64-bit hashes agree.

/// The table's hash: a folded 64×64→128-bit multiply per 16 bytes, seeded with the length
/// (the shape of wyhash/foldhash). Short keys — flag keys, attribute names, list entries —
/// are read with a few fixed-size overlapping loads and no loop. Only table placement depends
/// on it; nothing persisted or cross-platform does, and keys are compared on a hash match.
#[inline]
pub fn key_hash(bytes: &[u8]) -> u64 {
    const K0: u64 = 0x243f_6a88_85a3_08d3;
    const K1: u64 = 0x1319_8a2e_0370_7344;
    const K2: u64 = 0xa409_3822_299f_31d0;
    let len = bytes.len();
    let seed = K0 ^ (len as u64).wrapping_mul(K1);
    let (a, b) = if len <= 16 {
        small_words(bytes)
    } else {
        let mut acc = seed;
        let mut rest = bytes;
        while rest.len() > 16 {
            let (chunk, tail) = rest.split_at(16);
            let (x, y) = small_words(chunk);
            acc = fold(x ^ acc, y ^ K1);
            rest = tail;
        }
        // The last 16 bytes, overlapping what was already consumed.
        let (x, y) = small_words(bytes.get(len - 16..).unwrap_or_default());
        return fold(x ^ acc, y ^ K2) ^ acc;
    };
    fold(a ^ seed, b ^ K2) ^ seed
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

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    index: u32,
}

const EMPTY_SLOT: Slot = Slot { hash: 0, index: EMPTY };

/// Strings with caller-supplied 64-bit hashes, each with its insertion index.
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

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries in insertion order.
    #[inline(always)]
    pub fn entries(&self) -> &[Box<str>] {
        &self.entries
    }

    /// Appends `key` as entry number `len()`. The entry is findable unless an equal key was
    /// inserted before (then the earlier one keeps answering); returns whether it is findable.
    /// Entry numbers thus always equal insertion order, duplicates included.
    pub fn insert(&mut self, hash: u64, key: Box<str>) -> bool {
        let duplicate = self.find(hash, |e| e == &*key).is_some();
        let index = self.entries.len();
        self.entries.push(key);
        if !duplicate {
            if (self.entries.len()) * 2 > self.slots.len() {
                self.grow();
            }
            self.place(Slot { hash, index: u32::try_from(index).unwrap_or(EMPTY - 1) });
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
}
