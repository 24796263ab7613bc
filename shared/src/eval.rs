//! The evaluator: a compiled snapshot, a context and the current time in; a result out.
//!
//! Evaluation only reads. It does not allocate on the success path (results borrow from the
//! snapshot; attribute strings are compared in place; numbers are formatted into stack
//! buffers), never panics, and reads no clock: `now_ms` (Unix milliseconds) comes from the
//! caller and only matters for rule schedules.

use std::net::IpAddr;

use crate::compile::{
    BucketBy, CompiledCondition, CompiledFlag, CompiledGate, CompiledHash, CompiledRollout, CompiledRule,
    CompiledServe, CompiledSnapshot, MAX_PREREQUISITE_DEPTH, SegmentLogic, Test,
};
use crate::context::{AttrValue, Context, TARGETING_KEY};
use crate::model::{FlagType, RANDOM_ATTRIBUTE};
use crate::result::{Detail, ErrorCode, Evaluation, Reason};
use crate::text;
use crate::{bucket, datetime, semver};

/// What evaluating a flag decided, as indices into the compiled flag. Small and `Copy`, so
/// prerequisite checks and the rule loop move 12 bytes, not a result; the public
/// [`Evaluation`] is built once, at the end, by [`CompiledSnapshot::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    variant: Option<u32>,
    rule: Option<u32>,
    reason: Reason,
    error: Option<ErrorCode>,
}

impl Outcome {
    const fn served(variant: u32, reason: Reason) -> Self {
        Outcome { variant: Some(variant), rule: None, reason, error: None }
    }
    const fn optional(variant: Option<u32>, reason: Reason) -> Self {
        Outcome { variant, rule: None, reason, error: None }
    }
    const fn error(code: ErrorCode) -> Self {
        Outcome { variant: None, rule: None, reason: Reason::Error, error: Some(code) }
    }
}

/// A flag resolved once in one compiled snapshot, for callers that evaluate the same flag
/// many times (the key lookup is then paid once per snapshot version, not per evaluation).
/// A handle used with a different snapshot resolves to `FLAG_NOT_FOUND`, never to another flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlagId {
    index: u32,
    snapshot: u64,
}

impl CompiledSnapshot {
    /// Resolves a flag key to a handle for [`CompiledSnapshot::evaluate_id`].
    pub fn flag_id(&self, key: &str) -> Option<FlagId> {
        let index = u32::try_from(self.flag_index.get(key)?).ok()?;
        Some(FlagId { index, snapshot: self.identity })
    }

