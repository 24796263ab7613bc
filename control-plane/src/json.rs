//! A JSON body extractor whose rejections use the control plane's error shape, so bad input
//! never leaks framework text: bad syntax → 400, valid JSON of the wrong shape → 422,
//! oversized → 413.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::Error;

#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => Error::invalid("", e.body_text()),
                JsonRejection::JsonSyntaxError(e) => Error::BadRequest(e.body_text()),
                JsonRejection::MissingJsonContentType(_) => {
                    Error::BadRequest("expected a JSON body with Content-Type: application/json".into())
                }
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    Error::PayloadTooLarge
                }
                other => Error::BadRequest(other.body_text()),
            }),
        }
    }
}

/// A query-string extractor with the same error shape (400 with what to fix).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|e| Error::BadRequest(e.body_text()))
    }
}
