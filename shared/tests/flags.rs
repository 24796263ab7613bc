//! Flag-level behaviour: reasons, disabled flags, default/off variants, typed evaluation,
//! segments, prerequisites, schedules, client-audience hashing, configs and result JSON.

mod common;

use common::*;
use serde_json::json;
use vane_core::{
    Context, ErrorCode, FlagType, Reason, Resolution, Snapshot, compile, compile_json, salted_key_hash, text, validate,
};

#[test]
fn static_default_disabled_and_empty_rules() {
    let snap = compiled(
        json!([
            {"key": "static", "type": "string", "variants": [{"key": "a", "value": "A"}], "default": {"variant": "a"}},
            {"key": "ruled", "type": "boolean", "default": {"variant": "off"},
             "rules": [{"conditions": [{"attribute": "plan", "operator": "eq", "values": ["pro"]}], "serve": {"variant": "on"}}]},
            {"key": "empty-rule", "type": "boolean", "default": {"variant": "off"},
             "rules": [{"id": "all", "conditions": [], "serve": {"variant": "on"}}]},
            {"key": "off", "type": "boolean", "enabled": false, "default": {"variant": "on"}},
            {"key": "off-explicit", "type": "string", "enabled": false, "off_variant": "b",
             "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}], "default": {"variant": "a"}},
            {"key": "off-none", "type": "string", "enabled": false,
             "variants": [{"key": "a", "value": "A"}], "default": {"variant": "a"}}
        ]),
        json!([]),
    );
    let c = ctx(json!({"targetingKey": "u", "plan": "free"}));
    let e = snap.evaluate("static", &c, NOW);
    assert_eq!((e.value(), e.variant(), e.reason()), (Some(&json!("A")), Some("a"), Reason::Static));
    let e = snap.evaluate("ruled", &c, NOW);
    assert_eq!((e.value(), e.reason()), (Some(&json!(false)), Reason::Default));
    let e = snap.evaluate("ruled", &ctx(json!({"plan": "pro"})), NOW);
    assert_eq!((e.value(), e.reason(), e.rule_id()), (Some(&json!(true)), Reason::TargetingMatch, None));
    let e = snap.evaluate("empty-rule", &Context::new(), NOW);
    assert_eq!((e.value(), e.reason(), e.rule_id()), (Some(&json!(true)), Reason::TargetingMatch, Some("all")));
    let e = snap.evaluate("off", &c, NOW);
    assert_eq!((e.value(), e.variant(), e.reason()), (Some(&json!(false)), Some("off"), Reason::Disabled));
    let e = snap.evaluate("off-explicit", &c, NOW);
    assert_eq!((e.value(), e.reason()), (Some(&json!("B")), Reason::Disabled));
    let e = snap.evaluate("off-none", &c, NOW);
    assert_eq!((e.value(), e.variant(), e.reason(), e.error_code()), (None, None, Reason::Disabled, None));
}

#[test]
fn not_found_and_type_mismatch() {
    let snap = compiled(
        json!([{"key": "s", "type": "string", "variants": [{"key": "a", "value": "A"}], "default": {"variant": "a"}}]),
        json!([]),
    );
    let c = Context::new();
    let e = snap.evaluate("missing", &c, NOW);
    assert_eq!((e.reason(), e.error_code(), e.value()), (Reason::Error, Some(ErrorCode::FlagNotFound), None));
    let e = snap.evaluate_typed("s", FlagType::Boolean, &c, NOW);
    assert_eq!((e.reason(), e.error_code(), e.value()), (Reason::Error, Some(ErrorCode::TypeMismatch), None));
    assert!(e.error_details("s").unwrap().contains("string"));
    let e = snap.evaluate_typed("s", FlagType::String, &c, NOW);
    assert_eq!(e.value(), Some(&json!("A")));
    let e = snap.evaluate_typed("nope", FlagType::String, &c, NOW);
    assert_eq!(e.error_code(), Some(ErrorCode::FlagNotFound));
}

#[test]
fn invalid_flag_definitions() {
    let cases = vec![
        (json!({"key": "f", "type": "string", "default": {"variant": "a"}}), "variants"),
        (
            json!({"key": "f", "type": "boolean", "variants": [{"key": "on", "value": "yes"}], "default": {"variant": "on"}}),
            "variants[0].value",
        ),
        (
            json!({"key": "f", "type": "number", "variants": [{"key": "a", "value": 1}, {"key": "a", "value": 2}], "default": {"variant": "a"}}),
            "variants[1].key",
        ),
        (json!({"key": "f", "type": "boolean", "default": {"variant": "maybe"}}), "default.variant"),
        (json!({"key": "f", "type": "boolean", "off_variant": "nah", "default": {"variant": "on"}}), "off_variant"),
        (
            json!({"key": "f", "type": "boolean", "default": {"rollout": {"weights": {"on": 50000, "off": 40000}}}}),
            "default.rollout.weights",
        ),
        (
            json!({"key": "f", "type": "boolean", "default": {"rollout": {"weights": {"on": 50000, "maybe": 50000}}}}),
            "default.rollout.weights.maybe",
        ),
        (
            json!({"key": "f", "type": "boolean", "default": {"variant": "on"}, "rules": [{"serve": {"variant": "on"}, "active_from": "soon"}]}),
            "rules[0].active_from",
        ),
        (
            json!({"key": "f", "type": "boolean", "default": {"variant": "on"}, "rules": [{"serve": {"variant": "on"}, "active_from": "2025-02-01T00:00:00Z", "active_until": "2025-01-01T00:00:00Z"}]}),
            "rules[0].active_until",
        ),
        (
            json!({"key": "f", "type": "boolean", "default": {"variant": "on"}, "prerequisites": [{"flag": "ghost", "variants": ["on"]}]}),
            "prerequisites[0].flag",
        ),
    ];
    for (flag, path) in cases {
        let (snap, warnings) = compile_json(&snapshot_json(json!([flag.clone()]), json!([]))).unwrap();
        assert!(warnings.iter().any(|w| w.path == path), "{flag}: want a problem at {path}, got {warnings:?}");
        assert_eq!(
            snap.evaluate("f", &Context::with_targeting_key("u"), NOW).error_code(),
            Some(ErrorCode::ParseError)
        );
    }
    // A flag that does not even deserialise keeps its key and breaks alone.
    let (snap, warnings) = compile_json(&snapshot_json(
        json!([{"key": "f", "type": "colour", "default": 3}, {"key": "g", "type": "boolean", "default": {"variant": "on"}}]),
        json!([]),
    ))
    .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(snap.evaluate("f", &Context::new(), NOW).error_code(), Some(ErrorCode::ParseError));
    assert_eq!(snap.evaluate("g", &Context::new(), NOW).value(), Some(&json!(true)));
}

#[test]
fn snapshot_envelope_errors() {
    assert!(compile_json("not json").is_err());
    assert!(compile_json("[]").is_err());
    assert!(compile_json(r#"{"format_version": 2, "application": "a", "environment": "e", "version": 1}"#).is_err());
    assert!(compile_json(r#"{"format_version": 1, "application": "a", "environment": "e", "version": -1}"#).is_err());
    let (snap, w) =
        compile_json(r#"{"format_version": 1, "application": "a", "environment": "e", "version": 3}"#).unwrap();
    assert!(w.is_empty());
    assert_eq!((snap.version(), snap.flag_count()), (3, 0));
}

#[test]
fn segments_lists_and_conditions() {
    let segments = json!([
        {"key": "beta", "included": ["u1", "u2"], "excluded": ["u3"],
         "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@acme.com"]}]},
        {"key": "listed", "included": ["u9"]},
    ]);
    let flag = |op: &str| {
        json!([{"key": "f", "type": "boolean", "default": {"variant": "off"},
            "rules": [{"conditions": [{"attribute": "", "operator": op, "values": ["beta", "listed"]}], "serve": {"variant": "on"}}]}])
    };
    let snap = compiled(flag("in_segment"), segments.clone());
    let not = compiled(flag("not_in_segment"), segments);
    let cases = [
        (json!({"targetingKey": "u1"}), true),                         // included
        (json!({"targetingKey": "u9"}), true),                         // included in the second segment
        (json!({"targetingKey": "u3", "email": "x@acme.com"}), false), // excluded beats conditions
        (json!({"targetingKey": "u4", "email": "x@acme.com"}), true),  // conditions
        (json!({"targetingKey": "u4", "email": "x@other.com"}), false),
        (json!({"email": "x@acme.com"}), true), // no key: conditions only
        (json!({}), false),
    ];
    for (c, member) in cases {
        let c = ctx(c);
        assert_eq!(snap.evaluate("f", &c, NOW).reason() == Reason::TargetingMatch, member, "in_segment {c:?}");
        assert_eq!(not.evaluate("f", &c, NOW).reason() == Reason::TargetingMatch, !member, "not_in_segment {c:?}");
    }
}

#[test]
fn segment_of_100k_keys() {
    let keys: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
    let snap = compiled(
        json!([{"key": "f", "type": "boolean", "default": {"variant": "off"},
            "rules": [{"conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["big"]}], "serve": {"variant": "on"}}]}]),
        json!([{"key": "big", "included": keys}]),
    );
    for (k, want) in [("user-0", true), ("user-99999", true), ("user-100000", false), ("USER-1", false)] {
        let e = snap.evaluate("f", &Context::with_targeting_key(k), NOW);
        assert_eq!(e.value() == Some(&json!(true)), want, "{k}");
    }
}

#[test]
fn segments_may_not_nest_and_broken_segments_break_their_users() {
    let (snap, warnings) = compile_json(&snapshot_json(
        json!([{"key": "f", "type": "boolean", "default": {"variant": "off"},
            "rules": [{"conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["outer"]}], "serve": {"variant": "on"}}]}]),
        json!([{"key": "outer", "conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["x"]}]}]),
    ))
    .unwrap();
    assert!(warnings.iter().any(|w| w.path == "conditions[0].operator"), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.message.contains("segment 'outer' is invalid")), "{warnings:?}");
    assert_eq!(snap.evaluate("f", &Context::with_targeting_key("u"), NOW).error_code(), Some(ErrorCode::ParseError));
}

fn prereq_snapshot() -> serde_json::Value {
    json!([
        {"key": "parent", "type": "boolean", "default": {"variant": "off"},
         "rules": [{"conditions": [{"attribute": "plan", "operator": "eq", "values": ["pro"]}], "serve": {"variant": "on"}}]},
        {"key": "child", "type": "string", "off_variant": "old",
         "variants": [{"key": "old", "value": "v1"}, {"key": "new", "value": "v2"}],
         "prerequisites": [{"flag": "parent", "variants": ["on"]}],
         "default": {"variant": "new"}},
        {"key": "grandchild", "type": "boolean",
         "prerequisites": [{"flag": "child", "variants": ["new"]}],
         "default": {"variant": "on"}},
        {"key": "needs-disabled", "type": "boolean",
         "prerequisites": [{"flag": "disabled", "variants": ["off"]}], "default": {"variant": "on"}},
        {"key": "disabled", "type": "boolean", "enabled": false, "default": {"variant": "on"}}
    ])
}

#[test]
fn prerequisite_chains() {
    let snap = compiled(prereq_snapshot(), json!([]));
    let pro = ctx(json!({"plan": "pro"}));
    let free = ctx(json!({"plan": "free"}));
    let e = snap.evaluate("child", &pro, NOW);
    assert_eq!((e.value(), e.reason()), (Some(&json!("v2")), Reason::Default));
    let e = snap.evaluate("child", &free, NOW);
    assert_eq!((e.value(), e.variant(), e.reason()), (Some(&json!("v1")), Some("old"), Reason::PrerequisiteFailed));
    assert_eq!(snap.evaluate("grandchild", &pro, NOW).value(), Some(&json!(true)));
    let e = snap.evaluate("grandchild", &free, NOW);
    assert_eq!((e.value(), e.reason()), (Some(&json!(false)), Reason::PrerequisiteFailed));
    // A disabled prerequisite serves its off variant, which can be the required one.
    assert_eq!(snap.evaluate("needs-disabled", &free, NOW).value(), Some(&json!(true)));
}

#[test]
fn prerequisite_cycles_are_rejected() {
    let flags = json!([
        {"key": "a", "type": "boolean", "default": {"variant": "on"}, "prerequisites": [{"flag": "b", "variants": ["on"]}]},
        {"key": "b", "type": "boolean", "default": {"variant": "on"}, "prerequisites": [{"flag": "c", "variants": ["on"]}]},
        {"key": "c", "type": "boolean", "default": {"variant": "on"}, "prerequisites": [{"flag": "a", "variants": ["on"]}]},
        {"key": "self", "type": "boolean", "default": {"variant": "on"}, "prerequisites": [{"flag": "self", "variants": ["on"]}]},
        {"key": "user", "type": "boolean", "default": {"variant": "on"}, "off_variant": "off", "prerequisites": [{"flag": "a", "variants": ["on"]}]},
        {"key": "fine", "type": "boolean", "default": {"variant": "on"}}
    ]);
    let (snap, warnings) = compile_json(&snapshot_json(flags, json!([]))).unwrap();
    for key in ["a", "b", "c", "self"] {
        assert!(
            warnings.iter().any(|w| w.entity == vane_core::Entity::Flag(key.into()) && w.message.contains("cycle")),
            "{key}: {warnings:?}"
        );
        assert_eq!(snap.evaluate(key, &Context::new(), NOW).error_code(), Some(ErrorCode::ParseError));
    }
    assert!(warnings.iter().any(|w| w.message.contains("a → b → c → a")), "{warnings:?}");
    // A flag depending on a broken cycle is not itself broken: its prerequisite just fails.
    let e = snap.evaluate("user", &Context::new(), NOW);
    assert_eq!((e.reason(), e.value()), (Reason::PrerequisiteFailed, Some(&json!(false))));
    assert_eq!(snap.evaluate("fine", &Context::new(), NOW).value(), Some(&json!(true)));
}

#[test]
fn prerequisite_depth_is_limited() {
    let n = compile::MAX_PREREQUISITE_DEPTH + 2;
    let flags: Vec<_> = (0..n)
        .map(|i| {
            let mut f = json!({"key": format!("f{i}"), "type": "boolean", "default": {"variant": "on"}});
            if i + 1 < n {
                f["prerequisites"] = json!([{"flag": format!("f{}", i + 1), "variants": ["on"]}]);
            }
            f
        })
        .collect();
    let (snap, warnings) = compile_json(&snapshot_json(json!(flags), json!([]))).unwrap();
    assert!(warnings.iter().any(|w| w.entity == vane_core::Entity::Flag("f0".into()) && w.message.contains("deep")));
    assert_eq!(snap.evaluate("f0", &Context::new(), NOW).error_code(), Some(ErrorCode::ParseError));
    assert_eq!(snap.evaluate("f3", &Context::new(), NOW).value(), Some(&json!(true)));
}

#[test]
fn schedules_at_their_boundaries() {
    let from = "2025-06-01T00:00:00Z";
    let until = "2025-07-01T00:00:00Z";
    let from_ms = 1_748_736_000_000;
    let until_ms = 1_751_328_000_000;
    let snap = compiled(
        json!([{"key": "f", "type": "boolean", "default": {"variant": "off"},
            "rules": [{"id": "launch", "active_from": from, "active_until": until, "serve": {"variant": "on"}}]}]),
        json!([]),
    );
    for (now, on) in [
        (from_ms - 1, false),
        (from_ms, true),
        (from_ms + 1, true),
        (until_ms - 1, true),
        (until_ms, false),
        (until_ms + 1, false),
        (i64::MIN, false),
        (i64::MAX, false),
    ] {
        let e = snap.evaluate("f", &Context::new(), now);
        assert_eq!(e.value() == Some(&json!(true)), on, "now={now}");
        assert_eq!(e.reason(), if on { Reason::TargetingMatch } else { Reason::Default });
    }
}

#[test]
fn rollout_needs_its_bucket_attribute() {
    let snap = compiled(
        json!([{"key": "f", "type": "boolean",
            "default": {"rollout": {"bucket_by": "orgId", "weights": {"on": 50000, "off": 50000}}}}]),
        json!([]),
    );
    let e = snap.evaluate("f", &Context::with_targeting_key("u"), NOW);
    assert_eq!((e.reason(), e.error_code()), (Reason::Error, Some(ErrorCode::TargetingKeyMissing)));
    let e = snap.evaluate("f", &ctx(json!({"orgId": 42})), NOW);
    assert_eq!(e.reason(), Reason::Split);
}

#[test]
fn client_audience_hashed_lists() {
    let salt = "per-snapshot-salt";
    let doc = json!({
        "format_version": 1, "application": "a", "environment": "e", "version": 1,
        "audience": "client", "hash_salt": salt,
        "flags": [{"key": "f", "type": "boolean", "default": {"variant": "off"},
            "rules": [
                {"conditions": [{"attribute": "email", "operator": "in", "hashed": true, "case_insensitive": true,
                                 "values": [salted_key_hash(salt, &text::fold("Ann@Example.com"))]}], "serve": {"variant": "on"}},
                {"conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["vip"]}], "serve": {"variant": "on"}}
            ]}],
        "segments": [{"key": "vip", "hashed": true, "included": [salted_key_hash(salt, "u-7")]}]
    })
    .to_string();
    assert!(!doc.contains("u-7") && !doc.to_lowercase().contains("ann@example.com"));
    let (snap, warnings) = compile_json(&doc).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let on = |c| snap.evaluate("f", &ctx(c), NOW).value() == Some(&json!(true));
    assert!(on(json!({"email": "ANN@example.COM"})));
    assert!(on(json!({"targetingKey": "u-7"})));
    assert!(!on(json!({"targetingKey": "u-8", "email": "bob@example.com"})));
}

#[test]
fn configs_and_keys_are_looked_up_by_key() {
    let doc = json!({
        "format_version": 1, "application": "a", "environment": "e", "version": 9,
        "configs": [{"key": "db.pool", "value": 10, "value_type": "number", "version": 2}],
        "keys": [{"id": "k1", "hash": vane_core::api_key_hash("secret-key"), "scope": "edge"}]
    });
    let (snap, _) = compile_json(&doc.to_string()).unwrap();
    assert_eq!(snap.config("db.pool").map(|c| &c.value), Some(&json!(10)));
    assert!(snap.config("db.other").is_none());
    assert_eq!(snap.accepted_key(&vane_core::api_key_hash("secret-key")).map(|k| k.id.as_str()), Some("k1"));
    assert!(snap.accepted_key(&vane_core::api_key_hash("wrong")).is_none());
}

#[test]
fn resolution_json_shape() {
    let snap = compiled(
        json!([{"key": "f", "type": "json", "variants": [{"key": "v", "value": {"color": "red"}}], "default": {"variant": "v"}, "version": 4}]),
        json!([]),
    );
    let e = snap.evaluate("f", &Context::new(), NOW);
    let r = Resolution { key: "f", evaluation: &e, snapshot_version: snap.version() };
    assert_eq!(
        serde_json::to_value(r).unwrap(),
        json!({"key": "f", "value": {"color": "red"}, "variant": "v", "reason": "STATIC",
               "metadata": {"snapshotVersion": 7, "flagVersion": 4}})
    );
    let e = snap.evaluate("nope", &Context::new(), NOW);
    let r = Resolution { key: "nope", evaluation: &e, snapshot_version: 7 };
    assert_eq!(
        serde_json::to_value(r).unwrap(),
        json!({"key": "nope", "reason": "ERROR", "errorCode": "FLAG_NOT_FOUND",
               "errorDetails": "flag 'nope' was not found", "metadata": {"snapshotVersion": 7, "flagVersion": 0}})
    );
}

#[test]
fn typed_model_round_trips_and_validate_is_strict() {
    let doc = snapshot_json(prereq_snapshot(), json!([]));
    let model: Snapshot = serde_json::from_str(&doc).unwrap();
    let again: Snapshot = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
    assert_eq!(model, again);
    assert!(validate(&model).is_empty());
    let mut broken = model.clone();
    broken.flags[1].default = vane_core::Serve::Variant("nope".into());
    let problems = validate(&broken);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].to_string(), "flag 'child': default.variant: unknown variant 'nope'");
    let (snap, _) = compile(&broken);
    assert_eq!(snap.evaluate("child", &Context::new(), NOW).error_code(), Some(ErrorCode::ParseError));
}

#[test]
fn evaluate_all_covers_every_flag_in_order() {
    let snap = compiled(prereq_snapshot(), json!([]));
    let keys: Vec<&str> = snap.evaluate_all(&ctx(json!({"plan": "pro"})), NOW).map(|(k, _)| k).collect();
    assert_eq!(keys, ["parent", "child", "grandchild", "needs-disabled", "disabled"]);
}

#[test]
fn contexts_from_json() {
    assert!(Context::from_json(&json!([1])).is_err());
    assert!(Context::from_json(&json!("x")).is_err());
    assert!(Context::from_json(&json!({"targetingKey": 5})).is_err());
    let c = Context::from_json(&json!({"targetingKey": null, "a": null, "b": 1})).unwrap();
    assert_eq!(c.len(), 1);
    assert!(c.targeting_key().is_none());
}

#[test]
fn demo_snapshot_compiles_cleanly() {
    let (snap, warnings) = compile_json(include_str!("../examples/demo-snapshot.json")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(snap.flag_count(), 6);
    let e = snap.evaluate("new-checkout", &ctx(json!({"targetingKey": "user-ada"})), NOW);
    assert_eq!((e.reason(), e.rule_id()), (Reason::TargetingMatch, Some("betas-first")));
}

#[test]
fn hashed_client_snapshots_evaluate_like_the_originals() {
    let doc = json!({
        "format_version": 1, "application": "a", "environment": "e", "version": 3,
        "flags": [
            {"key": "f", "type": "string", "salt": "s",
             "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}, {"key": "c", "value": "C"}],
             "rules": [
                {"id": "vip", "conditions": [{"attribute": "targetingKey", "operator": "in", "values": ["u-1", "u-2", 7]}], "serve": {"variant": "b"}},
                {"id": "mail", "conditions": [{"attribute": "email", "operator": "eq", "values": ["Ann@X.io"], "case_insensitive": true}], "serve": {"variant": "c"}},
                {"id": "not", "conditions": [{"attribute": "plan", "operator": "not_in", "values": ["free", true]}], "serve": {"variant": "c"}},
                {"id": "age", "conditions": [{"attribute": "age", "operator": "eq", "values": [42]}], "serve": {"variant": "b"}},
                {"id": "seg", "conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["beta"]}], "serve": {"variant": "b"}}
             ],
             "default": {"rollout": {"weights": {"a": 50000, "c": 50000}}}}
        ],
        "segments": [{"key": "beta", "included": ["u-9"], "excluded": ["u-1"],
                      "conditions": [{"attribute": "country", "operator": "in", "values": ["CA"]}]}]
    });
    let server: Snapshot = serde_json::from_value(doc).unwrap();
    let mut client = server.clone();
    client.audience = vane_core::Audience::Client;
    client.hash_salt = "salt-123".into();
    vane_core::hash_targeting(&mut client);
    let text = serde_json::to_string(&client).unwrap();
    for secret in ["u-1", "u-2", "u-9", "Ann@X.io", "ann@x.io", "\"free\""] {
        assert!(!text.contains(secret), "{secret} leaked into the client snapshot");
    }
    let (s, w1) = compile(&server);
    let (c, w2) = compile(&client);
    assert!(w1.is_empty() && w2.is_empty(), "{w1:?} {w2:?}");
    let contexts = [
        json!({"targetingKey": "u-1"}),
        json!({"targetingKey": "u-2", "plan": "free"}),
        json!({"targetingKey": 7}),
        json!({"targetingKey": "7"}),
        json!({"targetingKey": "x", "email": "ANN@x.IO", "plan": "free"}),
        json!({"targetingKey": "y", "plan": true}),
        json!({"targetingKey": "z", "plan": "pro"}),
        json!({"targetingKey": "z", "plan": "free", "age": "42"}),
        json!({"targetingKey": "u-9", "plan": "free"}),
        json!({"targetingKey": "q", "plan": "free", "country": "CA"}),
        json!({"plan": "free"}),
    ];
    for c0 in contexts {
        let Ok(ctx) = Context::from_json(&c0) else { continue };
        let a = s.evaluate("f", &ctx, NOW);
        let b = c.evaluate("f", &ctx, NOW);
        assert_eq!((a.variant(), a.reason(), a.rule_id()), (b.variant(), b.reason(), b.rule_id()), "{c0}");
    }
}
