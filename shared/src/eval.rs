//! The evaluator: a compiled snapshot, a context and the current time in; a result out.
//!
//! Evaluation only reads. It does not allocate on the success path (results borrow from the
//! snapshot; attribute strings are compared in place; numbers are formatted into stack
//! buffers), never panics, and reads no clock: `now_ms` (Unix milliseconds) comes from the
//! caller and only matters for rule schedules.

use std::net::IpAddr;

use crate::compile::{
    CompiledCondition, CompiledFlag, CompiledRollout, CompiledServe, CompiledSnapshot, MAX_PREREQUISITE_DEPTH,
    SegmentLogic, Test,
};
use crate::context::{AttrValue, Context};
use crate::model::FlagType;
use crate::result::{ErrorCode, Evaluation, Reason};
use crate::text::{self, ScalarBuf};
use crate::{bucket, datetime, semver};

impl CompiledSnapshot {
    /// Evaluates one flag. Unknown keys resolve to `FLAG_NOT_FOUND`.
    pub fn evaluate<'s>(&'s self, key: &str, ctx: &Context, now_ms: i64) -> Evaluation<'s> {
        match self.flag_index.get(key) {
            Some(i) => self.evaluate_index(i, ctx, now_ms, 0),
            None => Evaluation::error(ErrorCode::FlagNotFound, format!("flag '{key}' was not found"), 0),
        }
    }

    /// Evaluates one flag the caller expects to be of type `expected` (OpenFeature's typed
    /// resolvers). A flag of another type resolves to `TYPE_MISMATCH`.
    pub fn evaluate_typed<'s>(&'s self, key: &str, expected: FlagType, ctx: &Context, now_ms: i64) -> Evaluation<'s> {
        let Some(i) = self.flag_index.get(key) else {
            return Evaluation::error(ErrorCode::FlagNotFound, format!("flag '{key}' was not found"), 0);
        };
        let Some(flag) = self.flags.get(i) else {
            return Evaluation::error(ErrorCode::General, "flag index out of range", 0);
        };
        if flag.flag_type != expected {
            return Evaluation::error(
                ErrorCode::TypeMismatch,
                format!("flag '{key}' is of type {}, not {}", flag.flag_type.as_str(), expected.as_str()),
                flag.version,
            );
        }
        self.evaluate_index(i, ctx, now_ms, 0)
    }

    /// Evaluates every flag, in snapshot order.
    pub fn evaluate_all<'s, 'c>(
        &'s self,
        ctx: &'c Context,
        now_ms: i64,
    ) -> impl ExactSizeIterator<Item = (&'s str, Evaluation<'s>)> + use<'s, 'c> {
        (0..self.flags.len()).map(move |i| {
            let key = self.flags.get(i).map_or("", |f| &*f.key);
            (key, self.evaluate_index(i, ctx, now_ms, 0))
        })
    }

    fn evaluate_index<'s>(&'s self, index: usize, ctx: &Context, now_ms: i64, depth: usize) -> Evaluation<'s> {
        let Some(flag) = self.flags.get(index) else {
            return Evaluation::error(ErrorCode::General, "flag index out of range", 0);
        };
        let logic = match &flag.logic {
            Ok(l) => l,
            Err(detail) => return Evaluation::error(ErrorCode::ParseError, &**detail, flag.version),
        };
        if !logic.enabled {
            return serve_optional(flag, logic.off_variant, Reason::Disabled);
        }
        for p in &logic.prerequisites {
            // Compile-time depth limits make this unreachable; it keeps recursion bounded even so.
            if depth >= MAX_PREREQUISITE_DEPTH {
                return Evaluation::error(ErrorCode::General, "prerequisite chain too deep", flag.version);
            }
            let pre = self.evaluate_index(p.flag as usize, ctx, now_ms, depth + 1);
            let passed = pre.variant_index.is_some_and(|v| p.variants.contains(&v)) && !pre.is_error();
            if !passed {
                return serve_optional(flag, logic.off_variant, Reason::PrerequisiteFailed);
            }
        }
        for rule in &logic.rules {
            if rule.active_from.is_some_and(|from| now_ms < from)
                || rule.active_until.is_some_and(|until| now_ms >= until)
            {
                continue;
            }
            if rule.conditions.iter().all(|c| self.condition_holds(c, ctx)) {
                let mut e = match &rule.serve {
                    CompiledServe::Variant(v) => serve(flag, *v, Reason::TargetingMatch),
                    CompiledServe::Rollout(r) => rollout(flag, r, ctx, Reason::TargetingMatch),
                };
                if !rule.id.is_empty() && !e.is_error() {
                    e.rule_id = Some(&rule.id);
                }
                return e;
            }
        }
        match &logic.default {
            CompiledServe::Variant(v) => {
                serve(flag, *v, if logic.is_static { Reason::Static } else { Reason::Default })
            }
            CompiledServe::Rollout(r) => rollout(flag, r, ctx, Reason::Split),
        }
    }

    #[inline]
    fn condition_holds(&self, c: &CompiledCondition, ctx: &Context) -> bool {
        let attr = ctx.get(&c.attribute);
        let positive = match &c.test {
            Test::Exists => attr.is_some(),
            Test::Segment(ids) => ids.iter().any(|&id| self.in_segment(id as usize, attr, ctx)),
            test => match attr {
                // A missing attribute makes the condition false, whatever `negate` says.
                None => return false,
                Some(AttrValue::List(items)) => items.iter().any(|item| scalar_holds(test, item)),
                Some(v) => scalar_holds(test, v),
            },
        };
        positive ^ c.invert
    }

    fn in_segment(&self, id: usize, key: Option<&AttrValue>, ctx: &Context) -> bool {
        let Some(Ok(SegmentLogic { included, excluded, conditions })) = self.segments.get(id).map(|s| &s.logic) else {
            return false;
        };
        let mut buf = ScalarBuf::new();
        if let Some(k) = key.and_then(|k| text::scalar_str(k, &mut buf)) {
            if included.as_ref().is_some_and(|s| s.contains(k)) {
                return true;
            }
            if excluded.as_ref().is_some_and(|s| s.contains(k)) {
                return false;
            }
        }
        !conditions.is_empty() && conditions.iter().all(|c| self.condition_holds(c, ctx))
    }
}