    /// Evaluates a flag by handle.
    #[inline]
    pub fn evaluate_id<'s>(&'s self, id: FlagId, ctx: &Context, now_ms: i64) -> Evaluation<'s> {
        match self.flags.get(id.index as usize).filter(|_| id.snapshot == self.identity) {
            Some(flag) => self.finish(flag, self.decide(flag, ctx, now_ms, 0)),
            None => Evaluation::error(ErrorCode::FlagNotFound, Detail::NotFound, None),
        }
    }

    /// Evaluates one flag. Unknown keys resolve to `FLAG_NOT_FOUND`.
    pub fn evaluate<'s>(&'s self, key: &str, ctx: &Context, now_ms: i64) -> Evaluation<'s> {
        match self.flag_index.get(key).and_then(|i| self.flags.get(i)) {
            Some(flag) => self.finish(flag, self.decide(flag, ctx, now_ms, 0)),
            None => Evaluation::error(ErrorCode::FlagNotFound, Detail::NotFound, None),
        }
    }

    /// Evaluates one flag the caller expects to be of type `expected` (OpenFeature's typed
    /// resolvers). A flag of another type resolves to `TYPE_MISMATCH`.
    pub fn evaluate_typed<'s>(&'s self, key: &str, expected: FlagType, ctx: &Context, now_ms: i64) -> Evaluation<'s> {
        let Some(flag) = self.flag_index.get(key).and_then(|i| self.flags.get(i)) else {
            return Evaluation::error(ErrorCode::FlagNotFound, Detail::NotFound, None);
        };
        if flag.flag_type != expected {
            let detail = Detail::TypeMismatch { actual: flag.flag_type, expected };
            return Evaluation::error(ErrorCode::TypeMismatch, detail, Some(flag));
        }
        self.finish(flag, self.decide(flag, ctx, now_ms, 0))
    }

    /// Evaluates every flag, in snapshot order.
    pub fn evaluate_all<'s, 'c>(
        &'s self,
        ctx: &'c Context,
        now_ms: i64,
    ) -> impl ExactSizeIterator<Item = (&'s str, Evaluation<'s>)> + use<'s, 'c> {
        self.flags.iter().map(move |flag| (&*flag.key, self.finish(flag, self.decide(flag, ctx, now_ms, 0))))
    }

    /// The cheap part inline: a context-independent flag is decided without a call.
    #[inline(always)]
    fn decide(&self, flag: &CompiledFlag, ctx: &Context, now_ms: i64, depth: usize) -> Outcome {
        match flag.static_variant {
            Some(v) => Outcome::served(v, Reason::Static),
            None => self.decide_dynamic(flag, ctx, now_ms, depth),
        }
    }

    #[inline(never)]
    fn decide_dynamic(&self, flag: &CompiledFlag, ctx: &Context, now_ms: i64, depth: usize) -> Outcome {
        let Ok(logic) = &flag.logic else {
            return Outcome::error(ErrorCode::ParseError);
        };
        if !logic.enabled {
            return Outcome::optional(logic.off_variant, Reason::Disabled);
        }
        for p in &logic.prerequisites {
            // Compile-time depth limits make this unreachable; it keeps recursion bounded even so.
            if depth >= MAX_PREREQUISITE_DEPTH {
                return Outcome::error(ErrorCode::General);
            }
            let passed = self.flags.get(p.flag as usize).is_some_and(|pre| {
                let o = self.decide(pre, ctx, now_ms, depth + 1);
                o.error.is_none() && o.variant.is_some_and(|v| p.variants.contains(&v))
            });
            if !passed {
                return Outcome::optional(logic.off_variant, Reason::PrerequisiteFailed);
            }
        }
        for (i, rule) in logic.rules.iter().enumerate() {
            if !rule.active_at(now_ms) {
                continue;
            }
            if rule.conditions.iter().all(|c| self.condition_holds(c, ctx, now_ms))
                && rule.gate.as_ref().is_none_or(|g| gate_holds(g, ctx))
            {
                let mut o = match &rule.serve {
                    CompiledServe::Variant(v) => Outcome::served(*v, Reason::TargetingMatch),
                    CompiledServe::Rollout(r) => rollout(r, ctx, Reason::TargetingMatch),
                };
                o.rule = u32::try_from(i).ok();
                return o;
            }
        }
        match &logic.default {
            CompiledServe::Variant(v) => {
                Outcome::served(*v, if logic.is_static { Reason::Static } else { Reason::Default })
            }
            CompiledServe::Rollout(r) => rollout(r, ctx, Reason::Split),
        }
    }

    /// Turns an outcome into the public result, borrowing names and values from the flag.
    #[inline(always)]
    fn finish<'s>(&'s self, flag: &'s CompiledFlag, o: Outcome) -> Evaluation<'s> {
        let rule = match (o.rule, &flag.logic) {
            (Some(r), Ok(logic)) => logic.rules.get(r as usize),
            _ => None,
        };
        if let Some(code) = o.error {
            return Evaluation::error(code, error_details(flag, code, rule), Some(flag));
        }
        Evaluation {
            flag: Some(flag),
            served: o.variant.and_then(|v| flag.variants.get(v as usize)),
            rule,
            reason: o.reason,
            error_code: None,
            detail: Detail::None,
        }
    }

    #[inline(always)]
    fn condition_holds(&self, c: &CompiledCondition, ctx: &Context, now_ms: i64) -> bool {
        let attr = ctx.get_hashed(c.attribute_hash, &c.attribute);
        let positive = match &c.test {
            Test::Exists => attr.is_some(),
            Test::Segment(ids) => ids.iter().any(|&id| self.in_segment(id as usize, attr, ctx, now_ms)),
            test => match attr {
                // The evaluation time stands in for a missing date (Unleash's `currentTime`).
                None if c.default_now => match test {
                    Test::Date(cmp, t) => cmp.holds(now_ms.cmp(t)),
                    _ => false,
                },
                // A missing attribute makes the condition false, whatever `negate` says — or,
                // with `negate_missing`, the positive test false before inversion.
                None => return c.when_missing,
                Some(AttrValue::List(items)) => items.iter().any(|item| scalar_holds(test, item)),
                Some(v) => scalar_holds(test, v),
            },
        };
        positive ^ c.invert
    }

    fn in_segment(&self, id: usize, key: Option<&AttrValue>, ctx: &Context, now_ms: i64) -> bool {
        let Some(Ok(SegmentLogic { included, excluded, conditions })) = self.segments.get(id).map(|s| &s.logic) else {
            return false;
        };
        let listed = key.and_then(|k| {
            text::with_scalar_str(k, |k| {
                if included.as_ref().is_some_and(|s| s.contains(k)) {
                    Some(true)
                } else if excluded.as_ref().is_some_and(|s| s.contains(k)) {
                    Some(false)
                } else {
                    None
                }
            })
            .flatten()
        });
        if let Some(member) = listed {
            return member;
        }
        !conditions.is_empty() && conditions.iter().all(|c| self.condition_holds(c, ctx, now_ms))
    }
}

