//! The service registry at `/api/v1/registry/…` and `/api/v1/services/…`, with the original
//! config service's routes and shapes (rules in [`crate::domain::registry`]).

use axum::Json as Reply;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::extract::{Json, Path, Query};
use super::routes::Routes;
use crate::domain::paging::List;
use crate::domain::registry::{self, HealthUpdate, Register, Service, StatusFilter};
use crate::domain::vane::Actor;
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

async fn list(actor: Actor, Query(filter): Query<StatusFilter>) -> Result<Reply<List<Service>>> {
    Ok(Reply(registry::list(&actor, filter).await?))
}

/// The original's shape: `{services, total}`.
async fn healthy(actor: Actor) -> Result<Reply<Value>> {
    let services = registry::healthy(&actor).await?;
    Ok(Reply(json!({"services": services, "total": services.len()})))
}

async fn read(actor: Actor, Path(name): Path<String>) -> Result<Reply<Service>> {
    Ok(Reply(registry::read(&actor, &name).await?))
}

async fn register(actor: Actor, Json(service): Json<Register>) -> Result<(StatusCode, Reply<Service>)> {
    Ok((StatusCode::CREATED, Reply(registry::register(&actor, service).await?)))
}

async fn update_health(actor: Actor, Json(report): Json<HealthUpdate>) -> Result<Reply<Service>> {
    Ok(Reply(registry::update_health(&actor, report).await?))
}

async fn deregister(actor: Actor, Path(name): Path<String>) -> Result<StatusCode> {
    registry::deregister(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
