//! Segments: reusable audiences (conditions plus included/excluded key lists) shared by every
//! environment of an application.
//!
//! A write is validated like a flag write: every environment's would-be snapshot is compiled and
//! any new problem — in the segment, or in a flag that uses it — is a 422 with its path. A
//! segment that a flag uses cannot be deleted (409). Writes republish the application.

use std::collections::HashSet;

use serde::Deserialize;
use sqlx::PgConnection;
use vane_core::{Condition, Flag, Segment};

use super::audit::{self, audited};
use super::authz::{self, Action};
use super::collection::Collection;
use super::flags::validate::{problems, refuse};
use super::names::{ENTITY_KEY, is_entity_key};
use super::paging::{List, Page};
use super::vane::{Actor, Touched};
use super::versions::{Change, Expected, versioned};
use crate::error::{Error, FieldError, Result};
use crate::publish::{self, model_cache};
use crate::store::applications::{self as applications, Application};
use crate::store::segments as rows;
pub use crate::store::segments::SegmentRow;

audited!(SegmentRow, "segment");
versioned!(SegmentBody);

/// A segment as written: all of it to create one, what changes to update one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "beta-testers", "description": "People who opted in to betas", "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@example.com"]}], "included": ["user-42"], "excluded": ["user-7"]}))]
pub struct SegmentBody {
    pub key: Option<String>,
    pub description: Option<String>,
    pub conditions: Option<Vec<Condition>>,
    pub included: Option<Vec<String>>,
    pub excluded: Option<Vec<String>>,
    pub version: Option<i64>,
}

async fn find(conn: &mut PgConnection, app: &Application, id_or_key: &str, lock: bool) -> Result<SegmentRow> {
    rows::find(conn, &app.id, id_or_key, lock)
        .await?
        .ok_or_else(|| Error::NotFound(format!("segment '{id_or_key}' not found in application '{}'", app.key)))
}

/// An application's segments.
#[derive(Debug)]
pub struct Segments;

impl Collection for Segments {
    type Scope = String;
    type Item = SegmentRow;
    type Filter = Page;
    type New = SegmentBody;
    type Change = SegmentBody;

    async fn list(actor: &Actor, application: &String, page: Page) -> Result<List<SegmentRow>> {
        let Actor { vane, caller } = actor;
        let page = page.resolve()?;
        let mut conn = vane.pool.acquire().await?;
        let app = authz::application(&mut conn, caller, Action::Read, application).await?;
        Ok(List::of(rows::list(&mut conn, &app.id, page).await?, page))
    }

    async fn read(actor: &Actor, application: &String, segment: &str) -> Result<SegmentRow> {
        let Actor { vane, caller } = actor;
        let mut conn = vane.pool.acquire().await?;
        let app = authz::application(&mut conn, caller, Action::Read, application).await?;
        find(&mut conn, &app, segment, false).await
    }

    async fn create(actor: &Actor, application: &String, body: SegmentBody) -> Result<SegmentRow> {
        let Actor { vane, caller } = actor;
        caller.permits(Action::Write)?;
        let key = body.key.clone().unwrap_or_default();
        if !is_entity_key(&key) {
            return Err(Error::invalid("key", ENTITY_KEY));
        }
        let candidate = Segment {
            key: key.clone(),
            description: body.description.unwrap_or_default(),
            conditions: body.conditions.unwrap_or_default(),
            included: body.included.unwrap_or_default(),
            excluded: body.excluded.unwrap_or_default(),
            hashed: false,
        };
        let mut tx = vane.begin().await?;
        let app = authz::application(&mut tx, caller, Action::Write, application).await?;
        validate_change(&mut tx, &app, &key, Some(&candidate)).await?;
        let stored = rows::save(&mut tx, None, &app.id, &candidate).await?;
        audit::change(&mut tx, caller, "create", None, Some(&stored)).await?;
        publish_written(&mut tx, &app, &stored, candidate).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(stored)
    }

