//! The engine features that imported Unleash flags rely on: murmur3 rollouts over any weight
//! total, percentage gates that fall through, `negate_missing`, `default_now`, strict semver,
//! bucket-by lists and `$random`. Expected buckets come from Unleash's normalisation
//! (`vane_core::murmur::normalized`, itself pinned to reference vectors).

mod common;

use common::*;
use serde_json::{Value, json};
use vane_core::murmur::{VARIANT_SEED, normalized};
use vane_core::{ErrorCode, Reason, compile_json};

fn value_of(flags: Value, context: Value, key: &str) -> Option<Value> {
    let snap = compiled(flags, json!([]));
    snap.evaluate(key, &ctx(context), NOW).value().cloned()
}

#[test]
fn unleash_rollouts_put_users_where_unleash_does() {
    // Weights in variant order a:33, b:33, c:33 (total 99), as in the specification's 08 file.
    let flags = json!([{"key": "v", "type": "string", "salt": "ignored",
        "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}, {"key": "c", "value": "C"}],
        "default": {"rollout": {"hash": "unleash", "group_id": "Feature.Variants.C", "bucket_by": ["userId", "sessionId"],
                                "weights": {"c": 33, "a": 33, "b": 33}}}}]);
    let snap = compiled(flags, json!([]));
    for id in 0..500 {
        let n = normalized("Feature.Variants.C", &id.to_string(), 99, VARIANT_SEED);
        let want = if n <= 33 {
            "A"
        } else if n <= 66 {
            "B"
        } else {
            "C"
        };
        let e = snap.evaluate("v", &ctx(json!({"userId": id.to_string()})), NOW);
        assert_eq!(e.value(), Some(&json!(want)), "user {id} (normalised {n})");
        assert_eq!(e.reason(), Reason::Split);
    }
    // The specification's pinned case: user 607 → 58 → the second variant.
    assert_eq!(snap.evaluate("v", &ctx(json!({"userId": "607"})), NOW).value(), Some(&json!("B")));
    // The list falls back to sessionId; with neither, the bucket attribute is missing.
    let by_session = snap.evaluate("v", &ctx(json!({"sessionId": "607"})), NOW);
    assert_eq!(by_session.value(), Some(&json!("B")));
    let none = snap.evaluate("v", &ctx(json!({"plan": "x"})), NOW);
    assert_eq!(none.error_code(), Some(ErrorCode::TargetingKeyMissing));
}

#[test]
fn random_stands_in_for_the_callers_random_value_and_is_never_missing() {
    let flags = json!([{"key": "v", "type": "string",
        "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
        "default": {"rollout": {"hash": "unleash", "group_id": "g", "bucket_by": ["userId", "$random"], "weights": {"a": 1, "b": 1}}}}]);
    let snap = compiled(flags, json!([]));
    let without = snap.evaluate("v", &ctx(json!({})), NOW);
    let want = if normalized("g", "", 2, VARIANT_SEED) == 1 { "A" } else { "B" };
    assert_eq!(without.value(), Some(&json!(want)), "no userId, no $random: hashes \"\"");
    for r in ["1", "2", "3", "4"] {
        let want = if normalized("g", r, 2, VARIANT_SEED) == 1 { "A" } else { "B" };
        assert_eq!(snap.evaluate("v", &ctx(json!({"$random": r})), NOW).value(), Some(&json!(want)));
    }
}

