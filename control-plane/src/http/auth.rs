//! Authentication at the door: the `Caller` extractor reads the key from the request and asks
//! `crate::domain::keys` who it is. Decisions are never made here.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::keys;
use crate::error::{Error, Result};

/// The key in an `Authorization` header value, if it has one of the accepted schemes
/// (`Bearer <key>`, `ApiKey <key>`).
pub fn key_from_header(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey"))
        .then_some(key)
        .filter(|k| !k.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(key_from_header)
            .ok_or(Error::Unauthorized)?;
        keys::authenticate(&state.vane.pool, &state.vane.memo, key).await
    }
}
