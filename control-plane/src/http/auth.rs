//! Authentication at the door: the `Caller` extractor reads the key from the request's
//! `Authorization` header and asks `crate::domain::keys` who it is — or, without the header, the
//! console's session cookie and asks `crate::domain::sessions`. A write made with the cookie must
//! carry the session's CSRF proof in `X-CSRF-Token` (the cookie alone proves only that a browser
//! sent it). Decisions are never made here.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use vane_core::api_key_hash;

use super::state::AppState;

/// The header a write made with the session cookie carries its CSRF proof in.
pub const CSRF_HEADER: &str = "x-csrf-token";
use crate::domain::authz::Caller;
use crate::domain::{keys, sessions};
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
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let key = value.to_str().ok().and_then(key_from_header).ok_or(Error::Unauthorized)?;
            return keys::authenticate(&state.vane.pool, &state.vane.memo, key).await;
        }
        let token = super::sessions::token(&parts.headers).ok_or(Error::Unauthorized)?;
        let (caller, csrf) = sessions::resolve(&state.vane, token).await?;
        if !parts.method.is_safe() {
            let proof = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            // Compared as hashes, so the time taken says nothing about the proof.
            if api_key_hash(proof) != api_key_hash(&csrf) {
                return Err(Error::Forbidden(
                    "a write made with the session cookie needs the session's CSRF proof in X-CSRF-Token \
                     (GET /api/v1/sessions/current gives it)"
                        .into(),
                ));
            }
        }
        Ok(caller)
    }
}
