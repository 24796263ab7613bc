//! Flags: definitions (type, variants, description, tags, client visibility) shared by every
//! environment of an application, and their state per environment (enabled, off variant,
//! rules, default, prerequisites, salt).
//!
//! Every write is validated by compiling the environment's would-be snapshot with `vane-core`
//! ([`validate`]): a write that would introduce any compile problem (in this flag or, through
//! prerequisites, in another) is rejected with 422 and the JSON path of each problem, and
//! nothing changes. Accepted writes publish the affected snapshots in the same transaction.
//! State changes and creations are committed in groups ([`crate::domain::batch`]).

pub mod validate;
pub mod write;

use serde::Deserialize;
use serde_json::{Value, json};
use vane_core::{Flag, Variant};

use super::audit;
use super::authz::{self, Action};
use super::batch::{Creation, QueuedChange};
use super::collection::{Collection, Versions};
use super::paging::{List, Page};
use super::vane::{Actor, Touched};
use super::versions::{Change, Expected, versioned};
use crate::error::{Error, Result};
use crate::publish;
use crate::store::flags::{self as rows, HistoryEntry, StateRow};
pub use write::{CreateFlag, FlagView, StateChange};
use write::{apply_state, find, refuse_if_required, view, visible};

versioned!(FlagChange, StateChange);

/// Which flags a list wants.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FlagFilter {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub tag: Option<String>,
    pub archived: Option<bool>,
    /// Text the key or the description contains, in any case.
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "The one-page checkout, with saved cards", "tags": ["checkout", "web"]}))]
pub struct FlagChange {
    pub variants: Option<Vec<Variant>>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub client_visible: Option<bool>,
    pub archived: Option<bool>,
    pub version: Option<i64>,
}

/// An application's flags.
#[derive(Debug)]
pub struct Flags;

impl Collection for Flags {
    type Scope = String;
    type Item = FlagView;
    type Filter = FlagFilter;
    type New = CreateFlag;
    type Change = FlagChange;

    async fn list(actor: &Actor, application: &String, filter: FlagFilter) -> Result<List<FlagView>> {
        let Actor { vane, caller } = actor;
        let page = Page { limit: filter.limit, offset: filter.offset }.resolve()?;
        let mut conn = vane.pool.acquire().await?;
        let app = authz::application(&mut conn, caller, Action::Read, application).await?;
        let which = rows::Which { tag: filter.tag.as_deref(), archived: filter.archived, text: filter.q.as_deref() };
        let (rows, total) = rows::list(&mut conn, &app.id, &which, page).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            items.push(visible(caller, view(&mut conn, row).await?));
        }
        Ok(List::of((items, total), page))
    }

    async fn read(actor: &Actor, application: &String, flag: &str) -> Result<FlagView> {
        let Actor { vane, caller } = actor;
        let mut conn = vane.pool.acquire().await?;
        let app = authz::application(&mut conn, caller, Action::Read, application).await?;
        let row = find(&mut conn, &app, flag, false).await?;
        Ok(visible(caller, view(&mut conn, row).await?))
    }

    /// Creates a flag, disabled in every environment; committed together with other creations
    /// queued for this application.
    async fn create(actor: &Actor, application: &String, flag: CreateFlag) -> Result<FlagView> {
        let Actor { vane, caller } = actor;
        caller.permits(Action::Write)?;
        let creation = Creation { caller: caller.clone(), flag };
        vane.batcher.create_flag(&vane.pool, &vane.memo, application, creation).await
    }

    /// Changes a flag's definition: validated, and its state versioned, in every environment.
    async fn update(actor: &Actor, application: &String, flag: &str, change: Change<FlagChange>) -> Result<FlagView> {
        let Change(expected, change) = change;
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let app = authz::application(&mut tx, caller, Action::Write, application).await?;
        let locked = find(&mut tx, &app, flag, true).await?;
        let before = view(&mut tx, locked).await?;
        expected.check(before.flag.version)?;
        let mut after_row = before.flag.clone();
        if let Some(v) = &change.variants {
            after_row.variants = json!(v);
        }
        if let Some(d) = &change.description {
            after_row.description.clone_from(d);
        }
        if let Some(t) = &change.tags {
            after_row.tags = json!(t);
        }
        // Archived flags are not published. Archiving one that a published flag requires would make
        // that flag answer PARSE_ERROR, so it is refused like deleting it; a flag that stays or
        // becomes live is validated in every environment (its variants, or unarchiving it next to
        // prerequisites that are gone).
        let live = !change.archived.unwrap_or(before.flag.archived);
        if !live && !before.flag.archived {
            refuse_if_required(&mut tx, &app, &before.flag, "archived", true).await?;
        }
        let mut problems = Vec::new();
        for s in before.environments.values().filter(|_| live) {
            let candidate = rows::model(&after_row, s)?;
            let prefix = format!("environments.{}.", s.environment);
            match validate::change(&mut tx, &app.id, &s.environment_id, candidate, &prefix).await {
                Ok(()) => {}
                Err(Error::Unprocessable(found)) => problems.extend(found),
                Err(other) => return Err(other),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Unprocessable(problems));
        }
        let definition = rows::Definition {
            variants: &after_row.variants,
            description: &after_row.description,
            tags: &after_row.tags,
            client_visible: change.client_visible,
            archived: change.archived,
        };
        let row = rows::update_definition(&mut tx, &before.flag.id, definition).await?;
        let after = view(&mut tx, row).await?;
        for s in after.environments.values() {
            write::record_history(&mut tx, caller, &after.flag, s).await?;
        }
        publish::publish_application(&mut tx, &app.id).await?;
        audit::change(&mut tx, caller, "update", Some(&before), Some(&after)).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(after)
    }

    /// Deletes a flag (refused while another flag depends on it).
    async fn delete(actor: &Actor, application: &String, flag: &str, expected: Expected) -> Result<()> {
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let app = authz::application(&mut tx, caller, Action::Write, application).await?;
        write::delete(&mut tx, caller, &app, flag, expected).await?;
        vane.commit(tx, Touched::Streams).await
    }
}

