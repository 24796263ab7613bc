//! `/api/v1/applications/{application}/environments/{environment}/configs` (rules in
//! [`crate::domain::configs`]).

use axum::Json as Reply;

use super::collection::{Described, router as collection, versions};
use super::extract::Path;
use super::routes::Routes;
use crate::domain::configs::{self, Configs, Revealed};
use crate::domain::vane::Actor;
use crate::error::Result;

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/environments/{environment}/configs/{key}";
    const REVEAL: &str = "/applications/{application}/environments/{environment}/configs/{key}/reveal";
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
    .merge(versions::<Configs>(
        "configs",
        ONE,
        ["Every version of a config", "Restore an earlier version as a new version"],
    ))
    .post(REVEAL, "Reveal a config's value (a console session's only way to see a secret; audited)", reveal)
}

async fn reveal(actor: Actor, Path((app, env, key)): Path<(String, String, String)>) -> Result<Reply<Revealed>> {
    Ok(Reply(configs::reveal(&actor, (&app, &env, &key)).await?))
}
