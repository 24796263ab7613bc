//! `GET /health` and `GET /api/v1/openapi.json`.

use std::sync::Arc;

use axum::Json as Reply;
use axum::extract::State;
use serde_json::{Value, json};

use super::state::AppState;
use crate::domain::authz::{self, Action, Caller};
use crate::error::Result;
use crate::store;

/// `GET /health`: the process is up; `database` says whether PostgreSQL answers.
pub async fn health(State(state): State<AppState>) -> Reply<Value> {
    let db = store::ping(&state.vane.pool).await;
    Reply(json!({"status": "ok", "database": if db { "up" } else { "down" }}))
}

/// `GET /api/v1/openapi.json`: `document`, for any valid key.
pub async fn describe(document: Arc<Value>, caller: Caller) -> Result<Reply<Value>> {
    authz::listing(&caller, Action::Describe)?;
    Ok(Reply(document.as_ref().clone()))
}
