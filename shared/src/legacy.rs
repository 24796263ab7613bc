//! The original config service's feature-flag vocabulary, mapped onto Vane's.
//!
//! The service Vane grows out of had boolean flags with `is_enabled`, `rollout_percentage`
//! (0–100, two decimals) and `target_users`, and an evaluate route answering
//! `{enabled, reason, flag_name, environment}`. Both the control plane and the edge serve those
//! routes; this module is the one definition of the mapping so they cannot drift apart.
//!
//! A legacy flag is a Vane boolean flag whose state is:
//! * `enabled` = `is_enabled`, `off_variant` = `off`;
//! * a rule with id [`TARGET_USERS_RULE`] serving `on` to `targetingKey in target_users` (when
//!   the list is not empty);
//! * a default of `on` (100 %), `off` (0 %) or a rollout over `on`/`off` with the percentage in
//!   parts of 100,000 (so two decimals are exact).

use serde_json::Value;

use crate::model::{BucketHash, Condition, Operator, ROLLOUT_SCALE, Rollout, Rule, Serve};
use crate::result::{ErrorCode, Evaluation, Reason};

/// Id of the rule that carries `target_users`.
pub const TARGET_USERS_RULE: &str = "target_users";

/// Parts of 100,000 for a percentage with at most two decimals; `None` outside 0–100.
pub fn percentage_to_parts(pct: f64) -> Option<u32> {
    if !pct.is_finite() || !(0.0..=100.0).contains(&pct) {
        return None;
    }
    // 100.0 → 100_000; rounds to the nearest 0.001 %.
    Some((pct * 1000.0).round() as u32)
}

/// The rules and default serve of a legacy flag.
pub fn to_state(rollout_percentage: f64, target_users: &[String]) -> Option<(Vec<Rule>, Serve)> {
    let parts = percentage_to_parts(rollout_percentage)?;
    let mut rules = Vec::new();
    if !target_users.is_empty() {
        rules.push(Rule {
            id: TARGET_USERS_RULE.into(),
            description: "target_users of the original config service".into(),
            conditions: vec![Condition::new(
                crate::TARGETING_KEY,
                Operator::In,
                target_users.iter().map(|u| Value::String(u.clone())).collect(),
            )],
            serve: Serve::Variant("on".into()),
            active_from: None,
            active_until: None,
            gate: None,
        });
    }
    let default = match parts {
        0 => Serve::Variant("off".into()),
        ROLLOUT_SCALE => Serve::Variant("on".into()),
        p => {
            let mut weights = std::collections::BTreeMap::new();
            weights.insert("on".to_owned(), p);
            weights.insert("off".to_owned(), ROLLOUT_SCALE - p);
            Serve::Rollout(Rollout { bucket_by: Vec::new(), hash: BucketHash::Xxh3, group_id: None, weights })
        }
    };
    Some((rules, default))
}

/// `rollout_percentage` of a state: 100 when the default serves `on`, 0 for `off`, the `on`
/// share of a rollout; `None` when the default serves anything else.
pub fn rollout_percentage(default: &Serve) -> Option<f64> {
    match default {
        Serve::Variant(v) if v == "on" => Some(100.0),
        Serve::Variant(v) if v == "off" => Some(0.0),
        Serve::Variant(_) => None,
        Serve::Rollout(r) => {
            let total: u64 = r.weights.values().map(|w| u64::from(*w)).sum();
            let on = r.weights.get("on").copied().unwrap_or(0);
            if total == 0 { None } else { Some((f64::from(on) * 100.0 / total as f64 * 100.0).round() / 100.0) }
        }
    }
}

/// `target_users` of a state: the values of the [`TARGET_USERS_RULE`] rule.
pub fn target_users(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .find(|r| r.id == TARGET_USERS_RULE)
        .and_then(|r| r.conditions.first())
        .map(|c| c.values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `(enabled, reason)` of the original evaluate route for a Vane evaluation.
///
/// `enabled` is true exactly when the flag served the boolean `true`. Reasons: `flag_disabled`,
/// `user_targeted` (the `target_users` rule), `rule_match` (any other rule), `in_rollout` /
/// `not_in_rollout` (the default rollout), `enabled` / `default` (a fixed default),
/// `prerequisite_failed`, `flag_not_found`, `type_mismatch`, `error`.
pub fn evaluate_response(e: &Evaluation<'_>) -> (bool, &'static str) {
    let enabled = matches!(e.value(), Some(Value::Bool(true)));
    let reason = match e.reason() {
        Reason::Disabled => "flag_disabled",
        Reason::TargetingMatch if e.rule_id() == Some(TARGET_USERS_RULE) => "user_targeted",
        Reason::TargetingMatch => "rule_match",
        Reason::Split if enabled => "in_rollout",
        Reason::Split => "not_in_rollout",
        Reason::Static | Reason::Default if enabled => "enabled",
        Reason::Static | Reason::Default => "default",
        Reason::PrerequisiteFailed => "prerequisite_failed",
        Reason::Error => match e.error_code() {
            Some(ErrorCode::FlagNotFound) => "flag_not_found",
            Some(ErrorCode::TypeMismatch) => "type_mismatch",
            _ => "error",
        },
    };
    (enabled, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_trip() {
        for pct in [0.0, 0.01, 12.5, 33.33, 50.0, 99.99, 100.0] {
            let Some((_, serve)) = to_state(pct, &[]) else { panic!("{pct} rejected") };
            assert_eq!(rollout_percentage(&serve), Some(pct), "{pct}");
        }
        assert!(to_state(-1.0, &[]).is_none());
        assert!(to_state(100.5, &[]).is_none());
        assert!(to_state(f64::NAN, &[]).is_none());
    }

    #[test]
    fn target_users_round_trip() {
        let users = vec!["user123".to_owned(), "user456".to_owned()];
        let Some((rules, _)) = to_state(0.0, &users) else { panic!("rejected") };
        assert_eq!(target_users(&rules), users);
        assert!(target_users(&[]).is_empty());
    }
}
