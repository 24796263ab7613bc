//! Request extractors whose rejections use the control plane's error shape, so bad input never
//! leaks framework text: bad syntax → 400, valid JSON of the wrong shape → 422, oversized → 413.
//!
//! They also refuse, before anything reaches the database, text PostgreSQL cannot store or that
//! no field of Vane needs: the NUL character (`\u0000`, which `text` and `jsonb` refuse) anywhere
//! in a body, a path or a query, invalid UTF-8 in a path or query, and strings longer than
//! [`MAX_STRING_BYTES`]. A refusal names the field (`rules[0].conditions[0].values[0]`).

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::IF_MATCH;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::vane::Actor;
use crate::domain::versions::{Change, Expected, Versioned};
use crate::error::{Error, FieldError};

/// Longest string accepted anywhere in a JSON body (a key in a segment list, a rule value, a
/// description, a config value …): 256 KiB. Larger texts are almost always a mistake, and a
/// config that needs more can be split or kept as JSON structure.
pub const MAX_STRING_BYTES: usize = 256 * 1024;

/// Longest a request body may take to arrive (8 MiB at a slow 300 KB/s): a client trickling a
/// body cannot hold a connection and a task forever.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(Error::BadRequest("expected a JSON body with Content-Type: application/json".into()));
        }
        let read = tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state));
        let bytes = read.await.map_err(|_| Error::Timeout(BODY_TIMEOUT.as_secs()))?.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::BadRequest(e.body_text())
            }
        })?;
        if let Some(problem) = unstorable(&bytes) {
            return Err(problem);
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => Error::invalid("", e.body_text()),
                JsonRejection::JsonSyntaxError(e) => Error::BadRequest(e.body_text()),
                other => Error::BadRequest(other.body_text()),
            }),
        }
    }
}

fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// What is wrong with a string of a body, found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    Nul,
    TooLong,
}

/// One pass over the raw bytes: does any JSON string (key or value) hold an escaped NUL or run
/// longer than [`MAX_STRING_BYTES`]? Raw control characters are a syntax error anyway, so an
/// escaped `\u0000` is the only way a NUL gets in. Cheap enough to run on every body (a 100k-key
/// segment is scanned in about a millisecond); the path is worked out only when it finds one.
fn scan(bytes: &[u8]) -> Option<Flaw> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i) != Some(&b'"') {
            i += 1;
            continue;
        }
        let start = i + 1;
        i = start;
        loop {
            match bytes.get(i) {
                None => return None, // unterminated: a syntax error, reported by the parser
                Some(b'"') => break,
                Some(b'\\') => {
                    if bytes.get(i + 1) == Some(&b'u') && bytes.get(i + 2..i + 6) == Some(b"0000") {
                        return Some(Flaw::Nul);
                    }
                    i += 2;
                }
                Some(_) => i += 1,
            }
        }
        if i - start > MAX_STRING_BYTES {
            return Some(Flaw::TooLong);
        }
        i += 1;
    }
    None
}

/// A 422 naming every string of the body that cannot be stored, or `None`.
fn unstorable(bytes: &[u8]) -> Option<Error> {
    scan(bytes)?;
    // Something is there: parse to find where (a body that does not parse is a 400, reported by
    // the caller's parse).
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let mut problems = Vec::new();
    walk(&value, &mut String::new(), &mut problems);
    (!problems.is_empty()).then_some(Error::Unprocessable(problems))
}

fn check_text(text: &str, path: &str, what: &str, problems: &mut Vec<FieldError>) {
    if text.contains('\0') {
        problems.push(FieldError::new(path, format!("{what} must not contain the NUL character (\\u0000)")));
    } else if text.len() > MAX_STRING_BYTES {
        problems.push(FieldError::new(
            path,
            format!("{what} is {} bytes long; at most {MAX_STRING_BYTES} are accepted", text.len()),
        ));
    }
}

