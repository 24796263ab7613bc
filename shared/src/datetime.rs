//! RFC 3339 datetimes to Unix milliseconds, without a date library.
//!
//! The engine compares instants only, so a datetime is parsed once into an `i64` of
//! milliseconds since the Unix epoch (UTC). Accepted forms: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`
//! (`t`, `z` and a space instead of `T` are tolerated) and a bare `YYYY-MM-DD`, read as
//! midnight UTC. A leap second (`:60`) is read as `:59.999`.

/// Parses an RFC 3339 datetime (or a bare date) to Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    expect(b, 4, b'-')?;
    let month = digits(b, 5, 2)?;
    expect(b, 7, b'-')?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return days.checked_mul(86_400_000);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    expect(b, 13, b':')?;
    let minute = digits(b, 14, 2)?;
    expect(b, 16, b':')?;
    let mut second = digits(b, 17, 2)?;
    let mut millis = 0i64;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if second == 60 {
        second = 59;
        millis = 999;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100;
        while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if millis != 999 {
                millis += i64::from(d - b'0') * scale;
            }
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 => {
            let oh = digits(b, i + 1, 2)?;
            expect(b, i + 3, b':')?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    secs.checked_mul(1000)?.checked_add(millis)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
}

fn expect(b: &[u8], at: usize, c: u8) -> Option<()> {
    (b.get(at) == Some(&c)).then_some(())
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms;

    #[test]
    fn parses_valid_forms() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01", 0),
            ("2024-02-29T12:30:15.250Z", 1_709_209_815_250),
            ("2024-02-29T14:30:15.250+02:00", 1_709_209_815_250),
            ("2024-02-29t12:30:15.25z", 1_709_209_815_250),
            ("2024-02-29 12:30:15Z", 1_709_209_815_000),
            ("1969-12-31T23:59:59Z", -1000),
            ("2016-12-31T23:59:60Z", 1_483_228_799_999),
            ("2000-03-01T00:00:00.123456789-00:30", 951_870_600_123),
        ];
        for (input, want) in cases {
            assert_eq!(parse_rfc3339_ms(input), Some(want), "{input}");
        }
    }

    #[test]
    fn rejects_invalid_forms() {
        for input in [
            "",
            "2024",
            "2024-13-01",
            "2023-02-29",
            "2024-00-10",
            "2024-01-32T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0200",
            "2024-01-01T00:00:00Zjunk",
            "２０２４-01-01",
            "tomorrow",
        ] {
            assert_eq!(parse_rfc3339_ms(input), None, "{input}");
        }
    }
}