/// What an error outcome's message needs.
#[cold]
fn error_details<'s>(flag: &'s CompiledFlag, code: ErrorCode, rule: Option<&'s CompiledRule>) -> Detail<'s> {
    match (code, &flag.logic) {
        (ErrorCode::ParseError, Err(detail)) => Detail::Text(detail),
        (ErrorCode::TargetingKeyMissing, Ok(logic)) => match rule.map_or(&logic.default, |r| &r.serve) {
            CompiledServe::Rollout(r) => Detail::MissingBucketAttribute(r.bucket_by.first()),
            CompiledServe::Variant(_) => Detail::MissingBucketAttribute(TARGETING_KEY),
        },
        // Both GENERAL causes (prerequisite recursion past the compile-time limit, a bucket past
        // the last threshold) are unreachable for a snapshot this crate compiled.
        (ErrorCode::General, _) => Detail::Text("internal evaluation error: inconsistent compiled snapshot"),
        _ => Detail::Text("evaluation failed"),
    }
}

/// The first present value of `by` in its string form, run through `f`. [`RANDOM_ATTRIBUTE`]
/// is always present: the caller's random value, or `""`.
#[inline]
fn with_bucket_value<R>(by: &BucketBy, ctx: &Context, f: impl FnOnce(&str) -> R) -> Option<R> {
    // One attribute (every native rollout): straight to it.
    if let [(name, hash)] = &*by.0
        && &**name != RANDOM_ATTRIBUTE
    {
        return ctx.get_hashed(*hash, name).and_then(|v| text::with_scalar_str(v, f));
    }
    let mut f = Some(f);
    for (name, hash) in by.0.iter() {
        let found = ctx.get_hashed(*hash, name);
        let value = match found {
            Some(v) => Some(v),
            None if &**name == RANDOM_ATTRIBUTE => return f.take().map(|f| f("")),
            None => None,
        };
        if let Some(v) = value
            && let Some(out) = text::with_scalar_str(v, |s| f.take().map(|f| f(s))).flatten()
        {
            return Some(out);
        }
    }
    None
}

#[inline]
fn rollout(r: &CompiledRollout, ctx: &Context, reason: Reason) -> Outcome {
    let bucket = with_bucket_value(&r.bucket_by, ctx, |s| match &r.hash {
        CompiledHash::Xxh3 { prefix } => bucket::bucket(prefix, s.as_bytes()),
        CompiledHash::Unleash { prefix, modulus } => prefix.hash_with(s.as_bytes()) % (*modulus).max(1),
    });
    let Some(b) = bucket else {
        return Outcome::error(ErrorCode::TargetingKeyMissing);
    };
    match r.thresholds.iter().find(|(upper, _)| b < *upper) {
        Some((_, variant)) => Outcome::served(*variant, reason),
        // Thresholds end at the scale and buckets are below it; total for safety.
        None => Outcome::error(ErrorCode::General),
    }
}

