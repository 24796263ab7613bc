//! `/api/v1/applications/{application}/flags`: definitions, and under
//! `…/flags/{flag}/environments/{environment}` their state per environment (rules in
//! [`crate::domain::flags`]).

use axum::Json as Reply;

use super::collection::{Described, router as collection, versions};
use super::extract::Path;
use super::routes::Routes;
use crate::domain::flags::{self, FlagStates, Flags, StateChange};
use crate::domain::vane::Actor;
use crate::domain::versions::Change;
use crate::error::Result;
use crate::store::flags::StateRow;

pub fn router() -> Routes {
    const STATE: &str = "/applications/{application}/flags/{flag}/environments/{environment}";
    const STATE_UPDATE: &str = "Update a flag's state in one environment (rules, default, prerequisites, ...)";
    collection::<Flags>(Described {
        tag: "flags",
        base: "/applications/{application}/flags",
        param: "flag",
        summaries: [
            "List flags (filters: tag, archived)",
            "Create a flag (disabled in every environment)",
            "Read a flag with its state in every environment",
            "Update a flag (variants, description, tags, visibility, archived)",
            "Delete a flag (refused while another flag depends on it)",
        ],
    })
    .get(STATE, "Read a flag's state in one environment", read_state)
    .put(STATE, STATE_UPDATE, update_state)
    .patch(STATE, STATE_UPDATE, update_state)
    .merge(versions::<FlagStates>(
        "flags",
        STATE,
        ["Every published version of the flag's state", "Restore an earlier version as a new version"],
    ))
}

/// `{application}/flags/{flag}/environments/{environment}`.
type InEnvironment = Path<(String, String, String)>;

async fn read_state(actor: Actor, Path((app, flag, env)): InEnvironment) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::read_state(&actor, (&app, &flag, &env)).await?))
}

async fn update_state(
    actor: Actor,
    Path((app, flag, env)): InEnvironment,
    change: Change<StateChange>,
) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::update_state(&actor, (&app, &flag, &env), change).await?))
}