#[inline]
fn serve<'s>(flag: &'s CompiledFlag, variant: u32, reason: Reason) -> Evaluation<'s> {
    match flag.variants.get(variant as usize) {
        Some(v) => Evaluation {
            value: Some(&v.value),
            variant: Some(&v.key),
            reason,
            error_code: None,
            error_details: None,
            rule_id: None,
            flag_version: flag.version,
            variant_index: Some(variant),
        },
        None => Evaluation::error(ErrorCode::General, "variant index out of range", flag.version),
    }
}

fn serve_optional<'s>(flag: &'s CompiledFlag, variant: Option<u32>, reason: Reason) -> Evaluation<'s> {
    match variant {
        Some(v) => serve(flag, v, reason),
        None => Evaluation {
            value: None,
            variant: None,
            reason,
            error_code: None,
            error_details: None,
            rule_id: None,
            flag_version: flag.version,
            variant_index: None,
        },
    }
}

#[inline]
fn rollout<'s>(flag: &'s CompiledFlag, r: &CompiledRollout, ctx: &Context, reason: Reason) -> Evaluation<'s> {
    let mut buf = ScalarBuf::new();
    let Some(value) = ctx.get(&r.bucket_by).and_then(|v| text::scalar_str(v, &mut buf)) else {
        return Evaluation::error(
            ErrorCode::TargetingKeyMissing,
            format!("rollout buckets by '{}', which the context does not have", r.bucket_by),
            flag.version,
        );
    };
    let b = bucket::bucket(&r.prefix, value.as_bytes());
    match r.thresholds.iter().find(|(upper, _)| b < *upper) {
        Some((_, variant)) => serve(flag, *variant, reason),
        None => Evaluation::error(ErrorCode::General, "bucket outside rollout", flag.version),
    }
}

/// Runs a test on one scalar attribute value.
#[inline]
fn scalar_holds(test: &Test, v: &AttrValue) -> bool {
    let mut buf = ScalarBuf::new();
    match test {
        Test::EqString { value, case_insensitive } => text::scalar_str(v, &mut buf)
            .is_some_and(|s| if *case_insensitive { text::eq_folded(s, value) } else { s == &**value }),
        Test::EqNumber(n) => text::scalar_number(v) == Some(*n),
        Test::In(set) => text::scalar_str(v, &mut buf).is_some_and(|s| set.contains(s)),
        Test::Contains { values, case_insensitive } => text::scalar_str(v, &mut buf).is_some_and(|s| {
            values.iter().any(|n| if *case_insensitive { text::contains_folded(s, n) } else { s.contains(&**n) })
        }),
        Test::StartsWith { values, case_insensitive } => text::scalar_str(v, &mut buf).is_some_and(|s| {
            values.iter().any(|n| if *case_insensitive { text::starts_with_folded(s, n) } else { s.starts_with(&**n) })
        }),
        Test::EndsWith { values, case_insensitive } => text::scalar_str(v, &mut buf).is_some_and(|s| {
            values.iter().any(|n| if *case_insensitive { text::ends_with_folded(s, n) } else { s.ends_with(&**n) })
        }),
        Test::Matches(regexes) => text::scalar_str(v, &mut buf).is_some_and(|s| regexes.iter().any(|r| r.is_match(s))),
        Test::Number(cmp, n) => text::scalar_number(v).and_then(|x| x.partial_cmp(n)).is_some_and(|o| cmp.holds(o)),
        Test::Date(cmp, t) => attr_time_ms(v).is_some_and(|x| cmp.holds(x.cmp(t))),
        Test::Semver(cmp, want) => match v {
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
