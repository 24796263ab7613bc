//! Decimal text to `f64`, correctly rounded, the way `str::parse::<f64>` reads it — without
//! the standard library's 10 KB table of powers of five, which was the largest single item
//! (10 KB of 137 KB gzipped) of the browser package.
//!
//! Short inputs (up to 19 significant digits, decimal exponent within ±22, mantissa below
//! 2^53) take the exact fast path: one IEEE multiplication or division of two exact values.
//! Anything else is computed exactly with a small big-integer long division and rounded half
//! to even. A property test holds the result bit for bit to `str::parse::<f64>`.
//!
//! Only finite results are returned: `inf`, `nan` and values that overflow give `None`, which
//! is what every caller wanted from `parse` anyway.

/// Parses `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.
pub fn parse_f64(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let negative = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    // Significant digits (leading zeros dropped), capped; `exp` is the decimal exponent of the
    // last kept digit; `sticky` remembers a non-zero digit beyond the cap.
    let mut digits: Vec<u8> = Vec::new();
    let mut exp: i64 = 0;
    let mut sticky = false;
    let mut seen = false;
    let mut take = |d: u8, fraction: bool, digits: &mut Vec<u8>, exp: &mut i64| {
        if digits.is_empty() && d == 0 {
            if fraction {
                *exp -= 1;
            }
        } else if digits.len() < MAX_DIGITS {
            digits.push(d);
            if fraction {
                *exp -= 1;
            }
        } else {
            sticky |= d != 0;
            if !fraction {
                *exp += 1;
            }
        }
    };
    while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        take(c - b'0', false, &mut digits, &mut exp);
        seen = true;
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            take(c - b'0', true, &mut digits, &mut exp);
            seen = true;
            i += 1;
        }
    }
    if !seen {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let mut sign = 1i64;
        match b.get(i) {
            Some(b'-') => {
                sign = -1;
                i += 1;
            }
            Some(b'+') => i += 1,
            _ => {}
        }
        let mut e: i64 = 0;
        let mut any = false;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
            any = true;
            i += 1;
        }
        if !any {
            return None;
        }
        exp += sign * e;
    }
    if i != b.len() {
        return None;
    }
    while digits.last() == Some(&0) {
        digits.pop();
        exp += 1;
    }
    let magnitude = if digits.is_empty() { Some(0.0) } else { magnitude(&digits, exp, sticky) }?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Enough digits to decide every rounding of an `f64` (the longest needs 767).
const MAX_DIGITS: usize = 800;

const EXACT_POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The value of `digits × 10^exp` (digits without leading or trailing zeros, non-empty).
fn magnitude(digits: &[u8], exp: i64, sticky: bool) -> Option<f64> {
    let leading = digits.len() as i64 + exp; // the value lies in [10^(leading-1), 10^leading)
    if leading > 310 {
        return None;
    }
    if leading < -324 {
        return Some(0.0);
    }
    if digits.len() <= 19 && !sticky {
        let m = digits.iter().fold(0u64, |m, &d| m * 10 + u64::from(d));
        if m < (1 << 53) && exp.unsigned_abs() <= 22 {
            let p = EXACT_POW10[exp.unsigned_abs() as usize];
            let v = m as f64;
            return Some(if exp >= 0 { v * p } else { v / p });
        }
    }
    slow(digits, exp, sticky)
}

/// Exact: the quotient of `num / den` to 64+ bits, then round half to even.
fn slow(digits: &[u8], exp: i64, sticky: bool) -> Option<f64> {
    let mut num = Big::from_digits(digits);
    let mut den = Big::one();
    if exp >= 0 {
        num.mul_pow10(exp as u32);
    } else {
        den.mul_pow10(exp.unsigned_abs() as u32);
    }
    // Scale so that the quotient has exactly 64 or 65 bits: q = num·2^-k / den.
    let mut k = num.bits() as i64 - den.bits() as i64 - 64;
    if k < 0 {
        num.shl(k.unsigned_abs() as usize);
    } else {
        den.shl(k as usize);
    }
    let (mut q, rest) = num.div_small_quotient(&den);
    let mut sticky = sticky || rest;
    while q >= 1 << 64 {
        sticky |= q & 1 == 1;
        q >>= 1;
        k += 1;
    }
    let mut q = q as u64;
    // Now value ≈ q · 2^k with q in [2^63, 2^64). Keep 53 bits, or fewer for subnormals.
    let mut drop = 11u32;
    let mut e = k + 11; // exponent of the mantissa's last bit
    if e < -1074 {
        let extra = (-1074 - e).min(64) as u32;
        drop += extra;
        e = -1074;
    }
    let (mut m, half_or_more, exact_half) = if drop >= 64 {
        let top = if drop == 64 { q >> 63 } else { 0 };
        let rest_nonzero = if drop == 64 { q << 1 != 0 } else { q != 0 };
        (0u64, top == 1, top == 1 && !rest_nonzero)
    } else {
        let low = q & ((1u64 << drop) - 1);
        let half = 1u64 << (drop - 1);
        q >>= drop;
        (q, low >= half, low == half)
    };
    let exact_half = exact_half && !sticky;
    if half_or_more && (!exact_half || m & 1 == 1) {
        m += 1;
    }
    if m == 1 << 53 {
        m >>= 1;
        e += 1;
    }
    let bits = if m >= 1 << 52 {
        let biased = e + 52 + 1023;
        if biased >= 2047 {
            return None;
        }
        ((biased as u64) << 52) | (m & ((1 << 52) - 1))
    } else {
        m // subnormal (or zero): e is -1074, the biased exponent 0
    };
    Some(f64::from_bits(bits))
}