fn walk(value: &Value, path: &mut String, problems: &mut Vec<FieldError>) {
    if problems.len() >= 20 {
        return;
    }
    match value {
        Value::String(s) => check_text(s, path, "text", problems),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, problems);
                path.truncate(len);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.escape_debug().to_string());
                check_text(key, path, "a field name", problems);
                walk(item, path, problems);
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A query-string extractor with the same error shape (400 with what to fix).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// A path-parameter extractor with the same error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

/// A query or a path that does not parse is the caller's to fix: 400 with axum's explanation.
macro_rules! bad_request_from {
    ($($rejection:ty),+) => {
        $(impl From<$rejection> for Error {
            fn from(e: $rejection) -> Self {
                Error::BadRequest(e.body_text())
            }
        })+
    };
}
bad_request_from!(QueryRejection, PathRejection);

/// Percent-decodes `text` (`+` as a space when `form`), or `None` for a malformed escape.
fn percent_decode(text: &str, form: bool) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Refuses a request whose path or query, once percent-decoded, is not UTF-8 or holds a NUL —
/// before routing, so no extractor or query ever sees it. (A malformed `%` escape is left to the
/// extractors: axum keeps it as it is.)
pub fn check_uri(uri: &axum::http::Uri) -> Result<(), Error> {
    let path = uri.path();
    if let Some(decoded) = percent_decode(path, false) {
        if std::str::from_utf8(&decoded).is_err() {
            return Err(Error::BadRequest(format!("the path {path} is not valid UTF-8 once percent-decoded")));
        }
        if decoded.contains(&0) {
            return Err(Error::BadRequest(format!("the path {path} contains the NUL character (%00)")));
        }
    }
    for pair in uri.query().unwrap_or_default().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let shown = String::from_utf8_lossy(&percent_decode(name, true).unwrap_or_default()).into_owned();
        for part in [name, value] {
            let Some(decoded) = percent_decode(part, true) else { continue };
            if std::str::from_utf8(&decoded).is_err() {
                return Err(Error::BadRequest(format!(
                    "query parameter '{}' is not valid UTF-8 once percent-decoded",
                    shown.escape_debug()
                )));
            }
            if decoded.contains(&0) {
                return Err(Error::BadRequest(format!(
                    "query parameter '{}' contains the NUL character (%00)",
                    shown.escape_debug()
                )));
            }
        }
    }
    Ok(())
}

/// The version a write expects: `If-Match` (412 when stale), else the body's `version` (409 when
/// stale), else any.
fn expected(if_match: Option<&HeaderValue>, body_version: Option<i64>) -> Result<Expected, Error> {
    if let Some(v) = if_match {
        let text = v.to_str().map_err(|_| Error::BadRequest("If-Match is not valid text".into()))?;
        let trimmed = text.trim().trim_start_matches("W/").trim_matches('"');
        let version =
            trimmed.parse().map_err(|_| Error::BadRequest(format!("If-Match must be a version number, got {text}")))?;
        return Ok(Expected::IfMatch(version));
    }
    Ok(body_version.map_or(Expected::Any, Expected::Body))
}

/// `{"version": N}`: the version a rollback restores (it becomes a new version).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    pub version: i64,
}

/// What most handlers work with: the running Vane and the authenticated caller.
impl FromRequestParts<AppState> for Actor {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Actor { vane: state.vane.clone(), caller })
    }
}

/// A write's body and the version it expects: `If-Match`, else the body's `version`.
impl<S, B> FromRequest<S> for Change<B>
where
    S: Send + Sync,
    B: DeserializeOwned + Versioned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let if_match = req.headers().get(IF_MATCH).cloned();
        let Json(body) = Json::<B>::from_request(req, state).await?;
        Ok(Change(expected(if_match.as_ref(), body.version())?, body))
    }
}