#[test]
fn gates_hold_by_unleash_percentage_and_fall_through() {
    let flags = |p: u32| {
        json!([{"key": "g", "type": "boolean", "default": {"variant": "off"}, "rules": [
            {"id": "gated", "gate": {"percentage": p, "group_id": "boundary", "bucket_by": "userId"}, "serve": {"variant": "on"}}]}])
    };
    // boundary:28 → 50 and boundary:68 → 51 (the `+ 1`); boundary:17 → 1, boundary:40 → 100.
    let at = |p: u32, user: &str| value_of(flags(p), json!({"userId": user}), "g");
    assert_eq!(at(50, "28"), Some(json!(true)));
    assert_eq!(at(50, "68"), Some(json!(false)));
    assert_eq!(at(51, "68"), Some(json!(true)));
    assert_eq!(at(1, "17"), Some(json!(true)));
    assert_eq!(at(0, "17"), Some(json!(false)), "0 % never holds");
    assert_eq!(at(99, "40"), Some(json!(false)));
    assert_eq!(at(100, "40"), Some(json!(true)));
    // No value: the gate does not hold (no error); evaluation goes on to the default.
    let full = compiled(flags(100), json!([]));
    let missing = full.evaluate("g", &ctx(json!({})), NOW);
    assert_eq!((missing.value(), missing.reason()), (Some(&json!(false)), Reason::Default));
    // A later rule is reached when an earlier gate does not hold.
    let two = json!([{"key": "g", "type": "string", "variants": [{"key": "x", "value": "X"}, {"key": "y", "value": "Y"}, {"key": "z", "value": "Z"}],
        "default": {"variant": "z"}, "rules": [
        {"id": "first", "gate": {"percentage": 50, "group_id": "boundary", "bucket_by": "userId"}, "serve": {"variant": "x"}},
        {"id": "second", "serve": {"variant": "y"}}]}]);
    assert_eq!(value_of(two.clone(), json!({"userId": "28"}), "g"), Some(json!("X")));
    assert_eq!(value_of(two, json!({"userId": "68"}), "g"), Some(json!("Y")));
}

#[test]
fn negate_missing_lets_negative_tests_hold_on_a_missing_attribute() {
    let cases = [
        // (condition, context, holds)
        (
            json!({"attribute": "appName", "operator": "not_in", "values": ["web"], "negate_missing": true}),
            json!({}),
            true,
        ),
        (json!({"attribute": "appName", "operator": "not_in", "values": ["web"]}), json!({}), false),
        (
            json!({"attribute": "appName", "operator": "in", "values": ["web"], "negate": true, "negate_missing": true}),
            json!({}),
            true,
        ),
        (
            json!({"attribute": "appName", "operator": "in", "values": ["web"], "negate_missing": true}),
            json!({}),
            false,
        ),
        (
            json!({"attribute": "appName", "operator": "not_in", "values": ["web"], "negate": true, "negate_missing": true}),
            json!({}),
            false,
        ),
        (
            json!({"attribute": "appName", "operator": "not_in", "values": ["web"], "negate_missing": true}),
            json!({"appName": null}),
            true,
        ),
        (
            json!({"attribute": "appName", "operator": "not_in", "values": ["web"], "negate_missing": true}),
            json!({"appName": "web"}),
            false,
        ),
        (
            json!({"attribute": "email", "operator": "ends_with", "values": ["@x.io"], "negate": true, "negate_missing": true}),
            json!({}),
            true,
        ),
    ];
    for (condition, context, holds) in cases {
        assert_eq!(
            value_of(one_condition_flag(condition.clone()), context.clone(), "f"),
            Some(json!(holds)),
            "{condition} on {context}"
        );
    }
}

#[test]
fn default_now_compares_the_evaluation_time_when_the_date_is_missing() {
    let flags = |op: &str, at: &str| {
        one_condition_flag(json!({"attribute": "currentTime", "operator": op, "values": [at], "default_now": true}))
    };
    let snap = compiled(flags("after", "2020-01-01T00:00:00Z"), json!([]));
    assert_eq!(snap.evaluate("f", &ctx(json!({})), NOW).value(), Some(&json!(true)), "NOW is in 2025");
    assert_eq!(
        snap.evaluate("f", &ctx(json!({"currentTime": "2019-01-01T00:00:00Z"})), NOW).value(),
        Some(&json!(false)),
        "a given date wins over now"
    );
    let before = compiled(flags("before", "2020-01-01T00:00:00Z"), json!([]));
    assert_eq!(before.evaluate("f", &ctx(json!({})), NOW).value(), Some(&json!(false)));
    assert_eq!(before.evaluate("f", &ctx(json!({})), 1_500_000_000_000).value(), Some(&json!(true)), "2017");
    assert!(snap.flag_depends_on_time(0), "an answer that moves with the clock");
}