/// A little-endian big unsigned integer in base 2^32, just enough for [`slow`].
struct Big(Vec<u32>);

impl Big {
    fn one() -> Self {
        Big(vec![1])
    }

    fn from_digits(digits: &[u8]) -> Self {
        let mut b = Big(vec![0]);
        for chunk in digits.chunks(9) {
            let v = chunk.iter().fold(0u32, |v, &d| v * 10 + u32::from(d));
            b.mul_add(10u32.pow(chunk.len() as u32), v);
        }
        b
    }

    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_add(1_000_000_000, 0);
            n -= 9;
        }
        if n > 0 {
            self.mul_add(10u32.pow(n), 0);
        }
    }

    fn bits(&self) -> usize {
        let top = self.0.iter().rposition(|&l| l != 0).unwrap_or(0);
        top * 32 + (32 - self.0.get(top).copied().unwrap_or(0).leading_zeros() as usize)
    }

    fn shl(&mut self, n: usize) {
        let (words, bits) = (n / 32, n % 32);
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let next = *limb >> (32 - bits);
                *limb = (*limb << bits) | carry;
                carry = next;
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        if words > 0 {
            self.0.splice(0..0, std::iter::repeat_n(0, words));
        }
    }

    fn cmp_shifted(&self, other: &Big, shift: usize) -> std::cmp::Ordering {
        let mut o = Big(other.0.clone());
        o.shl(shift);
        self.cmp(&o)
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        let len = self.0.len().max(other.0.len());
        for i in (0..len).rev() {
            let (a, b) = (self.0.get(i).copied().unwrap_or(0), other.0.get(i).copied().unwrap_or(0));
            if a != b {
                return a.cmp(&b);
            }
        }
        std::cmp::Ordering::Equal
    }

    fn sub_shifted(&mut self, other: &Big, shift: usize) {
        let mut o = Big(other.0.clone());
        o.shl(shift);
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let t = i64::from(self.0[i]) - i64::from(o.0.get(i).copied().unwrap_or(0)) - borrow;
            self.0[i] = t.rem_euclid(1 << 32) as u32;
            borrow = i64::from(t < 0);
        }
    }

    /// `self / den` for a quotient below 2^66, and whether a remainder is left.
    fn div_small_quotient(&mut self, den: &Big) -> (u128, bool) {
        let mut q = 0u128;
        for bit in (0..66).rev() {
            if self.cmp_shifted(den, bit) != std::cmp::Ordering::Less {
                self.sub_shifted(den, bit);
                q |= 1 << bit;
            }
        }
        (q, self.0.iter().any(|&l| l != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_f64;

    fn same(s: &str) {
        let want = s.parse::<f64>().ok().filter(|f| f.is_finite());
        let got = parse_f64(s);
        assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{s}: got {got:?}, want {want:?}");
    }

    #[test]
    fn agrees_with_std_on_hard_cases() {
        for s in [
            "0",
            "-0",
            "+0",
            "0.0",
            ".5",
            "5.",
            "1e5",
            "1E-5",
            "+1.5e+3",
            "007",
            "3.14",
            "-2.5e-3",
            "1e22",
            "1e23",
            "9007199254740993",
            "9007199254740992",
            "9007199254740991",
            "2.2250738585072011e-308",
            "2.2250738585072012e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1e-400",
            "1e400",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
            "1.00000000000000011102230246251565404236316680908203125",
            "1.00000000000000011102230246251565404236316680908203124",
            "1.00000000000000011102230246251565404236316680908203126",
            "0.1",
            "0.2",
            "0.3",
            "123456789012345678901234567890",
            "1e-7",
            "5e-324",
            "3e-324",
            "2e-324",
            "",
            ".",
            "e5",
            "1e",
            "1e+",
            "--1",
            "1.2.3",
            "inf",
            "NaN",
            "infinity",
            " 1",
            "1 ",
            "0x10",
            "1_000",
        ] {
            same(s);
        }
        let long = format!("0.{}1", "0".repeat(900));
        same(&long);
        let many = format!("1.{}1e10", "0".repeat(900));
        same(&many);
    }

    #[test]
    fn agrees_with_std_on_random_inputs() {
        // A small deterministic generator: no dependency, reproducible.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..30_000 {
            let r = next();
            let f = f64::from_bits(r);
            if f.is_finite() {
                same(&format!("{f}"));
                same(&format!("{f:e}"));
            }
            let digits = 1 + (next() % 25) as usize;
            let mantissa: String = (0..digits).map(|_| char::from(b'0' + (next() % 10) as u8)).collect();
            let e = (next() % 700) as i64 - 350;
            same(&format!("{mantissa}e{e}"));
            let cut = (next() as usize) % (digits + 1);
            same(&format!("{}.{}e{e}", &mantissa[..cut], &mantissa[cut..]));
        }
    }
}
