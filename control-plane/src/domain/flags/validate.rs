//! Validation of flag writes against the would-be snapshot: nothing that would evaluate to
//! `PARSE_ERROR` is stored.
//!
//! A change to one flag in one environment is rejected if the environment's flags would have any
//! compile problem they do not have today. Paths are relative to the changed flag's state; a
//! problem in another flag is reported as `flags.<key>.<path>`. Only the flags the change can
//! affect are compiled: the changed flag, every flag that depends on it, everything those depend
//! on, and the segments they use.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use sqlx::PgConnection;
use vane_core::{Entity, Flag, Segment, Snapshot};

use crate::error::{Error, FieldError, Result};
use crate::publish::{self, model_cache};
use crate::store::flags::StateRow;

/// Compile problems of an environment's flags and segments, as `(entity key, path, message)`.
pub fn problems(flags: Vec<Flag>, segments: Vec<Segment>) -> HashSet<(String, String, String)> {
    let mut snapshot = Snapshot::new("validation", "validation", 1);
    snapshot.flags = flags;
    snapshot.segments = segments;
    vane_core::validate(&snapshot)
        .into_iter()
        .map(|p| {
            let key = match p.entity {
                Entity::Flag(k) | Entity::Segment(k) | Entity::Config(k) => k,
                Entity::Snapshot => String::new(),
            };
            (key, p.path, p.message)
        })
        .collect()
}

