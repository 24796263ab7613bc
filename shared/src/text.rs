//! String handling shared by the compiler and the evaluator: case folding that never
//! allocates at evaluation time, and the canonical string form of scalar attributes.
//!
//! Case folding is per character (`char::to_lowercase`), applied identically to condition
//! values at compile time and to attributes at evaluation time, so both sides always agree.

use std::fmt::Write as _;

use crate::context::AttrValue;

/// Byte equality without a libc call: attribute names, flag keys and list entries are short,
/// and for those an inlined loop beats `memcmp`'s call overhead.
#[inline(always)]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    use crate::table::{load4, load8};
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len > 16 {
        return a == b;
    }
    if len >= 8 {
        load8(a, 0) == load8(b, 0) && load8(a, len - 8) == load8(b, len - 8)
    } else if len >= 4 {
        load4(a, 0) == load4(b, 0) && load4(a, len - 4) == load4(b, len - 4)
    } else if len > 0 {
        // Equal lengths of 1..=3: the first, middle and last bytes cover every position.
        let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
        at(a, 0) == at(b, 0) && at(a, len / 2) == at(b, len / 2) && at(a, len - 1) == at(b, len - 1)
    } else {
        true
    }
}

/// Case-folds a string once, at compile time.
pub fn fold(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// The folded characters of `s`, lazily.
#[inline]
pub fn folded_chars(s: &str) -> impl DoubleEndedIterator<Item = char> + Clone + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// `input` folded equals `folded` (already folded).
#[inline]
pub fn eq_folded(input: &str, folded: &str) -> bool {
    if input.is_ascii() {
        return input.len() == folded.len()
            && input.bytes().zip(folded.bytes()).all(|(a, b)| a.to_ascii_lowercase() == b);
    }
    folded_chars(input).eq(folded.chars())
}

pub fn starts_with_folded(input: &str, folded_prefix: &str) -> bool {
    let mut it = folded_chars(input);
    folded_prefix.chars().all(|p| it.next() == Some(p))
}

pub fn ends_with_folded(input: &str, folded_suffix: &str) -> bool {
    let mut it = folded_chars(input).rev();
    folded_suffix.chars().rev().all(|p| it.next() == Some(p))
}

pub fn contains_folded(input: &str, folded_needle: &str) -> bool {
    if folded_needle.is_empty() {
        return true;
    }
    // Quadratic in the worst case, but allocation-free; inputs are attribute values.
    input.char_indices().any(|(i, _)| input.get(i..).is_some_and(|rest| starts_with_folded(rest, folded_needle)))
}

/// Calls `f` with the bytes of `s` folded, without allocating: ASCII-only and short input is
/// folded into a stack buffer; anything else is streamed through `sink` in chunks.
pub fn for_folded_bytes(s: &str, mut sink: impl FnMut(&[u8])) {
    let mut buf = [0u8; 128];
    let mut len = 0;
    for c in folded_chars(s) {
        if len + 4 > buf.len() {
            sink(buf.get(..len).unwrap_or_default());
            len = 0;
        }
        let tail = buf.get_mut(len..).unwrap_or_default();
        len += c.encode_utf8(tail).len();
    }
    sink(buf.get(..len).unwrap_or_default());
}

/// A small stack buffer that holds the string form of a number or boolean.
#[derive(Debug)]
pub struct ScalarBuf {
    buf: [u8; 40],
    len: usize,
}

impl ScalarBuf {
    pub fn new() -> Self {
        ScalarBuf { buf: [0; 40], len: 0 }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl Default for ScalarBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Write for ScalarBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Canonical string form of a number: what `{n}` (Display) prints — `42` for 42.0, the
/// shortest round-trip digits in plain notation otherwise — and what `{n:e}` prints when the
/// plain form would not fit 40 bytes. Built from `zmij`'s shortest digits rather than
/// through `core::fmt`'s float printing, which would add 8 KB of code to the browser package;
/// a test holds both to the formatter's output.
pub fn number_str(n: f64, buf: &mut ScalarBuf) -> &str {
    buf.len = 0;
    let mut z = zmij::Buffer::new();
    let printed = z.format(n);
    if !n.is_finite() {
        let _ = buf.write_str(printed);
        return buf.as_str();
    }
    let (negative, body) = match printed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, printed),
    };
    let (mantissa, exp) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // value = 0.DIGITS × 10^point
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let mut point = int.len() as i32 + exp;
    while digits.first() == Some(&b'0') {
        digits.remove(0);
        point -= 1;
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let sign = if negative { "-" } else { "" };
    if digits.is_empty() {
        let _ = write!(buf, "{sign}0");
        return buf.as_str();
    }
    let d = std::str::from_utf8(&digits).unwrap_or_default();
    let n_digits = d.len() as i32;
    let plain_len = sign.len() as i32
        + if point <= 0 {
            2 - point + n_digits
        } else if point >= n_digits {
            point
        } else {
            n_digits + 1
        };
    let zeros = |k: i32| "0".repeat(k.max(0) as usize);
    let written = if plain_len <= 40 {
        if point <= 0 {
            write!(buf, "{sign}0.{}{d}", zeros(-point))
        } else if point >= n_digits {
            write!(buf, "{sign}{d}{}", zeros(point - n_digits))
        } else {
            let (a, b) = d.split_at(point as usize);
            write!(buf, "{sign}{a}.{b}")
        }
    } else {
        let (first, rest) = d.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        write!(buf, "{sign}{first}{dot}{rest}e{}", point - 1)
    };
    if written.is_err() {
        buf.len = 0;
    }
    buf.as_str()
}

/// Runs `f` on the string form of a scalar attribute (strings as is, numbers canonical,
/// booleans `true`/`false`); `None` for lists and opaque values. Only numbers need a buffer.
#[inline(always)]
pub fn with_scalar_str<R>(v: &AttrValue, f: impl FnOnce(&str) -> R) -> Option<R> {
    match v {
        AttrValue::String(s) => Some(f(s)),
        AttrValue::Number(n) => Some(f(number_str(*n, &mut ScalarBuf::new()))),
        AttrValue::Bool(true) => Some(f("true")),
        AttrValue::Bool(false) => Some(f("false")),
        AttrValue::List(_) | AttrValue::Opaque => None,
    }
}

/// A scalar read as a number: numbers as is, strings that parse as a finite number.
#[inline]
pub fn scalar_number(v: &AttrValue) -> Option<f64> {
    match v {
        AttrValue::Number(n) => Some(*n),
        AttrValue::String(s) => crate::decimal::parse_f64(s.trim()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_agrees_on_both_sides() {
        for (input, needle, eq, sw, ew, ct) in [
            ("Hello", "hello", true, true, true, true),
            ("ÉCOLE", "école", true, true, true, true),
            ("İstanbul", "i̇stanbul", true, true, true, true),
            ("Straße", "strasse", false, false, false, false),
            ("abcDEF", "cd", false, false, false, true),
            ("abcDEF", "abc", false, true, false, true),
            ("abcDEF", "def", false, false, true, true),
        ] {
            let f = fold(needle);
            assert_eq!(eq_folded(input, &f), eq, "eq {input} {needle}");
            assert_eq!(starts_with_folded(input, &f), sw, "sw {input} {needle}");
            assert_eq!(ends_with_folded(input, &f), ew, "ew {input} {needle}");
            assert_eq!(contains_folded(input, &f), ct, "ct {input} {needle}");
        }
    }

    #[test]
    fn folded_bytes_match_fold_for_long_input() {
        let long = "ÀbÇ".repeat(100);
        let mut out = Vec::new();
        for_folded_bytes(&long, |b| out.extend_from_slice(b));
        assert_eq!(out, fold(&long).into_bytes());
    }

    #[test]
    fn number_str_is_the_formatters_output() {
        fn reference(n: f64) -> String {
            let plain = format!("{n}");
            if plain.len() <= 40 { plain } else { format!("{n:e}") }
        }
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut b = ScalarBuf::new();
        // Equal to the formatter, except where two shortest forms are equally close: there
        // the formatter rounds the last digit up and `zmij` (like ECMAScript's
        // Number.prototype.toString and serde_json) takes the even one.
        let mut check = |n: f64| {
            let (got, want) = (number_str(n, &mut b).to_owned(), reference(n));
            if got != want {
                let mantissa_end = |s: &str| s.find('e').unwrap_or(s.len());
                let (g, w) = (&got[..mantissa_end(&got)], &want[..mantissa_end(&want)]);
                assert_eq!(got.len(), want.len(), "{got} vs {want}");
                assert_eq!(got.parse::<f64>().ok(), Some(n), "{got} does not round-trip");
                assert_eq!(g[..g.len() - 1], w[..w.len() - 1], "{got} vs {want}: more than the last digit differs");
                assert!(
                    g.bytes().last().is_some_and(|c| (c - b'0').is_multiple_of(2)),
                    "{got} vs {want}: not the even tie"
                );
                assert_eq!(got[mantissa_end(&got)..], want[mantissa_end(&want)..], "{got} vs {want}");
            }
        };
        for n in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e21,
            1e22,
            1e-7,
            123456789.0,
            1e39,
            1e40,
            1.5e-40,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            check(n);
        }
        for _ in 0..300_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = f64::from_bits(x);
            if n.is_finite() {
                check(n);
            }
            // Integers and short decimals, the common attribute values.
            check((x % 2_000_001) as f64 - 1_000_000.0);
            check(((x >> 20) % 100_000) as f64 / 100.0);
        }
    }

    #[test]
    fn number_forms() {
        let mut b = ScalarBuf::new();
        assert_eq!(number_str(42.0, &mut b), "42");
        assert_eq!(number_str(-0.5, &mut b), "-0.5");
        assert_eq!(number_str(1e300, &mut b), "1e300");
        assert_eq!(number_str(0.1 + 0.2, &mut b), "0.30000000000000004");
    }
}
