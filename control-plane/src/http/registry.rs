//! The service registry at `/api/v1/registry/…` and `/api/v1/services/…`, with the original
//! config service's routes and shapes (rules in [`crate::domain::registry`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::extract::{Json, Path, Query};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::paging::List;
use crate::domain::registry::{self, HealthUpdate, Register, Service, StatusFilter};
use crate::error::Result;

pub fn router() -> Routes {
    let mut r = Routes::new("registry");
    for base in ["/registry", "/services"] {
        r = r
            .get(base, "List registered services (filter: status)", list)
            .post(&format!("{base}/register"), "Register (or re-register) a service instance", register)
            .get(&format!("{base}/healthy"), "List healthy services", healthy)
            .put(&format!("{base}/health"), "Report a service's health", update_health)
            .get(&format!("{base}/{{service_name}}"), "Read a service", read)
            .delete(&format!("{base}/{{service_name}}"), "Deregister a service", deregister);
    }
    r
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(f): Query<StatusFilter>,
) -> Result<Reply<List<Service>>> {
    Ok(Reply(registry::list(&s.vane, &caller, f).await?))
}

/// The original's shape: `{services, total}`.
async fn healthy(State(s): State<AppState>, caller: Caller) -> Result<Reply<Value>> {
    let services = registry::healthy(&s.vane, &caller).await?;
    Ok(Reply(json!({"services": services, "total": services.len()})))
}

async fn read(State(s): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Reply<Service>> {
    Ok(Reply(registry::read(&s.vane, &caller, &name).await?))
}

async fn register(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<Register>,
) -> Result<(StatusCode, Reply<Service>)> {
    Ok((StatusCode::CREATED, Reply(registry::register(&s.vane, &caller, body).await?)))
}

async fn update_health(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<HealthUpdate>,
) -> Result<Reply<Service>> {
    Ok(Reply(registry::update_health(&s.vane, &caller, body).await?))
}

async fn deregister(State(s): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<StatusCode> {
    registry::deregister(&s.vane, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
