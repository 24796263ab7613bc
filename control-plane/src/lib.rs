//! # vane-control-plane
//!
//! The control plane owns PostgreSQL. It is built in layers that only point down:
//!
//! * [`http`] — extractors, authentication at the door, one module per resource with its
//!   `router()` and thin handlers. Every route is one hop from [`app`].
//! * [`domain`] — the rules of each resource: validation, versions, history, audit,
//!   authorisation; each write in one transaction that also publishes.
//! * [`store`] — SQL, checked at build time; [`publish`] — snapshots compiled, stored and
//!   announced inside the writer's transaction, and delivered.
//!
//! The evaluation engine (`vane-core`) stays pure; it validates writes here and evaluates for
//! `vane eval` and the original service's evaluate route.

pub mod crypto;
pub mod domain;
pub mod error;
pub mod http;
pub mod publish;
pub mod store;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::error::Error;
pub use crate::http::state::AppState;
pub use crate::store::{MIGRATOR, export};

/// Every documented route (all but health and the document itself).
pub(crate) fn routes() -> http::routes::Routes {
    http::applications::router()
        .merge(http::environments::router())
        .merge(http::flags::router())
        .merge(http::keys::router())
        .merge(http::segments::router())
        .merge(http::imports::router())
        .merge(http::configs::router())
        .merge(http::registry::router())
        .merge(http::audit::router())
        .merge(http::snapshots::router())
        .merge(http::legacy::router())
        .merge(http::sessions::router())
}

/// `GET /api/v1/openapi.json`'s document (also `vane openapi`).
pub fn openapi_document() -> serde_json::Value {
    let (_, operations) = routes().into_parts();
    http::openapi::document(&with_document_route(operations))
}

fn with_document_route(mut operations: Vec<http::routes::Operation>) -> Vec<http::routes::Operation> {
    operations.push(http::routes::Operation {
        method: "get",
        path: "/openapi.json".into(),
        summary: "This document",
        tag: "meta",
        shape: http::doc::Shape { reply: http::doc::Outcome::Raw, ..Default::default() },
    });
    operations
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let (api, operations) = routes().into_parts();
    let document = Arc::new(http::openapi::document(&with_document_route(operations)));
    let api = api.route("/openapi.json", get(move |caller| http::meta::describe(document.clone(), caller)));
    let routed = Router::new()
        .route("/health", get(http::meta::health))
        .merge(http::console::router())
        .nest("/api/v1", api)
        .fallback(|| async { Error::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(http::MAX_BODY_BYTES))
        .with_state(state);
    // `/api/v1/config/` and `/api/v1/config` are one route (the original service's clients use
    // the trailing slash), so the path is normalised before routing; a path or query that no
    // route could use (NUL, invalid UTF-8) is refused before that.
    Router::new()
        .fallback_service(tower::ServiceBuilder::new().map_request(trim_trailing_slash).service(routed))
        .layer(axum::middleware::from_fn(refuse_unusable_uris))
}

async fn refuse_unusable_uris(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    match http::extract::check_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn trim_trailing_slash(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}
