//! `POST /api/v1/applications/{application}/environments/{environment}/imports/unleash`
//! (rules in [`crate::domain::imports`]).

use axum::Json as Reply;
use serde_json::Value;

use super::extract::{Ctx, Json, Path};
use super::routes::Routes;
use crate::domain::imports;
use crate::error::Result;

pub fn router() -> Routes {
    Routes::new("imports").post(
        "/applications/{application}/environments/{environment}/imports/unleash",
        "Import Unleash's client API state (flags, segments) with its state in one environment",
        unleash,
    )
}

async fn unleash(
    c: Ctx,
    Path((app, env)): Path<(String, String)>,
    Json(document): Json<Value>,
) -> Result<Reply<Value>> {
    Ok(Reply(imports::unleash(&c.vane, &c.caller, (&app, &env), &document).await?))
}
