//! `/api/v1/applications/{application}/flags`: flag definitions (type, variants, description,
//! tags, client visibility) and, under `…/flags/{flag}/environments/{environment}`, their state
//! per environment (enabled, off variant, rules, default, prerequisites, salt).
//!
//! Every write is validated by compiling the environment's would-be snapshot with `vane-core`:
//! a write that would introduce any compile problem (in this flag or, through prerequisites, in
//! another) is rejected with 422 and the JSON path of each problem, and nothing changes.
//! Accepted writes publish the affected snapshots in the same transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use vane_core::{Entity, Flag, FlagType, Prerequisite, Rule, Serve, Snapshot, Variant};

use super::applications::Application;
use super::{Expected, List, Page, Routes};
use crate::audit::{self, Entry};
use crate::auth::{Action, Caller};
use crate::error::{Error, FieldError, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, access, publish};

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/flags/{flag}";
    const STATE: &str = "/applications/{application}/flags/{flag}/environments/{environment}";
    Routes::new("flags")
        .get("/applications/{application}/flags", "List flags (filters: tag, archived)", list)
        .post("/applications/{application}/flags", "Create a flag (disabled in every environment)", create)
        .get(ONE, "Read a flag with its state in every environment", read)
        .put(ONE, "Update a flag (variants, description, tags, visibility, archived)", update)
        .patch(ONE, "Update a flag (variants, description, tags, visibility, archived)", update)
        .delete(ONE, "Delete a flag (refused while another flag depends on it)", remove)
        .get(STATE, "Read a flag's state in one environment", read_state)
        .put(STATE, "Update a flag's state in one environment (rules, default, prerequisites, ...)", update_state)
        .patch(STATE, "Update a flag's state in one environment (rules, default, prerequisites, ...)", update_state)
        .get(&format!("{STATE}/history"), "Every published version of the flag's state", history)
        .post(&format!("{STATE}/rollback"), "Restore an earlier version as a new version", rollback)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FlagRow {
    pub id: String,
    #[serde(skip)]
    pub application_id: String,
    pub key: String,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub flag_type: String,
    pub variants: Value,
    pub description: String,
    pub tags: Value,
    pub client_visible: bool,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! flag_columns {
    () => {
        "id, application_id, key, type, variants, description, tags, client_visible, archived, version, created_at, updated_at"
    };
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StateRow {
    #[serde(skip)]
    pub environment_id: String,
    #[serde(skip)]
    pub environment: String,
    pub enabled: bool,
    pub off_variant: Option<String>,
    pub rules: Value,
    #[serde(rename = "default")]
    pub default_serve: Value,
    pub prerequisites: Value,
    pub salt: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// A flag with its state in every environment, keyed by environment.
#[derive(Debug, Serialize)]
pub struct FlagView {
    #[serde(flatten)]
    pub flag: FlagRow,
    pub environments: BTreeMap<String, StateRow>,
}

fn type_str(t: FlagType) -> &'static str {
    t.as_str()
}

/// The engine's view of a flag in one environment.
pub fn model(flag: &FlagRow, state: &StateRow) -> Result<Flag> {
    serde_json::from_value(json!({
        "key": flag.key, "type": flag.flag_type, "variants": flag.variants, "description": flag.description,
        "tags": flag.tags, "enabled": state.enabled, "off_variant": state.off_variant, "rules": state.rules,
        "default": state.default_serve, "prerequisites": state.prerequisites, "salt": state.salt,
        "version": state.version,
    }))
    .map_err(|e| Error::Internal(format!("stored flag '{}' does not read back: {e}", flag.key)))
}

pub(crate) async fn find(conn: &mut PgConnection, app: &Application, id_or_key: &str, lock: bool) -> Result<FlagRow> {
    let sql = if lock {
        concat!(
            "SELECT ",
            flag_columns!(),
            " FROM flags WHERE application_id = $1 AND (id = $2 OR key = $2) FOR UPDATE"
        )
    } else {
        concat!("SELECT ", flag_columns!(), " FROM flags WHERE application_id = $1 AND (id = $2 OR key = $2)")
    };
    sqlx::query_as(sql)
        .bind(&app.id)
        .bind(id_or_key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("flag '{id_or_key}' not found in application '{}'", app.key)))
}

pub(crate) async fn states(conn: &mut PgConnection, flag_id: &str) -> Result<Vec<StateRow>> {
    Ok(sqlx::query_as(
        "SELECT s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules, s.default_serve,
                s.prerequisites, s.salt, s.version, s.updated_at
         FROM flag_states s JOIN environments e ON e.id = s.environment_id
         WHERE s.flag_id = $1 ORDER BY e.key",
    )
    .bind(flag_id)
    .fetch_all(conn)
    .await?)
}

/// `view` with only the states `caller` may read (a key bound to one environment sees the
/// definition, which every environment shares, and that environment's state).
fn visible(caller: &Caller, app: &Application, mut view: FlagView) -> FlagView {
    view.environments.retain(|_, s| caller.sees(&app.id, &s.environment_id));
    view
}

async fn view(conn: &mut PgConnection, flag: FlagRow) -> Result<FlagView> {
    let states = states(conn, &flag.id).await?;
    Ok(FlagView { flag, environments: states.into_iter().map(|s| (s.environment.clone(), s)).collect() })
}

/// Compile problems of an environment's flags and segments, as `(entity key, path, message)`.
pub fn problems(flags: Vec<Flag>, segments: Vec<vane_core::Segment>) -> HashSet<(String, String, String)> {
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

/// Rejects a change to `changed` in one environment if the environment's flags would have any
/// compile problem they do not have today. Paths are relative to the changed flag's state; a
/// problem in another flag is reported as `flags.<key>.<path>`.
///
/// Writers of one environment are serialised from here to commit (the stream lock), so two
/// writes that are each valid cannot combine into an invalid state (say, a prerequisite
/// cycle). Only the flags the change can affect are compiled: the changed flag, every flag that
/// depends on it, everything those depend on, and the segments they use.
async fn validate_change(
    conn: &mut PgConnection,
    app: &Application,
    environment_id: &str,
    changed: Flag,
    prefix: &str,
) -> Result<()> {
    let locked = publish::lock_streams(conn, &app.id, environment_id).await?;
    let model = crate::model_cache::load(conn, &app.id, environment_id, Some(&locked)).await?;
    let current: Vec<&Flag> = model.flags.iter().map(|f| &f.model).collect();
    let all_segments: Vec<&vane_core::Segment> = model.segments.iter().map(|s| &s.model).collect();
    check_change(&current, &all_segments, changed, prefix)
}

/// An environment's flags and segments, held in memory while a batch of changes is applied in
/// one transaction (see `crate::batch`); each change is validated against the previous ones.
#[derive(Debug)]
pub(crate) struct Working {
    /// The environment as the batch's transaction found it.
    pub base: std::sync::Arc<crate::model_cache::StreamModel>,
    /// Flags changed by the batch so far, by key.
    pub changed: HashMap<String, Flag>,
    /// Current (locked) states of the batch's flags, by flag id.
    pub states: HashMap<String, StateRow>,
}

impl Working {
    fn flags(&self) -> Vec<&Flag> {
        self.base.flags.iter().map(|f| self.changed.get(&f.model.key).unwrap_or(&f.model)).collect()
    }

    fn segments(&self) -> Vec<&vane_core::Segment> {
        self.base.segments.iter().map(|s| &s.model).collect()
    }
}

/// [`validate_change`] against flags and segments in hand.
fn check_change(current: &[&Flag], all_segments: &[&vane_core::Segment], changed: Flag, prefix: &str) -> Result<()> {
    let (before_flags, after_flags, segments) = affected(current, all_segments, &changed);
    let key = changed.key.clone();
    let after = problems(after_flags, segments.clone());
    if after.is_empty() {
        return Ok(());
    }
    // Only problems the write introduces count; compiling the current state is needed just then.
    let before = problems(before_flags, segments);
    let mut new: Vec<FieldError> = after
        .into_iter()
        .filter(|p| !before.contains(p))
        .map(|(flag, path, message)| {
            let path = if flag == key {
                format!("{prefix}{path}")
            } else if path.is_empty() {
                format!("flags.{flag}")
            } else {
                format!("flags.{flag}.{path}")
            };
            FieldError::new(path, message)
        })
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    new.sort_by(|a, b| a.path.cmp(&b.path));
    Err(Error::Unprocessable(new))
}

/// The flags (before and after the change) and segments a change to `changed` can affect.
fn affected<'a>(
    current: &[&'a Flag],
    segments: &[&'a vane_core::Segment],
    changed: &Flag,
) -> (Vec<Flag>, Vec<Flag>, Vec<vane_core::Segment>) {
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
    let by_key: HashMap<&str, &vane_core::Segment> = segments.iter().map(|s| (s.key.as_str(), *s)).collect();
    let mut used: HashSet<&str> = HashSet::new();
    let mut todo: Vec<&str> = Vec::new();
    fn note<'a>(
        conditions: &[vane_core::Condition],
        by_key: &HashMap<&'a str, &'a vane_core::Segment>,
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
    let mut segs: Vec<vane_core::Segment> = used.iter().filter_map(|k| by_key.get(k).map(|s| (*s).clone())).collect();
    segs.sort_by(|a, b| a.key.cmp(&b.key));
    (before_flags, after_flags, segs)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagFilter {
    limit: Option<i64>,
    offset: Option<i64>,
    tag: Option<String>,
    archived: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Query(filter): Query<FlagFilter>,
) -> Result<Reply<List<FlagView>>> {
    let (limit, offset) = Page { limit: filter.limit, offset: filter.offset }.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let app = access::application(&mut conn, &caller, Action::Read, &application).await?;
    let tag = filter.tag.map(|t| json!([t]));
    let rows: Vec<FlagRow> = sqlx::query_as(concat!(
        "SELECT ",
        flag_columns!(),
        " FROM flags WHERE application_id = $1 AND ($2::jsonb IS NULL OR tags @> $2)
           AND ($3::boolean IS NULL OR archived = $3) ORDER BY key LIMIT $4 OFFSET $5"
    ))
    .bind(&app.id)
    .bind(&tag)
    .bind(filter.archived)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM flags WHERE application_id = $1 AND ($2::jsonb IS NULL OR tags @> $2)
           AND ($3::boolean IS NULL OR archived = $3)",
    )
    .bind(&app.id)
    .bind(&tag)
    .bind(filter.archived)
    .fetch_one(&mut *conn)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(visible(&caller, &app, view(&mut conn, row).await?));
    }
    Ok(Reply(List { items, total, limit, offset }))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, flag)): Path<(String, String)>,
) -> Result<Reply<FlagView>> {
    let mut conn = state.pool.acquire().await?;
    let app = access::application(&mut conn, &caller, Action::Read, &application).await?;
    let row = find(&mut conn, &app, &flag, false).await?;
    Ok(Reply(visible(&caller, &app, view(&mut conn, row).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateFlag {
    pub key: String,
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub client_visible: bool,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Json(body): Json<CreateFlag>,
) -> Result<(StatusCode, Reply<FlagView>)> {
    // Committed together with other creations queued for this application (crate::batch).
    caller.permits(Action::Write)?;
    let creation = crate::batch::Creation { caller, flag: body };
    let created = state.batcher.create_flag(&state, &application, creation).await?;
    Ok((StatusCode::CREATED, Reply(created)))
}

/// Creates a flag (disabled in every environment) in the caller's transaction and publishes it.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    body: CreateFlag,
) -> Result<FlagView> {
    let created = insert_unpublished(&mut *tx, caller, app, body).await?;
    publish::publish_application(&mut *tx, &app.id).await?;
    Ok(created)
}

/// Creates a flag (disabled in every environment) in the caller's transaction, which publishes
/// the application before it commits (`crate::batch` does so once for several).
pub(crate) async fn insert_unpublished(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    body: CreateFlag,
) -> Result<FlagView> {
    if !super::is_entity_key(&body.key) {
        return Err(Error::invalid("key", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,199}"));
    }
    let variants = if body.variants.is_empty() && body.flag_type == FlagType::Boolean {
        vec![Variant { key: "on".into(), value: json!(true) }, Variant { key: "off".into(), value: json!(false) }]
    } else {
        body.variants
    };
    // A new flag is disabled everywhere. Booleans serve `on` once enabled and `off` while
    // disabled; other types serve their first variant once enabled and the caller's default
    // while disabled.
    let (default_variant, off_variant) = match body.flag_type {
        FlagType::Boolean => ("on".to_owned(), Some("off".to_owned())),
        _ => (variants.first().map(|v| v.key.to_string()).unwrap_or_default(), None),
    };
    let candidate = Flag {
        key: body.key.clone(),
        flag_type: body.flag_type,
        variants: variants.clone(),
        description: body.description.clone(),
        tags: body.tags.clone(),
        enabled: false,
        off_variant: off_variant.clone().map(Into::into),
        rules: Vec::new(),
        default: Serve::Variant(default_variant.clone().into()),
        prerequisites: Vec::new(),
        salt: body.key.clone(),
        version: 1,
    };
    let found = problems(vec![candidate.clone()], Vec::new());
    if !found.is_empty() {
        let mut errors: Vec<FieldError> = found.into_iter().map(|(_, p, m)| FieldError::new(p, m)).collect();
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(Error::Unprocessable(errors));
    }
    let row: FlagRow = sqlx::query_as(concat!(
        "INSERT INTO flags (id, application_id, key, type, variants, description, tags, client_visible)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
        flag_columns!()
    ))
    .bind(ulid::Ulid::new().to_string())
    .bind(&app.id)
    .bind(&body.key)
    .bind(type_str(body.flag_type))
    .bind(json!(variants))
    .bind(&body.description)
    .bind(json!(body.tags))
    .bind(body.client_visible)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
         SELECT $1, id, false, $2, $3, $4 FROM environments",
    )
    .bind(&row.id)
    .bind(&off_variant)
    .bind(json!({"variant": default_variant}))
    .bind(&body.key)
    .execute(&mut *tx)
    .await?;
    let created = view(&mut *tx, row).await?;
    for s in created.environments.values() {
        record_history(&mut *tx, caller, &created.flag, s).await?;
    }
    audit::change(&mut *tx, caller, "create", None, Some(&created)).await?;
    Ok(created)
}

async fn record_history(conn: &mut PgConnection, caller: &Caller, flag: &FlagRow, state: &StateRow) -> Result<()> {
    let definition = serde_json::to_value(model(flag, state)?).map_err(|e| Error::Internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO flag_history (flag_id, environment_id, version, definition, actor) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (flag_id, environment_id, version) DO UPDATE SET definition = EXCLUDED.definition",
    )
    .bind(&flag.id)
    .bind(&state.environment_id)
    .bind(state.version)
    .bind(definition)
    .bind(&caller.key_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFlag {
    variants: Option<Vec<Variant>>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    client_visible: Option<bool>,
    archived: Option<bool>,
    version: Option<i64>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, flag)): Path<(String, String)>,
    Json(body): Json<UpdateFlag>,
) -> Result<Reply<FlagView>> {
    let expected = Expected::from(&headers, body.version)?;
    let mut tx = state.pool.begin().await?;
    let app = access::application(&mut tx, &caller, Action::Write, &application).await?;
    let locked = find(&mut tx, &app, &flag, true).await?;
    let before = view(&mut tx, locked).await?;
    expected.check(before.flag.version)?;
    let mut after_row = before.flag.clone();
    if let Some(v) = &body.variants {
        after_row.variants = json!(v);
    }
    if let Some(d) = &body.description {
        after_row.description.clone_from(d);
    }
    if let Some(t) = &body.tags {
        after_row.tags = json!(t);
    }
    // Archived flags are not published. Archiving one that a published flag requires would make
    // that flag answer PARSE_ERROR, so it is refused like deleting it; a flag that stays or
    // becomes live is validated in every environment (its variants, or unarchiving it next to
    // prerequisites that are gone).
    let live = !body.archived.unwrap_or(before.flag.archived);
    if !live && !before.flag.archived {
        refuse_if_required(&mut tx, &app, &before.flag, "archived", true).await?;
    }
    let mut problems = Vec::new();
    for s in before.environments.values().filter(|_| live) {
        let candidate = model(&after_row, s)?;
        let prefix = format!("environments.{}.", s.environment);
        match validate_change(&mut tx, &app, &s.environment_id, candidate, &prefix).await {
            Ok(()) => {}
            Err(Error::Unprocessable(found)) => problems.extend(found),
            Err(other) => return Err(other),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let row: FlagRow = sqlx::query_as(concat!(
        "UPDATE flags SET variants = $2, description = $3, tags = $4, client_visible = COALESCE($5, client_visible),
                archived = COALESCE($6, archived), version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING ",
        flag_columns!()
    ))
    .bind(&before.flag.id)
    .bind(&after_row.variants)
    .bind(&after_row.description)
    .bind(&after_row.tags)
    .bind(body.client_visible)
    .bind(body.archived)
    .fetch_one(&mut *tx)
    .await?;
    // The definition changed in every environment: each state gets a new version.
    sqlx::query("UPDATE flag_states SET version = version + 1, updated_at = now() WHERE flag_id = $1")
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    let after = view(&mut tx, row).await?;
    for s in after.environments.values() {
        record_history(&mut tx, &caller, &after.flag, s).await?;
    }
    publish::publish_application(&mut tx, &app.id).await?;
    audit::change(&mut tx, &caller, "update", Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Reply(after))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, flag)): Path<(String, String)>,
) -> Result<StatusCode> {
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let app = access::application(&mut tx, &caller, Action::Write, &application).await?;
    delete(&mut tx, &caller, &app, &flag, expected).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a flag in the caller's transaction, unless another flag depends on it.
pub(crate) async fn delete(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    flag: &str,
    expected: Expected,
) -> Result<()> {
    let locked = find(&mut *tx, app, flag, true).await?;
    let before = view(&mut *tx, locked).await?;
    expected.check(before.flag.version)?;
    refuse_if_required(&mut *tx, app, &before.flag, "deleted", false).await?;
    sqlx::query("DELETE FROM flags WHERE id = $1").bind(&before.flag.id).execute(&mut *tx).await?;
    crate::model_cache::forget(&app.id);
    publish::publish_application(&mut *tx, &app.id).await?;
    audit::change(&mut *tx, caller, "delete", Some(&before), None).await
}

/// 409 when another flag names `flag` as a prerequisite in any environment (only live, i.e.
/// unarchived, flags when `live_only`): it cannot go without them answering PARSE_ERROR.
async fn refuse_if_required(
    conn: &mut PgConnection,
    app: &Application,
    flag: &FlagRow,
    what: &str,
    live_only: bool,
) -> Result<()> {
    let dependants: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT f.key FROM flag_states s JOIN flags f ON f.id = s.flag_id
         WHERE f.application_id = $1 AND f.id <> $2 AND s.prerequisites @> $3 AND NOT (f.archived AND $4)
         ORDER BY f.key",
    )
    .bind(&app.id)
    .bind(&flag.id)
    .bind(json!([{"flag": flag.key}]))
    .bind(live_only)
    .fetch_all(conn)
    .await?;
    if dependants.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "flag '{}' is a prerequisite of {}; remove those prerequisites before it is {what}",
        flag.key,
        dependants.join(", ")
    )))
}

