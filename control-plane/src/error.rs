//! The control plane's one error type. Every layer returns `Result<T, Error>`; `crate::http`
//! turns it into `{"error": {"code", "message", "details"}}` with the status each variant
//! documents. Internal errors are logged and never echoed to the client.

use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem with a request field, by JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { path: path.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// 400: the request is not well-formed (bad JSON, bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no API key, or one we do not know.
    #[error("a valid API key is required (Authorization: Bearer <key> or ApiKey <key>)")]
    Unauthorized,
    /// 403: a known key without the scope or binding this request needs.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route or entity.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 409: the write conflicts with existing data (duplicate key, stale `version`).
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names a version that is not the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 408: the request body did not arrive in time.
    #[error("the request body did not arrive within {0} s")]
    Timeout(u64),
    /// 413: the body is larger than the server accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 422: well-formed but invalid; one entry per problem.
    #[error("validation failed")]
    Unprocessable(Vec<FieldError>),
    /// 503: PostgreSQL is unreachable; retry later.
    #[error("the database is unavailable; retry shortly")]
    Unavailable,
    /// 500: a bug or an unexpected database error. Logged, never echoed.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unprocessable(vec![FieldError::new(path, message)])
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                Error::Unavailable
            }
            sqlx::Error::RowNotFound => Error::NotFound("not found".into()),
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                match db.code().as_deref() {
                    // unique_violation
                    Some("23505") => Error::Conflict(match constraint.as_str() {
                        "applications_key_unique" => "an application with this key already exists".into(),
                        "environments_key_unique" => "an environment with this key already exists".into(),
                        "configs_scope_key_unique" => {
                            "a config with this key already exists in this application and environment".into()
                        }
                        "flags_application_key_unique" => {
                            "a flag with this key already exists in this application".into()
                        }
                        "segments_application_key_unique" => {
                            "a segment with this key already exists in this application".into()
                        }
                        other => format!("conflicts with an existing entry ({other})"),
                    }),
                    // check_violation
                    Some("23514") => Error::invalid("", format!("value rejected by constraint {constraint}")),
                    // foreign_key_violation
                    Some("23503") => {
                        Error::Conflict(format!("still referenced or refers to a missing entry ({constraint})"))
                    }
                    // deadlock_detected, serialization_failure: a concurrent write won; retrying succeeds
                    Some("40P01" | "40001") => {
                        Error::Conflict("a concurrent write touched the same entities; retry the request".into())
                    }
                    // data_exception (22xxx): a value PostgreSQL cannot hold. Requests are checked
                    // before they get here (crate::http::extract); this is the backstop, never a 500. The
                    // server's message is logged, not echoed: it may quote the value.
                    Some(code) if code.starts_with("22") => {
                        tracing::warn!(sqlstate = code, error = %db.message(), "the database refused a value");
                        Error::invalid(
                            "",
                            format!("the database cannot store a value of this request (SQLSTATE {code})"),
                        )
                    }
                    // admin_shutdown, crash_shutdown, cannot_connect_now, connection failures
                    Some(code) if code.starts_with("08") || code.starts_with("57P") => Error::Unavailable,
                    _ => Error::Internal(e.to_string()),
                }
            }
            _ => Error::Internal(e.to_string()),
        }
    }
}