/// Unleash's percentage check: `murmur3(group_id:value, 0) % 100 + 1 ≤ percentage`; no value
/// (or 0 %) → the gate does not hold. At 100 % (Unleash's most common rollout) every bucket is
/// inside, so only whether there is a value to bucket on is checked, without hashing.
#[inline]
fn gate_holds(g: &CompiledGate, ctx: &Context) -> bool {
    let p = g.percentage;
    p > 0
        && with_bucket_value(
            &g.bucket_by,
            ctx,
            |s| {
                if p >= 100 { 1 } else { g.prefix.hash_with(s.as_bytes()) % 100 + 1 }
            },
        )
        .is_some_and(|n| n <= p)
}

/// Runs a test on one scalar attribute value. The common string tests (`in`, exact `eq`)
/// stay inline; everything else goes through one out-of-line function, which keeps the hot
/// path's frame small.
#[inline(always)]
fn scalar_holds(test: &Test, v: &AttrValue) -> bool {
    match (test, v) {
        (Test::In(set), AttrValue::String(s)) => set.contains(s),
        (Test::EqString { value, case_insensitive: false }, AttrValue::String(s)) => {
            text::bytes_eq(s.as_bytes(), value.as_bytes())
        }
        _ => scalar_holds_general(test, v),
    }
}

#[inline(never)]
fn scalar_holds_general(test: &Test, v: &AttrValue) -> bool {
    match test {
        Test::EqNumber(n) => text::scalar_number(v) == Some(*n),
        Test::Number(cmp, n) => text::scalar_number(v).and_then(|x| x.partial_cmp(n)).is_some_and(|o| cmp.holds(o)),
        Test::Date(cmp, t) => attr_time_ms(v).is_some_and(|x| cmp.holds(x.cmp(t))),
        Test::Semver(cmp, want, strict) => match v {
            AttrValue::String(s) if *strict && s.starts_with(['v', 'V']) => false,
            AttrValue::String(s) => {
                semver::parse(s).is_some_and(|x| cmp.holds(semver::compare(&x, &want.as_version())))
            }
            _ => false,
        },
        Test::Cidr(blocks) => match v {
            AttrValue::String(s) => s.trim().parse::<IpAddr>().is_ok_and(|ip| blocks.iter().any(|b| b.contains(ip))),
            _ => false,
        },
        // Handled in `condition_holds`; kept total so no input can reach a panic.
        Test::Exists | Test::Segment(_) => false,
        string_test => text::with_scalar_str(v, |s| string_holds(string_test, s)).unwrap_or(false),
    }
}

/// Runs a string test on the string form of a scalar.
fn string_holds(test: &Test, s: &str) -> bool {
    match test {
        Test::EqString { value, case_insensitive: false } => text::bytes_eq(s.as_bytes(), value.as_bytes()),
        Test::EqString { value, case_insensitive: true } => text::eq_folded(s, value),
        Test::In(set) => set.contains(s),
        Test::Contains { values, case_insensitive } => {
            values.iter().any(|n| if *case_insensitive { text::contains_folded(s, n) } else { s.contains(&**n) })
        }
        Test::StartsWith { values, case_insensitive } => {
            values.iter().any(|n| if *case_insensitive { text::starts_with_folded(s, n) } else { s.starts_with(&**n) })
        }
        Test::EndsWith { values, case_insensitive } => {
            values.iter().any(|n| if *case_insensitive { text::ends_with_folded(s, n) } else { s.ends_with(&**n) })
        }
        Test::Matches(regexes) => regexes.iter().any(|r| r.is_match(s)),
        _ => false,
    }
}

/// A datetime attribute: an RFC 3339 string, or a number of Unix seconds.
fn attr_time_ms(v: &AttrValue) -> Option<i64> {
    match v {
        AttrValue::String(s) => datetime::parse_rfc3339_ms(s),
        AttrValue::Number(n) if n.is_finite() && n.abs() < 9.0e15 => Some((n * 1000.0) as i64),
        _ => None,
    }
}
