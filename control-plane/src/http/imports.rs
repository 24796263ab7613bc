//! `POST /api/v1/applications/{application}/environments/{environment}/imports/unleash`
//! (rules in [`crate::domain::imports`]).

use axum::Json as Reply;
use axum::extract::State;
use serde_json::Value;

use super::extract::{Json, Path};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
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
    State(s): State<AppState>,
    caller: Caller,
    Path((application, environment)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Reply<Value>> {
    Ok(Reply(imports::unleash(&s.vane, &caller, (&application, &environment), &body).await?))
}