async fn read_state(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, flag, environment)): Path<(String, String, String)>,
) -> Result<Reply<StateRow>> {
    let mut conn = state.pool.acquire().await?;
    let (app, env) = access::stream(&mut conn, &caller, Action::Read, &application, &environment).await?;
    let row = find(&mut conn, &app, &flag, false).await?;
    let s = states(&mut conn, &row.id)
        .await?
        .into_iter()
        .find(|s| s.environment_id == env.id)
        .ok_or_else(|| Error::NotFound(format!("flag '{}' has no state in '{}'", row.key, env.key)))?;
    Ok(Reply(s))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateState {
    pub enabled: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    pub off_variant: Option<Option<String>>,
    pub rules: Option<Vec<Rule>>,
    pub default: Option<Serve>,
    pub prerequisites: Option<Vec<Prerequisite>>,
    pub salt: Option<String>,
    pub version: Option<i64>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn update_state(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, flag, environment)): Path<(String, String, String)>,
    Json(body): Json<UpdateState>,
) -> Result<Reply<StateRow>> {
    let expected = Expected::from(&headers, body.version)?;
    // Committed together with the other changes queued for this environment (crate::batch),
    // which also resolves the names and checks the key's binding.
    let change = crate::batch::StateChange { caller, flag, expected, change: body, action: "update" };
    let after = state.batcher.change_state(&state, &application, &environment, change).await?;
    Ok(Reply(after))
}

