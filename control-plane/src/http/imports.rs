//! `POST /api/v1/applications/{application}/environments/{environment}/imports/unleash`
//! (rules in [`crate::domain::imports`]).

use axum::Json as Reply;
use serde_json::Value;

use super::extract::{Json, Path};
use super::routes::Routes;
use crate::domain::imports;
use crate::domain::vane::Actor;
use crate::error::Result;

pub fn router() -> Routes {
    Routes::new("imports").post(
        "/applications/{application}/environments/{environment}/imports/unleash",
        "Import Unleash's client API state (flags, segments) with its state in one environment",
        unleash,
    )
}

async fn unleash(
    actor: Actor,
    Path((app, env)): Path<(String, String)>,
    Json(document): Json<Value>,
) -> Result<Reply<Value>> {
    Ok(Reply(imports::unleash(&actor, (&app, &env), &document).await?))
}
