//! HTTP routes, one module per resource, each with a `router()` merged in [`crate::app`].

pub mod applications;
pub mod audit;
pub mod configs;
pub mod environments;
pub mod flags;
pub mod imports;
pub mod keys;
pub mod legacy;
pub mod openapi;
pub mod registry;
pub mod segments;
pub mod snapshots;

use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{Error, Result};

/// `GET /health`: the process is up; `database` says whether PostgreSQL answers.
pub async fn health(State(state): State<AppState>) -> axum::Json<Value> {
    let db = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool).await.is_ok();
    axum::Json(json!({"status": "ok", "database": if db { "up" } else { "down" }}))
}

/// `?limit=&offset=` for list routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Page {
    pub const DEFAULT_LIMIT: i64 = 100;
    pub const MAX_LIMIT: i64 = 1000;

    pub fn resolve(&self) -> Result<(i64, i64)> {
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid("limit", format!("must be between 1 and {}", Self::MAX_LIMIT)));
        }
        if offset < 0 {
            return Err(Error::invalid("offset", "must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct List<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

pub fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b.first().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// Flag and segment keys: `[A-Za-z0-9][A-Za-z0-9._-]{0,199}`, case-sensitive, safe in a URL path.
pub fn is_entity_key(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A slug derived from a display name (for clients of the original service, which sent names only).
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(100).collect()
}

/// The version a write expects: `If-Match` (412 when stale) or a body `version` (409 when stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    IfMatch(i64),
    Body(i64),
}

impl Expected {
    pub fn from(headers: &HeaderMap, body_version: Option<i64>) -> Result<Self> {
        if let Some(v) = headers.get(axum::http::header::IF_MATCH) {
            let text = v.to_str().map_err(|_| Error::BadRequest("If-Match is not valid text".into()))?;
            let trimmed = text.trim().trim_start_matches("W/").trim_matches('"');
            let version = trimmed
                .parse()
                .map_err(|_| Error::BadRequest(format!("If-Match must be a version number, got {text}")))?;
            return Ok(Expected::IfMatch(version));
        }
        Ok(body_version.map_or(Expected::Any, Expected::Body))
    }

    /// The error for a write whose expected version is not `current`, if any.
    pub fn check(self, current: i64) -> Result<()> {
        match self {
            Expected::IfMatch(v) if v != current => {
                Err(Error::PreconditionFailed(format!("If-Match {v} does not match the current version {current}")))
            }
            Expected::Body(v) if v != current => {
                Err(Error::Conflict(format!("version {v} is stale; the current version is {current}")))
            }
            _ => Ok(()),
        }
    }
}

/// Checks length limits shared by applications and environments.
pub fn check_text(problems: &mut Vec<crate::error::FieldError>, field: &str, value: &str, min: usize, max: usize) {
    let n = value.chars().count();
    if n < min || n > max {
        problems.push(crate::error::FieldError::new(field, format!("must be {min} to {max} characters, is {n}")));
    }
}

/// One documented operation of the HTTP API.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    pub path: String,
    pub summary: &'static str,
    pub tag: &'static str,
}

/// A router that records what it routes, so `GET /api/v1/openapi.json` is generated from the
/// same calls that register the handlers and cannot miss one.
#[derive(Debug)]
pub struct Routes {
    router: axum::Router<AppState>,
    tag: &'static str,
    pub operations: Vec<Operation>,
}

macro_rules! verb {
    ($name:ident, $filter:ident, $method:literal) => {
        pub fn $name<H, T>(self, path: &str, summary: &'static str, handler: H) -> Self
        where
            H: axum::handler::Handler<T, AppState>,
            T: 'static,
        {
            self.on(axum::routing::MethodFilter::$filter, $method, path, summary, handler)
        }
    };
}

impl Routes {
    pub fn new(tag: &'static str) -> Self {
        Routes { router: axum::Router::new(), tag, operations: Vec::new() }
    }

    fn on<H, T>(
        mut self,
        filter: axum::routing::MethodFilter,
        method: &'static str,
        path: &str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::on(filter, handler));
        self.operations.push(Operation { method, path: path.to_owned(), summary, tag: self.tag });
        self
    }

    verb!(get, GET, "get");
    verb!(post, POST, "post");
    verb!(put, PUT, "put");
    verb!(patch, PATCH, "patch");
    verb!(delete, DELETE, "delete");

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.operations.extend(other.operations);
        self
    }

    pub fn into_parts(self) -> (axum::Router<AppState>, Vec<Operation>) {
        (self.router, self.operations)
    }
}