    async fn update(
        actor: &Actor,
        application: &String,
        segment: &str,
        change: Change<SegmentBody>,
    ) -> Result<SegmentRow> {
        let Change(expected, body) = change;
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let app = authz::application(&mut tx, caller, Action::Write, application).await?;
        let before = find(&mut tx, &app, segment, true).await?;
        expected.check(before.version)?;
        if body.key.as_ref().is_some_and(|k| *k != before.key) {
            return Err(Error::invalid("key", "a segment's key cannot change; create a new segment instead"));
        }
        let mut candidate = rows::model(&before)?;
        if let Some(d) = body.description {
            candidate.description = d;
        }
        if let Some(c) = body.conditions {
            candidate.conditions = c;
        }
        if let Some(i) = body.included {
            candidate.included = i;
        }
        if let Some(e) = body.excluded {
            candidate.excluded = e;
        }
        validate_change(&mut tx, &app, &before.key, Some(&candidate)).await?;
        let stored = rows::save(&mut tx, Some(&before.id), &app.id, &candidate).await?;
        audit::change(&mut tx, caller, "update", Some(&before), Some(&stored)).await?;
        publish_written(&mut tx, &app, &stored, candidate).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(stored)
    }

    /// Deletes a segment (refused while a flag uses it).
    async fn delete(actor: &Actor, application: &String, segment: &str, expected: Expected) -> Result<()> {
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let app = authz::application(&mut tx, caller, Action::Write, application).await?;
        let before = find(&mut tx, &app, segment, true).await?;
        expected.check(before.version)?;
        // Deleting it must not break a flag that targets it.
        if let Err(Error::Unprocessable(found)) = validate_change(&mut tx, &app, &before.key, None).await {
            let users: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
            return Err(Error::Conflict(format!(
                "segment '{}' is in use ({}); remove it from those rules first",
                before.key,
                users.join(", ")
            )));
        }
        rows::delete(&mut tx, &before.id).await?;
        model_cache::forget(&app.id);
        publish::publish_application(&mut tx, &app.id).await?;
        audit::change(&mut tx, caller, "delete", Some(&before), None).await?;
        vane.commit(tx, Touched::Streams).await
    }
}

/// Rejects replacing segment `key` by `changed` (`None` = deleting it) if it, or a flag that uses
/// it in any environment, would gain a compile problem. Only those are compiled: the segment
/// once (it is the same in every environment) and, per environment, the flags whose rules name
/// it, with the other segments they use — not every flag with every segment.
async fn validate_change(
    conn: &mut PgConnection,
    app: &Application,
    key: &str,
    changed: Option<&Segment>,
) -> Result<()> {
    let mut found: Vec<FieldError> = Vec::new();
    if let Some(segment) = changed {
        for (entity, path, message) in problems(Vec::new(), vec![segment.clone()]) {
            if entity == key {
                found.push(FieldError::new(path, message));
            }
        }
    }
    for (env_id, env_key) in crate::store::environments::keys(&mut *conn).await? {
        let stream = model_cache::load(conn, &app.id, &env_id, None).await?;
        let users: Vec<Flag> = stream
            .flags
            .iter()
            .filter(|f| model_cache::segments_of(&f.model).any(|s| s == key))
            .map(|f| f.model.clone())
            .collect();
        if users.is_empty() {
            continue;
        }
        let named: HashSet<&str> = users.iter().flat_map(model_cache::segments_of).collect();
        let others: Vec<Segment> = stream
            .segments
            .iter()
            .filter(|s| s.model.key != key && named.contains(s.model.key.as_str()))
            .map(|s| s.model.clone())
            .collect();
        let mut before_segments = others.clone();
        before_segments.extend(stream.segments.iter().filter(|s| s.model.key == key).map(|s| s.model.clone()));
        let mut after_segments = others;
        after_segments.extend(changed.cloned());
        let before = problems(users.clone(), before_segments);
        for (entity, path, message) in problems(users, after_segments) {
            if entity == key || before.contains(&(entity.clone(), path.clone(), message.clone())) {
                continue;
            }
            let path = format!("environments.{env_key}.flags.{entity}{}{path}", if path.is_empty() { "" } else { "." });
            if !found.iter().any(|f| f.path == path && f.message == message) {
                found.push(FieldError::new(path, message));
            }
        }
    }
    refuse(found)
}

/// Publishes the application after a segment's row is written and audited. Its fragments are
/// computed and stored first, while no stream is locked, so publishing (which locks every
/// stream of the application) has nothing large left to do.
async fn publish_written(
    conn: &mut PgConnection,
    app: &Application,
    stored: &SegmentRow,
    model: Segment,
) -> Result<()> {
    let cached = model_cache::remember_segment(&stored.id, &app.id, &stored.fingerprint, model)?;
    let salt = applications::hash_salt(&mut *conn, &app.id).await?;
    let client = cached.client(&salt);
    publish::store_fragments(&mut *conn, &app.id, &[&cached.server, &client]).await?;
    publish::publish_application(conn, &app.id).await
}
