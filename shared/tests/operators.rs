//! Every operator, as a table: condition, context attribute (or missing), expected match.
//! Each row also runs with `negate` flipped: a present attribute flips the result, a missing
//! one stays false (only `exists`/`not_exists` look at presence itself).

mod common;

use common::*;
use serde_json::{Value, json};
use vane_core::{Reason, compile_json};

/// `(operator, values, case_insensitive, attribute value or Null for missing, expected)`.
type Row = (&'static str, Value, bool, Value, bool);

fn rows() -> Vec<Row> {
    let missing = Value::Null;
    vec![
        // eq / neq: typed equality; JSON number values compare numerically.
        ("eq", json!(["CA"]), false, json!("CA"), true),
        ("eq", json!(["CA"]), false, json!("ca"), false),
        ("eq", json!(["CA"]), true, json!("ca"), true),
        ("eq", json!(["ÉCOLE"]), true, json!("école"), true),
        ("eq", json!([42]), false, json!(42), true),
        ("eq", json!([42]), false, json!(42.0), true),
        ("eq", json!([42]), false, json!("42"), true),
        ("eq", json!([42]), false, json!("42.0"), true),
        ("eq", json!([42]), false, json!("forty-two"), false),
        ("eq", json!(["42"]), false, json!(42), true),
        ("eq", json!([true]), false, json!(true), true),
        ("eq", json!([true]), false, json!("true"), true),
        ("eq", json!([true]), false, json!(false), false),
        ("eq", json!(["CA"]), false, json!(["US", "CA"]), true),
        ("eq", json!(["CA"]), false, json!({"nested": "CA"}), false),
        ("eq", json!(["CA"]), false, missing.clone(), false),
        ("neq", json!(["CA"]), false, json!("US"), true),
        ("neq", json!(["CA"]), false, json!("CA"), false),
        ("neq", json!(["CA"]), true, json!("ca"), false),
        ("neq", json!(["CA"]), false, json!(["US", "CA"]), false),
        ("neq", json!(["CA"]), false, missing.clone(), false),
        // in / not_in: string forms.
        ("in", json!(["a", "b", "c"]), false, json!("b"), true),
        ("in", json!(["a", "b", "c"]), false, json!("B"), false),
        ("in", json!(["a", "B", "c"]), true, json!("b"), true),
        ("in", json!([1, 2, 3]), false, json!(2), true),
        ("in", json!([1, 2, 3]), false, json!("2"), true),
        ("in", json!(["1", "2"]), false, json!(1.0), true),
        ("in", json!(["x"]), false, json!(["y", "x"]), true),
        ("in", json!(["x"]), false, json!([]), false),
        ("in", json!(["true"]), false, json!(true), true),
        ("in", json!(["x"]), false, missing.clone(), false),
        ("not_in", json!(["a", "b"]), false, json!("c"), true),
        ("not_in", json!(["a", "b"]), false, json!("a"), false),
        ("not_in", json!(["a", "b"]), true, json!("A"), false),
        ("not_in", json!(["a", "b"]), false, json!(["c", "a"]), false),
        ("not_in", json!(["a", "b"]), false, missing.clone(), false),
        // contains / not_contains / starts_with / ends_with: any of the values.
        ("contains", json!(["@acme."]), false, json!("jo@acme.com"), true),
        ("contains", json!(["@ACME."]), true, json!("jo@acme.com"), true),
        ("contains", json!(["@acme."]), false, json!("jo@other.com"), false),
        ("contains", json!(["x", "@other"]), false, json!("jo@other.com"), true),
        ("contains", json!(["23"]), false, json!(1234), true),
        ("contains", json!([""]), false, json!("anything"), true),
        ("contains", json!(["a"]), false, missing.clone(), false),
        ("not_contains", json!(["spam"]), false, json!("ham"), true),
        ("not_contains", json!(["SPAM"]), true, json!("my spam"), false),
        ("not_contains", json!(["spam"]), false, missing.clone(), false),
        ("starts_with", json!(["admin-"]), false, json!("admin-7"), true),
        ("starts_with", json!(["ADMIN-"]), true, json!("admin-7"), true),
        ("starts_with", json!(["admin-"]), false, json!("user-7"), false),
        ("starts_with", json!(["Ünï"]), true, json!("ünïcode"), true),
        ("ends_with", json!([".edu"]), false, json!("a@mit.edu"), true),
        ("ends_with", json!([".EDU"]), true, json!("a@mit.edu"), true),
        ("ends_with", json!([".edu"]), false, json!("a@mit.com"), false),
        ("ends_with", json!(["é"]), false, json!("café"), true),
        // matches: regex, any of the patterns.
        ("matches", json!(["^user-[0-9]+$"]), false, json!("user-123"), true),
        ("matches", json!(["^user-[0-9]+$"]), false, json!("user-abc"), false),
        ("matches", json!(["^USER-"]), true, json!("user-1"), true),
        ("matches", json!(["^[0-9]{3}$"]), false, json!(123), true),
        ("matches", json!(["^x$", "^y$"]), false, json!("y"), true),
        ("matches", json!(["."]), false, missing.clone(), false),
        // Numbers; numeric strings are read as numbers, other types never match.
        ("lt", json!([10]), false, json!(9.5), true),
        ("lt", json!([10]), false, json!(10), false),
        ("lt", json!(["10"]), false, json!("9"), true),
        ("lt", json!([10]), false, json!("ten"), false),
        ("lt", json!([10]), false, json!(true), false),
        ("lte", json!([10]), false, json!(10), true),
        ("lte", json!([10]), false, json!(10.001), false),
        ("gt", json!([-1]), false, json!(0), true),
        ("gt", json!([1e9]), false, json!(1e10), true),
        ("gt", json!([1]), false, json!(1), false),
        ("gte", json!([1.5]), false, json!("1.5"), true),
        ("gte", json!([1.5]), false, json!([0, 2]), true),
        ("gte", json!([1.5]), false, missing.clone(), false),
        // Datetimes: RFC 3339 strings or Unix seconds.
        ("before", json!(["2025-01-01T00:00:00Z"]), false, json!("2024-12-31T23:59:59Z"), true),
        ("before", json!(["2025-01-01T00:00:00Z"]), false, json!("2025-01-01T00:00:00Z"), false),
        ("before", json!(["2025-01-01T00:00:00Z"]), false, json!("2025-01-01T01:00:00+02:00"), true),
        ("before", json!(["2025-01-01T00:00:00Z"]), false, json!(1_735_689_599), true),
        ("before", json!(["2025-01-01T00:00:00Z"]), false, json!("not a date"), false),
        ("after", json!(["2025-01-01T00:00:00Z"]), false, json!("2025-01-01T00:00:00.001Z"), true),
        ("after", json!(["2025-01-01T00:00:00Z"]), false, json!("2025-01-01"), false),
        ("after", json!(["2025-01-01T00:00:00Z"]), false, json!(1_735_689_601), true),
        ("after", json!(["2025-01-01T00:00:00Z"]), false, missing.clone(), false),
        // Semantic versions.
        ("semver_eq", json!(["1.2.3"]), false, json!("1.2.3"), true),
        ("semver_eq", json!(["1.2.3"]), false, json!("v1.2.3+build.9"), true),
        ("semver_eq", json!(["1.2.3"]), false, json!("1.2.3-rc.1"), false),
        ("semver_lt", json!(["2.0.0"]), false, json!("1.99.99"), true),
        ("semver_lt", json!(["2.0.0"]), false, json!("2.0.0-rc.1"), true),
        ("semver_lt", json!(["2.0.0"]), false, json!("2.0.0"), false),
        ("semver_lt", json!(["2.0.0"]), false, json!("1.2"), false),
        ("semver_lt", json!(["2.0.0"]), false, json!(1), false),
        ("semver_lte", json!(["2.0.0"]), false, json!("2.0.0"), true),
        ("semver_gt", json!(["1.0.0-alpha"]), false, json!("1.0.0-alpha.1"), true),
        ("semver_gt", json!(["1.0.0"]), false, json!("1.0.0-beta"), false),
        ("semver_gte", json!(["1.10.0"]), false, json!("1.9.0"), false),
        ("semver_gte", json!(["1.10.0"]), false, json!("1.10.0"), true),
        ("semver_gte", json!(["1.0.0"]), false, missing.clone(), false),
        // CIDR.
        ("in_cidr", json!(["10.0.0.0/8", "192.168.0.0/16"]), false, json!("192.168.4.2"), true),
        ("in_cidr", json!(["10.0.0.0/8"]), false, json!("172.16.0.1"), false),
        ("in_cidr", json!(["2001:db8::/32"]), false, json!("2001:db8::42"), true),
        ("in_cidr", json!(["10.0.0.0/8"]), false, json!("not an ip"), false),
        ("in_cidr", json!(["10.0.0.0/8"]), false, json!(10), false),
        ("in_cidr", json!(["10.0.0.0/8"]), false, missing.clone(), false),
        // Presence.
        ("exists", json!([]), false, json!("x"), true),
        ("exists", json!([]), false, json!(false), true),
        ("exists", json!([]), false, json!({"deep": 1}), true),
        ("exists", json!([]), false, missing.clone(), false),
        ("not_exists", json!([]), false, missing.clone(), true),
        ("not_exists", json!([]), false, json!(0), false),
    ]
}

fn evaluate(op: &str, values: &Value, ci: bool, negate: bool, attr: &Value) -> Reason {
    let condition = json!({
        "attribute": "a", "operator": op, "values": values, "case_insensitive": ci, "negate": negate
    });
    let snap = compiled(one_condition_flag(condition), json!([]));
    let mut context = json!({"targetingKey": "u1"});
    if !attr.is_null() {
        context["a"] = attr.clone();
    }
    snap.evaluate("f", &ctx(context), NOW).reason()
}

#[test]
fn operator_table() {
    let mut failures = Vec::new();
    for (op, values, ci, attr, expected) in rows() {
        for negate in [false, true] {
            let missing = attr.is_null();
            let want = if missing && !op.ends_with("exists") { false } else { expected ^ negate };
            let got = evaluate(op, &values, ci, negate, &attr) == Reason::TargetingMatch;
            if got != want {
                failures.push(format!("{op} {values} ci={ci} negate={negate} attr={attr}: want {want}, got {got}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failing rows:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_operator_has_rows() {
    let rows = rows();
    for op in vane_core::Operator::ALL {
        let name = op.as_str();
        if matches!(name, "in_segment" | "not_in_segment") {
            continue; // covered in segments.rs
        }
        assert!(rows.iter().any(|r| r.0 == name), "no table rows for {name}");
    }
}

/// Invalid condition values: the flag evaluates to PARSE_ERROR, the problem has a precise
/// path, and other flags in the same snapshot keep working.
#[test]
fn invalid_values_are_reported_with_paths() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"attribute": "a", "operator": "matches", "values": ["("]}),
            "rules[0].conditions[0].values[0]",
            "invalid regex",
        ),
        (
            json!({"attribute": "a", "operator": "semver_gt", "values": ["1.2"]}),
            "rules[0].conditions[0].values",
            "semantic version",
        ),
        (
            json!({"attribute": "a", "operator": "before", "values": ["yesterday"]}),
            "rules[0].conditions[0].values",
            "RFC 3339",
        ),
        (
            json!({"attribute": "a", "operator": "lt", "values": ["ten"]}),
            "rules[0].conditions[0].values",
            "needs a number",
        ),
        (
            json!({"attribute": "a", "operator": "lt", "values": [1, 2]}),
            "rules[0].conditions[0].values",
            "exactly one value",
        ),
        (
            json!({"attribute": "a", "operator": "in", "values": []}),
            "rules[0].conditions[0].values",
            "at least one value",
        ),
        (
            json!({"attribute": "a", "operator": "in", "values": [{"x": 1}]}),
            "rules[0].conditions[0].values[0]",
            "string, number or boolean",
        ),
        (
            json!({"attribute": "a", "operator": "in_cidr", "values": ["10.0.0.0/33"]}),
            "rules[0].conditions[0].values[0]",
            "invalid CIDR",
        ),
        (
            json!({"attribute": "a", "operator": "exists", "values": ["x"]}),
            "rules[0].conditions[0].values",
            "takes no values",
        ),
        (json!({"attribute": "", "operator": "exists"}), "rules[0].conditions[0].attribute", "must not be empty"),
        (
            json!({"attribute": "a", "operator": "lt", "values": [1], "case_insensitive": true}),
            "rules[0].conditions[0].case_insensitive",
            "not supported",
        ),
        (
            json!({"attribute": "a", "operator": "in_segment", "values": ["nope"]}),
            "rules[0].conditions[0].values[0]",
            "unknown segment",
        ),
        (
            json!({"attribute": "a", "operator": "in", "values": ["x"], "hashed": true}),
            "rules[0].conditions[0].hashed",
            "hash_salt",
        ),
    ];
    for (condition, path, needle) in cases {
        let mut flags = one_condition_flag(condition.clone());
        flags.as_array_mut().unwrap().push(json!({"key": "ok", "type": "string", "variants": [{"key": "a", "value": "A"}], "default": {"variant": "a"}}));
        let (snap, warnings) = compile_json(&snapshot_json(flags, json!([]))).unwrap();
        let hit = warnings.iter().find(|w| w.path == path);
        assert!(
            hit.is_some_and(|w| w.message.contains(needle)),
            "{condition}: want {path} ~ {needle}, got {warnings:?}"
        );
        let e = snap.evaluate("f", &ctx(json!({"a": "x"})), NOW);
        assert_eq!(e.error_code(), Some(vane_core::ErrorCode::ParseError), "{condition}");
        let details = e.error_details("f").unwrap_or_default();
        assert!(details.contains(path), "{condition}: {details}");
        assert_eq!(snap.evaluate("ok", &ctx(json!({})), NOW).value(), Some(&json!("A")));
    }
}

#[test]
fn unknown_operator_breaks_only_its_flag() {
    let flags = json!([
        {"key": "bad", "type": "boolean", "default": {"variant": "off"},
         "rules": [{"conditions": [{"attribute": "a", "operator": "resembles", "values": ["x"]}], "serve": {"variant": "on"}}]},
        {"key": "good", "type": "boolean", "default": {"variant": "on"}}
    ]);
    let (snap, warnings) = compile_json(&snapshot_json(flags, json!([]))).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("resembles"), "{warnings:?}");
    assert_eq!(snap.evaluate("bad", &ctx(json!({})), NOW).error_code(), Some(vane_core::ErrorCode::ParseError));
    assert_eq!(snap.evaluate("good", &ctx(json!({})), NOW).value(), Some(&json!(true)));
}