/// Applies a state change in the caller's transaction: lock, version check, validation against
/// the environment's would-be snapshot, write, history, audit — and publish, unless the caller
/// publishes once for several changes and validates against `working` (then kept current).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_state(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    row: &FlagRow,
    env: &super::environments::Environment,
    expected: Expected,
    change: UpdateState,
    action: &str,
    mut working: Option<&mut Working>,
) -> Result<StateRow> {
    let preloaded = working.as_deref().and_then(|w| w.states.get(&row.id).cloned());
    let before: StateRow = match preloaded {
        Some(state) => state,
        None => sqlx::query_as(
            "SELECT s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules, s.default_serve,
                    s.prerequisites, s.salt, s.version, s.updated_at
             FROM flag_states s JOIN environments e ON e.id = s.environment_id
             WHERE s.flag_id = $1 AND s.environment_id = $2 FOR UPDATE OF s",
        )
        .bind(&row.id)
        .bind(&env.id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("flag '{}' has no state in '{}'", row.key, env.key)))?,
    };
    expected.check(before.version)?;
    let mut after = before.clone();
    if let Some(e) = change.enabled {
        after.enabled = e;
    }
    if let Some(o) = change.off_variant {
        after.off_variant = o;
    }
    if let Some(r) = &change.rules {
        after.rules = json!(r);
    }
    if let Some(d) = &change.default {
        after.default_serve = json!(d);
    }
    if let Some(p) = &change.prerequisites {
        after.prerequisites = json!(p);
    }
    if let Some(s) = &change.salt {
        after.salt.clone_from(s);
    }
    after.version = before.version + 1;
    let changed = model(row, &after)?;
    unique_rule_ids(&changed.rules)?;
    match working.as_deref() {
        Some(w) => check_change(&w.flags(), &w.segments(), changed.clone(), "")?,
        None => validate_change(&mut *tx, app, &env.id, changed.clone(), "").await?,
    }
    // The new state and its history entry in one round trip (`changed` is the definition).
    let definition = serde_json::to_value(&changed).map_err(|e| Error::Internal(e.to_string()))?;
    let after: StateRow = sqlx::query_as(
        "WITH updated AS (
             UPDATE flag_states s SET enabled = $3, off_variant = $4, rules = $5, default_serve = $6,
                    prerequisites = $7, salt = $8, version = s.version + 1, updated_at = now()
             WHERE s.flag_id = $1 AND s.environment_id = $2
             RETURNING s.*),
         recorded AS (
             INSERT INTO flag_history (flag_id, environment_id, version, definition, actor)
             SELECT flag_id, environment_id, version, $9, $10 FROM updated
             ON CONFLICT (flag_id, environment_id, version) DO UPDATE SET definition = EXCLUDED.definition)
         SELECT u.environment_id, e.key AS environment, u.enabled, u.off_variant, u.rules, u.default_serve,
                u.prerequisites, u.salt, u.version, u.updated_at
         FROM updated u JOIN environments e ON e.id = u.environment_id",
    )
    .bind(&row.id)
    .bind(&env.id)
    .bind(after.enabled)
    .bind(&after.off_variant)
    .bind(&after.rules)
    .bind(&after.default_serve)
    .bind(&after.prerequisites)
    .bind(&after.salt)
    .bind(definition)
    .bind(&caller.key_id)
    .fetch_one(&mut *tx)
    .await?;
    if working.is_none() {
        publish::publish(&mut *tx, &app.id, &env.id).await?;
    }
    audit::record(
        &mut *tx,
        Some(caller),
        Entry {
            entity_type: "flag_state",
            entity_id: &row.id,
            entity_key: &format!("{}/{}", row.key, env.key),
            action,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
            version: Some(after.version),
        },
    )
    .await?;
    if let Some(w) = working.as_mut() {
        w.states.insert(row.id.clone(), after.clone());
        w.changed.insert(changed.key.clone(), changed);
    }
    Ok(after)
}

