//! Semantic Versioning 2.0.0 parsing and precedence, without allocation at compare time.
//!
//! A leading `v`/`V` is tolerated (as flagd and most SDKs do); build metadata (`+…`) is parsed
//! and ignored for precedence, as the spec requires. Missing minor/patch are not accepted:
//! `1.2` is not a version.

use std::cmp::Ordering;

/// A parsed version borrowing its pre-release identifiers from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated pre-release identifiers, empty for a release.
    pub pre: &'a str,
}

/// An owned version for compiled conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Box<str>,
}

impl OwnedVersion {
    pub fn as_version(&self) -> Version<'_> {
        Version { major: self.major, minor: self.minor, patch: self.patch, pre: &self.pre }
    }
}

impl Version<'_> {
    pub fn to_owned_version(&self) -> OwnedVersion {
        OwnedVersion { major: self.major, minor: self.minor, patch: self.patch, pre: self.pre.into() }
    }
}

pub fn parse(s: &str) -> Option<Version<'_>> {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let (s, build) = match s.split_once('+') {
        Some((v, b)) => (v, Some(b)),
        None => (s, None),
    };
    if let Some(build) = build
        && !build.split('.').all(valid_ident)
    {
        return None;
    }
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p),
        None => (s, ""),
    };
    if s.contains('-') && (pre.is_empty() || !pre.split('.').all(valid_pre_ident)) {
        return None;
    }
    let mut parts = core.split('.');
    let major = numeric(parts.next()?)?;
    let minor = numeric(parts.next()?)?;
    let patch = numeric(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(Version { major, minor, patch, pre })
}

fn numeric(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn valid_pre_ident(s: &str) -> bool {
    valid_ident(s) && !(s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
}

/// SemVer precedence (spec §11).
pub fn compare(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch)).then_with(|| compare_pre(a.pre, b.pre))
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(nx), Ok(ny)) => nx.cmp(&ny),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_follows_the_spec_example() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for pair in ordered.windows(2) {
            let a = parse(pair[0]).unwrap();
            let b = parse(pair[1]).unwrap();
            assert_eq!(compare(&a, &b), Ordering::Less, "{} < {}", pair[0], pair[1]);
            assert_eq!(compare(&b, &a), Ordering::Greater);
        }
    }

    #[test]
    fn build_metadata_and_v_prefix() {
        let a = parse("v1.2.3+build.5").unwrap();
        let b = parse("1.2.3").unwrap();
        assert_eq!(compare(&a, &b), Ordering::Equal);
    }

    #[test]
    fn rejects_invalid() {
        for s in
            ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "a.b.c", "1.2.3-alpha..1", "-1.2.3"]
        {
            assert!(parse(s).is_none(), "{s}");
        }
    }
}