pub async fn read_state(actor: &Actor, (application, flag, environment): (&str, &str, &str)) -> Result<StateRow> {
    let Actor { vane, caller } = actor;
    let mut conn = vane.pool.acquire().await?;
    let (app, env) = authz::stream(&mut conn, caller, Action::Read, application, environment).await?;
    let row = find(&mut conn, &app, flag, false).await?;
    write::state_in(&mut conn, &row, &env).await
}

/// Changes a flag's state in one environment; committed together with the other changes queued
/// for this environment, which also resolves the names and checks the key's binding.
pub async fn update_state(actor: &Actor, at: (&str, &str, &str), change: Change<StateChange>) -> Result<StateRow> {
    let (application, flag, environment) = at;
    let Change(expected, change) = change;
    let Actor { vane, caller } = actor;
    let queued = QueuedChange { caller: caller.clone(), flag: flag.to_owned(), expected, change, action: "update" };
    vane.batcher.change_state(&vane.pool, &vane.memo, application, environment, queued).await
}

/// Flags' states, one per environment, each with its versions.
#[derive(Debug)]
pub struct FlagStates;

impl Versions for FlagStates {
    type Item = StateRow;
    type Version = HistoryEntry;

    /// Every version of the flag's state in one environment, newest first.
    async fn history(actor: &Actor, at: (&str, &str, &str), page: Page) -> Result<List<HistoryEntry>> {
        let (application, flag, environment) = at;
        let Actor { vane, caller } = actor;
        let page = page.resolve()?;
        let mut conn = vane.pool.acquire().await?;
        let (app, env) = authz::stream(&mut conn, caller, Action::Read, application, environment).await?;
        let row = find(&mut conn, &app, flag, false).await?;
        Ok(List::of(rows::history(&mut conn, &row.id, &env.id, page).await?, page))
    }

    /// Restores the state of `version` as a new version (validated like any write).
    async fn rollback(actor: &Actor, at: (&str, &str, &str), expected: Expected, version: i64) -> Result<StateRow> {
        let (application, flag, environment) = at;
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let (app, env) = authz::stream(&mut tx, caller, Action::Write, application, environment).await?;
        let row = find(&mut tx, &app, flag, false).await?;
        let definition: Value = rows::definition_at(&mut tx, &row.id, &env.id, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("flag '{}' has no version {version} in '{}'", row.key, env.key)))?;
        let old: Flag = serde_json::from_value(definition).map_err(|e| Error::Internal(e.to_string()))?;
        let change = StateChange {
            enabled: Some(old.enabled),
            off_variant: Some(old.off_variant.map(|v| v.into_owned())),
            rules: Some(old.rules),
            default: Some(old.default),
            prerequisites: Some(old.prerequisites),
            salt: Some(old.salt),
            version: None,
        };
        let after = apply_state(&mut tx, caller, &app, &row, &env, expected, change, "rollback", None).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(after)
    }
}