/// [`problems`] as a 422, paths sorted; `Ok` when there are none.
pub fn refuse(found: impl IntoIterator<Item = FieldError>) -> Result<()> {
    let mut found: Vec<FieldError> = found.into_iter().collect();
    if found.is_empty() {
        return Ok(());
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Err(Error::Unprocessable(found))
}

/// Validates a change to `changed` in one environment against what is stored.
///
/// Writers of one environment are serialised from here to commit (the stream lock), so two
/// writes that are each valid cannot combine into an invalid state (say, a prerequisite cycle).
pub async fn change(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    changed: Flag,
    prefix: &str,
) -> Result<()> {
    let locked = publish::lock_streams(conn, application_id, environment_id).await?;
    let model = model_cache::load(conn, application_id, environment_id, Some(&locked)).await?;
    let current: Vec<&Flag> = model.flags.iter().map(|f| &f.model).collect();
    let all_segments: Vec<&Segment> = model.segments.iter().map(|s| &s.model).collect();
    check_change(&current, &all_segments, changed, prefix)
}

/// An environment's flags and segments, held in memory while a batch of changes is applied in
/// one transaction (see `crate::domain::batch`); each change is validated against the previous
/// ones.
#[derive(Debug)]
pub struct Working {
    /// The environment as the batch's transaction found it.
    pub base: Arc<model_cache::StreamModel>,
    /// Flags changed by the batch so far, by key.
    pub changed: HashMap<String, Flag>,
    /// Current (locked) states of the batch's flags, by flag id.
    pub states: HashMap<String, StateRow>,
}

impl Working {
    fn flags(&self) -> Vec<&Flag> {
        self.base.flags.iter().map(|f| self.changed.get(&f.model.key).unwrap_or(&f.model)).collect()
    }

    fn segments(&self) -> Vec<&Segment> {
        self.base.segments.iter().map(|s| &s.model).collect()
    }

    /// [`change`] against the batch so far.
    pub fn check(&self, changed: Flag) -> Result<()> {
        check_change(&self.flags(), &self.segments(), changed, "")
    }
}

/// [`change`] against flags and segments in hand.
fn check_change(current: &[&Flag], all_segments: &[&Segment], changed: Flag, prefix: &str) -> Result<()> {
    let (before_flags, after_flags, segments) = affected(current, all_segments, &changed);
    let key = changed.key.clone();
    let after = problems(after_flags, segments.clone());
    if after.is_empty() {
        return Ok(());
    }
    // Only problems the write introduces count; compiling the current state is needed just then.
    let before = problems(before_flags, segments);
    refuse(after.into_iter().filter(|p| !before.contains(p)).map(|(flag, path, message)| {
        let path = if flag == key {
            format!("{prefix}{path}")
        } else if path.is_empty() {
            format!("flags.{flag}")
        } else {
            format!("flags.{flag}.{path}")
        };
        FieldError::new(path, message)
    }))
}

/// The flags (before and after the change) and segments a change to `changed` can affect.
fn affected<'a>(
    current: &[&'a Flag],
    segments: &[&'a Segment],
    changed: &Flag,
) -> (Vec<Flag>, Vec<Flag>, Vec<Segment>) {
    // Most environments use no prerequisites at all: then only the changed flag itself (and
    // its segments) can be affected, and no graph is needed.
    let graph_free = changed.prerequisites.is_empty() && current.iter().all(|f| f.prerequisites.is_empty());
    let before: HashMap<&str, &Flag> = if graph_free {
        current.iter().filter(|f| f.key == changed.key).map(|f| (f.key.as_str(), *f)).collect()
    } else {
        current.iter().map(|f| (f.key.as_str(), *f)).collect()
    };
    let mut after = before.clone();
    after.insert(changed.key.as_str(), changed);
    // Flags that depend on the changed one, directly or not.
    let mut dependants: HashMap<&str, Vec<&str>> = HashMap::new();
    for f in after.values() {
        for p in &f.prerequisites {
            dependants.entry(p.flag.as_str()).or_default().push(f.key.as_str());
        }
    }
    let mut roots: HashSet<&str> = HashSet::from([changed.key.as_str()]);
    let mut todo = vec![changed.key.as_str()];
    while let Some(k) = todo.pop() {
        for d in dependants.get(k).into_iter().flatten() {
            if roots.insert(d) {
                todo.push(d);
            }
        }
    }
    // Everything those depend on, in either version of the changed flag.
    let mut keys = roots.clone();
    let mut todo: Vec<&str> = roots.into_iter().collect();
    while let Some(k) = todo.pop() {
        for graph in [&before, &after] {
            for p in graph.get(k).into_iter().flat_map(|f| &f.prerequisites) {
                if keys.insert(p.flag.as_str()) {
                    todo.push(p.flag.as_str());
                }
            }
        }
    }
    let pick = |graph: &HashMap<&str, &Flag>| -> Vec<Flag> {
        let mut v: Vec<Flag> = keys.iter().filter_map(|k| graph.get(k).map(|f| (*f).clone())).collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    };
    let (before_flags, after_flags) = (pick(&before), pick(&after));
    // Segments used by those flags, and by the segments they use.
    let by_key: HashMap<&str, &Segment> = segments.iter().map(|s| (s.key.as_str(), *s)).collect();
    let mut used: HashSet<&str> = HashSet::new();
    let mut todo: Vec<&str> = Vec::new();
    fn note<'a>(
        conditions: &[vane_core::Condition],
        by_key: &HashMap<&'a str, &'a Segment>,
        used: &mut HashSet<&'a str>,
        todo: &mut Vec<&'a str>,
    ) {
        for c in conditions {
            if matches!(c.operator, vane_core::Operator::InSegment | vane_core::Operator::NotInSegment) {
                for v in c.values.iter().filter_map(Value::as_str) {
                    if let Some((k, _)) = by_key.get_key_value(v)
                        && used.insert(k)
                    {
                        todo.push(k);
                    }
                }
            }
        }
    }
    for f in before_flags.iter().chain(&after_flags) {
        for r in &f.rules {
            note(&r.conditions, &by_key, &mut used, &mut todo);
        }
    }
    while let Some(k) = todo.pop() {
        if let Some(s) = by_key.get(k) {
            note(&s.conditions, &by_key, &mut used, &mut todo);
        }
    }
    let mut segs: Vec<Segment> = used.iter().filter_map(|k| by_key.get(k).map(|s| (*s).clone())).collect();
    segs.sort_by(|a, b| a.key.cmp(&b.key));
    (before_flags, after_flags, segs)
}