/// Results name the rule that matched (`ruleId`), so two rules of one state may not share an id.
/// (The engine tolerates it, so states stored before this check still evaluate.)
fn unique_rule_ids(rules: &[Rule]) -> Result<()> {
    let mut seen = HashSet::new();
    let problems: Vec<FieldError> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.id.is_empty() && !seen.insert(r.id.as_ref()))
        .map(|(i, r)| (i, r.id.as_ref()))
        .map(|(i, id)| FieldError::new(format!("rules[{i}].id"), format!("another rule already has the id '{id}'")))
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(Error::Unprocessable(problems)) }
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub version: i64,
    pub definition: Value,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

/// `GET …/environments/{environment}/history`: every version of the flag's definition in one
/// environment, newest first.
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, flag, environment)): Path<(String, String, String)>,
    Query(page): Query<Page>,
) -> Result<Reply<List<HistoryEntry>>> {
    let (limit, offset) = page.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let (app, env) = access::stream(&mut conn, &caller, Action::Read, &application, &environment).await?;
    let row = find(&mut conn, &app, &flag, false).await?;
    let items: Vec<HistoryEntry> = sqlx::query_as(
        "SELECT version, definition, actor, at FROM flag_history WHERE flag_id = $1 AND environment_id = $2
         ORDER BY version DESC LIMIT $3 OFFSET $4",
    )
    .bind(&row.id)
    .bind(&env.id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM flag_history WHERE flag_id = $1 AND environment_id = $2")
        .bind(&row.id)
        .bind(&env.id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Reply(List { items, total, limit, offset }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    /// The version to restore; it becomes a new version.
    version: i64,
}

/// `POST …/environments/{environment}/rollback {"version": N}`: restores the state of version N
/// as a new version (validated like any write; `If-Match` honoured).
async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, flag, environment)): Path<(String, String, String)>,
    Json(body): Json<Rollback>,
) -> Result<Reply<StateRow>> {
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let (app, env) = access::stream(&mut tx, &caller, Action::Write, &application, &environment).await?;
    let row = find(&mut tx, &app, &flag, false).await?;
    let definition: Value = sqlx::query_scalar(
        "SELECT definition FROM flag_history WHERE flag_id = $1 AND environment_id = $2 AND version = $3",
    )
    .bind(&row.id)
    .bind(&env.id)
    .bind(body.version)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("flag '{}' has no version {} in '{}'", row.key, body.version, env.key)))?;
    let old: Flag = serde_json::from_value(definition).map_err(|e| Error::Internal(e.to_string()))?;
    let change = UpdateState {
        enabled: Some(old.enabled),
        off_variant: Some(old.off_variant.map(|v| v.into_owned())),
        rules: Some(old.rules),
        default: Some(old.default),
        prerequisites: Some(old.prerequisites),
        salt: Some(old.salt),
        version: None,
    };
    let after = apply_state(&mut tx, &caller, &app, &row, &env, expected, change, "rollback", None).await?;
    tx.commit().await?;
    Ok(Reply(after))
}

impl audit::Audited for FlagView {
    const ENTITY: &'static str = "flag";
    fn audit_id(&self) -> &str {
        &self.flag.id
    }
    fn audit_key(&self) -> &str {
        &self.flag.key
    }
    fn audit_version(&self) -> Option<i64> {
        Some(self.flag.version)
    }
}