#[test]
fn strict_semver_refuses_a_leading_v() {
    let flag = |strict: bool| {
        one_condition_flag(
            json!({"attribute": "version", "operator": "semver_gte", "values": ["1.2.0"], "strict_semver": strict}),
        )
    };
    assert_eq!(value_of(flag(false), json!({"version": "v1.3.0"}), "f"), Some(json!(true)));
    assert_eq!(value_of(flag(true), json!({"version": "v1.3.0"}), "f"), Some(json!(false)));
    assert_eq!(value_of(flag(true), json!({"version": "1.3.0"}), "f"), Some(json!(true)));
}

#[test]
fn misuse_is_a_compile_problem_with_a_path() {
    let cases = [
        (json!({"rollout": {"hash": "unleash", "weights": {"on": 1}}}), "default.rollout.group_id"),
        (json!({"rollout": {"hash": "unleash", "group_id": "g", "weights": {"on": 0}}}), "default.rollout.weights"),
        (json!({"rollout": {"group_id": "g", "weights": {"on": 100_000}}}), "default.rollout.group_id"),
        (json!({"rollout": {"bucket_by": ["userId", ""], "weights": {"on": 100_000}}}), "default.rollout.bucket_by"),
    ];
    for (default, path) in cases {
        let doc = snapshot_json(json!([{"key": "f", "type": "boolean", "default": default}]), json!([]));
        let (_, warnings) = compile_json(&doc).expect("envelope");
        assert!(warnings.iter().any(|w| w.path == path), "{path} in {warnings:?}");
    }
    let rules = [
        (json!({"gate": {"percentage": 101, "group_id": "g"}, "serve": {"variant": "on"}}), "rules[0].gate.percentage"),
        (
            json!({"gate": {"percentage": 5, "group_id": "g", "hash": "xxh3"}, "serve": {"variant": "on"}}),
            "rules[0].gate.hash",
        ),
        (
            json!({"conditions": [{"attribute": "a", "operator": "eq", "values": ["x"], "default_now": true}], "serve": {"variant": "on"}}),
            "rules[0].conditions[0].default_now",
        ),
        (
            json!({"conditions": [{"attribute": "a", "operator": "eq", "values": ["x"], "strict_semver": true}], "serve": {"variant": "on"}}),
            "rules[0].conditions[0].strict_semver",
        ),
        (
            json!({"conditions": [{"attribute": "a", "operator": "exists", "negate_missing": true}], "serve": {"variant": "on"}}),
            "rules[0].conditions[0].negate_missing",
        ),
        (
            json!({"conditions": [{"attribute": "v", "operator": "semver_eq", "values": ["v1.0.0"], "strict_semver": true}], "serve": {"variant": "on"}}),
            "rules[0].conditions[0].values",
        ),
    ];
    for (rule, path) in rules {
        let doc = snapshot_json(
            json!([{"key": "f", "type": "boolean", "default": {"variant": "off"}, "rules": [rule]}]),
            json!([]),
        );
        let (_, warnings) = compile_json(&doc).expect("envelope");
        assert!(warnings.iter().any(|w| w.path == path), "{path} in {warnings:?}");
    }
}

#[test]
fn the_new_fields_round_trip_through_json() {
    let flags = json!([{"key": "v", "type": "string",
        "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}], "default": {"variant": "a"},
        "rules": [{"id": "s0", "gate": {"percentage": 40, "group_id": "v", "bucket_by": ["userId", "sessionId", "$random"]},
                   "conditions": [{"attribute": "appName", "operator": "not_in", "values": ["x"], "negate_missing": true}],
                   "serve": {"rollout": {"hash": "unleash", "group_id": "v", "bucket_by": "userId", "weights": {"a": 1, "b": 3}}}}]}]);
    let doc = snapshot_json(flags, json!([]));
    let snapshot: vane_core::Snapshot = serde_json::from_str(&doc).expect("reads");
    let again: vane_core::Snapshot =
        serde_json::from_str(&serde_json::to_string(&snapshot).expect("writes")).expect("reads back");
    assert_eq!(snapshot, again);
    assert_eq!(vane_core::read::snapshot(&doc).ok(), Some(snapshot), "the browser's reader agrees");
}