/// The version a write without a body expects: `If-Match`, else any.
#[derive(Debug)]
pub struct IfMatch(pub Expected);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(IfMatch(expected(parts.headers.get(IF_MATCH), None)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_and_long_strings_and_names_their_path() {
        assert_eq!(scan(br#"{"a":"b\\u0000"}"#), None, "an escaped backslash then u0000 is text");
        assert_eq!(scan(br#"{"a":["x","b\u0000"]}"#), Some(Flaw::Nul));
        assert_eq!(scan(br#"{"a\u0000":1}"#), Some(Flaw::Nul));
        let Some(Error::Unprocessable(p)) = unstorable(br#"{"rules":[{"conditions":[{"values":["ok","b\u0000"]}]}]}"#)
        else {
            panic!("not refused")
        };
        assert_eq!(p[0].path, "rules[0].conditions[0].values[1]");
        let Some(Error::Unprocessable(p)) = unstorable(br#"{"weights":{"o\u0000n":1}}"#) else { panic!("not refused") };
        assert_eq!(p[0].path, "weights.o\\0n");
        let long = format!(r#"{{"description":"{}"}}"#, "x".repeat(MAX_STRING_BYTES + 1));
        assert_eq!(scan(long.as_bytes()), Some(Flaw::TooLong));
        let Some(Error::Unprocessable(p)) = unstorable(long.as_bytes()) else { panic!("not refused") };
        assert_eq!(p[0].path, "description");
        let fine = format!(r#"{{"description":"{}"}}"#, "x".repeat(MAX_STRING_BYTES));
        assert!(unstorable(fine.as_bytes()).is_none());
        assert!(unstorable(b"{\"a\": \"unterminated").is_none());
    }

    #[test]
    fn uris_with_nul_or_bad_utf8_are_refused() {
        let ok: axum::http::Uri = "/api/v1/applications/shop?limit=1&tag=a%20b".parse().unwrap_or_default();
        assert!(check_uri(&ok).is_ok());
        for bad in ["/api/v1/applications/%00", "/api/v1/applications/%FF%FE", "/x?environment=%00", "/x?e=%C3"] {
            let uri: axum::http::Uri = bad.parse().unwrap_or_default();
            assert!(matches!(check_uri(&uri), Err(Error::BadRequest(_))), "{bad}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        name: String,
        version: Option<i64>,
    }
    crate::domain::versions::versioned!(Body);

    fn request(if_match: Option<&str>, body: &str) -> Request {
        let mut builder =
            axum::http::Request::builder().method("PUT").uri("/x").header("content-type", "application/json");
        if let Some(v) = if_match {
            builder = builder.header(IF_MATCH, v);
        }
        builder.body(axum::body::Body::from(body.to_owned())).unwrap_or_default()
    }

    async fn change(if_match: Option<&str>, body: &str) -> Result<(Expected, String), Error> {
        let Change(expected, b) = Change::<Body>::from_request(request(if_match, body), &()).await?;
        Ok((expected, b.name))
    }

    #[tokio::test]
    async fn a_change_expects_if_match_else_its_body_version_else_any() {
        let any = change(None, r#"{"name":"a"}"#).await.ok();
        assert_eq!(any, Some((Expected::Any, "a".to_owned())));
        let body = change(None, r#"{"name":"a","version":3}"#).await.ok();
        assert_eq!(body.map(|c| c.0), Some(Expected::Body(3)));
        // If-Match wins over the body, weak or quoted alike.
        for header in ["4", "\"4\"", "W/\"4\""] {
            let both = change(Some(header), r#"{"name":"a","version":3}"#).await.ok();
            assert_eq!(both.map(|c| c.0), Some(Expected::IfMatch(4)), "{header}");
        }
        assert!(matches!(change(Some("four"), r#"{"name":"a"}"#).await, Err(Error::BadRequest(_))));
        // The body is read (and refused) before the header is looked at.
        assert!(matches!(change(Some("four"), r#"{"name":1}"#).await, Err(Error::Unprocessable(_))));
    }

    #[tokio::test]
    async fn a_delete_expects_if_match_else_any() {
        let (mut parts, _) = request(Some("7"), "").into_parts();
        assert!(matches!(IfMatch::from_request_parts(&mut parts, &()).await, Ok(IfMatch(Expected::IfMatch(7)))));
        let (mut parts, _) = request(None, "").into_parts();
        assert!(matches!(IfMatch::from_request_parts(&mut parts, &()).await, Ok(IfMatch(Expected::Any))));
    }
}
