//! `/api/v1/sessions`: the console's sign-in (an admin or read key exchanged for a session
//! cookie), who the session is, and sign-out. Rules in [`crate::domain::sessions`]; the cookie
//! is read by the `Caller` extractor ([`super::auth`]).

use axum::Json as Reply;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::doc::{Answer, Part, Shape};
use super::extract::Json;
use super::routes::Routes;
use super::state::AppState;
use crate::domain::sessions::{self, SessionInfo};
use crate::error::{Error, Result};

/// The session cookie's name.
pub const COOKIE: &str = "vane_session";

pub fn router() -> Routes {
    Routes::new("sessions")
        .post("/sessions", "Sign in: exchange an admin or read key for a session cookie", sign_in)
        .get("/sessions/current", "Who the session cookie is (and its CSRF proof)", current)
        .delete("/sessions/current", "Sign out: end the session", sign_out)
}

/// `{"key": "vane_admin_…"}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "vane_admin_0123456789abcdef0123456789abcdef0123456789abcdef"}))]
pub struct SignIn {
    pub key: String,
}

/// Keys never appear in logs or errors, even as a body that failed to parse.
impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIn { key: <hidden> }")
    }
}

/// The session token from the request's cookie, if it has one.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v).filter_map(std::result::Result::ok))
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value_raw().unwrap_or_default())
        .filter(|v| !v.is_empty())
}

/// The session token of a request that must have one.
pub struct Token(String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        token(&parts.headers).map(|t| Token(t.to_owned())).ok_or(Error::Unauthorized)
    }
}

impl Part for Token {}

/// Session tokens are credentials: never printed.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// Whether the browser reached us over https (directly, or through a proxy that says so): the
/// cookie is then `Secure`.
fn over_https(headers: &HeaderMap) -> bool {
    let says = |name: &str, https: &dyn Fn(&str) -> bool| {
        headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| https(&v.to_ascii_lowercase()))
    };
    says("x-forwarded-proto", &|v| v.split(',').next().is_some_and(|p| p.trim() == "https"))
        || says("forwarded", &|v| v.contains("proto=https"))
}

/// The `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/`, `Secure` over https; an empty
/// value that expires at once ends it.
pub fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> Result<HeaderValue> {
    let cookie = Cookie::build((COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_s))
        .build();
    HeaderValue::from_str(&cookie.to_string()).map_err(|e| Error::Internal(e.to_string()))
}

/// A reply that also sets the session cookie.
pub struct WithCookie<T>(HeaderValue, T);

/// The cookie holds the session token: never printed.
impl<T: std::fmt::Debug> std::fmt::Debug for WithCookie<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WithCookie").field(&"<hidden>").field(&self.1).finish()
    }
}

impl<T: IntoResponse> IntoResponse for WithCookie<T> {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        response.headers_mut().insert(header::SET_COOKIE, self.0);
        response
    }
}

impl<T: Answer> Answer for WithCookie<T> {
    fn describe(shape: &mut Shape) {
        T::describe(shape);
    }
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<WithCookie<(StatusCode, Reply<SessionInfo>)>> {
    let opened = sessions::sign_in(&state.vane, &body.key).await?;
    let ttl = i64::try_from(state.vane.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let cookie = set_cookie(&opened.token, ttl, over_https(&headers))?;
    Ok(WithCookie(cookie, (StatusCode::CREATED, Reply(opened.info))))
}

async fn current(State(state): State<AppState>, Token(token): Token) -> Result<Reply<SessionInfo>> {
    Ok(Reply(sessions::current(&state.vane, &token).await?))
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Token(token): Token,
) -> Result<WithCookie<StatusCode>> {
    sessions::sign_out(&state.vane, &token).await?;
    Ok(WithCookie(set_cookie("", 0, over_https(&headers))?, StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_for_every_path_and_secure_over_https() {
        let plain = set_cookie("abc", 60, false).ok().map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(plain.as_deref(), Some("vane_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"));
        let secure = set_cookie("abc", 60, true).ok().map(|v| v.to_str().unwrap_or_default().to_owned());
        assert!(secure.is_some_and(|s| s.contains("; Secure")));
        let mut headers = HeaderMap::new();
        assert!(!over_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(over_https(&headers));
    }

    #[test]
    fn the_token_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(token(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; other=1"));
        headers.append(header::COOKIE, HeaderValue::from_static("a=b; vane_session=t0k3n"));
        assert_eq!(token(&headers), Some("t0k3n"));
        let mut empty = HeaderMap::new();
        empty.insert(header::COOKIE, HeaderValue::from_static("vane_session="));
        assert_eq!(token(&empty), None, "a cleared cookie is no session");
    }
}
