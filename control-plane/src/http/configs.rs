//! `/api/v1/applications/{application}/environments/{environment}/configs` (rules in
//! [`crate::domain::configs`]).

use axum::Json as Reply;

use super::collection::{Described, router as collection};
use super::extract::{IfMatch, Json, Path, Query, Rollback};
use super::routes::Routes;
use crate::domain::configs::{self, ConfigVersion, ConfigView, Configs};
use crate::domain::paging::{List, Page};
use crate::domain::vane::Actor;
use crate::error::Result;

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/environments/{environment}/configs/{key}";
    collection::<Configs>(Described {
        tag: "configs",
        base: "/applications/{application}/environments/{environment}/configs",
        param: "key",
        summaries: [
            "List configs",
            "Create a config",
            "Read a config (secrets decrypted for admin/read keys)",
            "Update a config",
            "Delete a config",
        ],
    })
    .get(&format!("{ONE}/history"), "Every version of a config", history)
    .post(&format!("{ONE}/rollback"), "Restore an earlier version as a new version", rollback)
}

/// `{application}/environments/{environment}/configs/{key}`.
type One = Path<(String, String, String)>;

async fn history(actor: Actor, Path((a, e, key)): One, Query(page): Query<Page>) -> Result<Reply<List<ConfigVersion>>> {
    Ok(Reply(configs::history(&actor, (&a, &e, &key), page).await?))
}

async fn rollback(
    actor: Actor,
    IfMatch(expected): IfMatch,
    Path((a, e, key)): One,
    Json(to): Json<Rollback>,
) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::rollback(&actor, (&a, &e, &key), expected, to.version).await?))
}
