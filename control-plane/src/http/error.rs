//! Errors as HTTP answers: `{"error": {"code", "message", "details"}}` with the status each
//! variant of [`Error`] documents. Internal errors are logged here and never echoed.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{Error, FieldError};

/// What every error answer is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `precondition_failed`, `request_timeout`,
    /// `payload_too_large`, `validation_failed`, `unavailable`, `internal`.
    pub code: &'static str,
    /// What went wrong and what to fix, for people.
    pub message: String,
    /// With `validation_failed`: each invalid field's JSON path and what is wrong with it.
    pub details: Option<Vec<FieldError>>,
}

fn status(e: &Error) -> StatusCode {
    match e {
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        Error::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn code(e: &Error) -> &'static str {
    match e {
        Error::BadRequest(_) => "bad_request",
        Error::Unauthorized => "unauthorized",
        Error::Forbidden(_) => "forbidden",
        Error::NotFound(_) => "not_found",
        Error::MethodNotAllowed => "method_not_allowed",
        Error::Conflict(_) => "conflict",
        Error::PreconditionFailed(_) => "precondition_failed",
        Error::Timeout(_) => "request_timeout",
        Error::PayloadTooLarge => "payload_too_large",
        Error::Unprocessable(_) => "validation_failed",
        Error::Unavailable => "unavailable",
        Error::Internal(_) => "internal",
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let (status, code, message) = (status(&self), code(&self), self.to_string());
        let details = match self {
            Error::Unprocessable(problems) => Some(problems),
            _ => None,
        };
        let unavailable = status == StatusCode::SERVICE_UNAVAILABLE;
        let mut response =
            (status, axum::Json(ErrorBody { error: ErrorDetail { code, message, details } })).into_response();
        if unavailable {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        }
        response
    }
}
