//! # vane-control-plane
//!
//! The control plane owns PostgreSQL. Handlers validate a write, apply it and publish the
//! affected snapshots in one transaction ([`publish`]); delivery routes serve snapshots with
//! ETags. Every route is one hop from [`app`]: `routes::<resource>::router()`.
//!
//! IO lives at the edges: handler → SQL; the evaluation engine (`vane-core`) stays pure and is
//! used here for offline evaluation (`vane eval`) and, as flags land, validation of writes.

pub mod access;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod crypto;
pub mod error;
pub mod export;
pub mod json;
pub mod memo;
pub mod model_cache;
pub mod notifier;
pub mod publish;
pub mod routes;
pub mod server;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use sqlx::PgPool;

use crate::error::Error;

/// Largest accepted request body: room for a segment of 100k+ keys in one write.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The schema migrations, embedded at build time (no database needed to build).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub notifier: notifier::Notifier,
    /// Encrypts secret configs; `None` when `VANE_ENCRYPTION_KEY` is not set (secrets refused).
    pub cipher: Option<crypto::Cipher>,
    /// Compiled server snapshots for evaluation routes, per stream and version.
    pub compiled: routes::legacy::CompiledCache,
    /// Keys and stream tags remembered for the delivery path.
    pub memo: memo::Memo,
    /// Per-stream group commit of flag-state writes.
    pub batcher: batch::Batcher,
}

impl AppState {
    /// State for a server on `pool`; starts this process's change listener.
    pub fn new(pool: PgPool) -> Self {
        let memo = memo::Memo::default();
        AppState {
            notifier: notifier::Notifier::start(pool.clone(), memo.clone()),
            pool,
            cipher: None,
            compiled: Default::default(),
            memo,
            batcher: Default::default(),
        }
    }

    /// The same, able to store secret configs.
    pub fn with_cipher(mut self, cipher: crypto::Cipher) -> Self {
        self.cipher = Some(cipher);
        self
    }
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let routes = routes::applications::router()
        .merge(routes::environments::router())
        .merge(routes::flags::router())
        .merge(routes::keys::router())
        .merge(routes::segments::router())
        .merge(routes::imports::router())
        .merge(routes::configs::router())
        .merge(routes::registry::router())
        .merge(routes::audit::router())
        .merge(routes::snapshots::router())
        .merge(routes::legacy::router());
    let (api, mut operations) = routes.into_parts();
    operations.push(routes::Operation {
        method: "get",
        path: "/openapi.json".into(),
        summary: "This document",
        tag: "meta",
    });
    let document = std::sync::Arc::new(routes::openapi::document(&operations));
    let api = api.route(
        "/openapi.json",
        get(move |caller: auth::Caller| {
            let document = document.clone();
            async move {
                access::listing(&caller, auth::Action::Describe)?;
                Ok::<_, Error>(axum::Json(document.as_ref().clone()))
            }
        }),
    );
    let routed = Router::new()
        .route("/health", get(routes::health))
        .nest("/api/v1", api)
        .fallback(|| async { Error::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), forget_after_writes))
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
    match json::check_uri(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// After a write request has been answered (its transaction is over), what this process
/// remembers may be out of date: see [`memo`].
async fn forget_after_writes(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
        return next.run(req).await;
    }
    // Flag-state writes (the hot write path) cannot change a key.
    let state_write = {
        let mut parts = req.uri().path().trim_matches('/').split('/');
        let shape =
            [Some("api"), Some("v1"), Some("applications"), None, Some("flags"), None, Some("environments"), None];
        shape.iter().all(|want| parts.next().is_some_and(|p| want.is_none_or(|w| w == p))) && parts.next().is_none()
    };
    let response = next.run(req).await;
    if state_write {
        state.memo.bump_streams();
    } else {
        state.memo.bump();
    }
    response
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
