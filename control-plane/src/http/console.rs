//! The console (`/ui/`), embedded in the binary (see `build.rs`): its files, and its page for
//! every other `/ui/…` path (the app routes itself), each with security headers — a
//! Content-Security-Policy without inline script (`'wasm-unsafe-eval'` for the engine),
//! `frame-ancestors 'none'`, `nosniff` and no referrer. `/` leads to it.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/console/files.rs"));
}

pub use embedded::BUILT;

/// The policy every console response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn file(name: &str) -> Response {
    let Some((_, mime, bytes)) = embedded::FILES.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // The page always asks for the current build; its scripts are revalidated too.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `/` → `/ui/`, and the console's files and pages: a name the build embedded (`app.js`,
/// `chunk-….js`, `engine.wasm`, …) is that file; any other path under `/ui/` is the page, which
/// routes itself.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { file("index.html") }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route("/ui/{*page}", get(|Path(page): Path<String>| async move { page_or_file(&page) }))
}

fn page_or_file(page: &str) -> Response {
    if embedded::FILES.iter().any(|(name, _, _)| *name == page) {
        file(page)
    } else if !page.contains('/') && page.contains('.') {
        // A file this build does not have (the engine when it was not built): not the page.
        StatusCode::NOT_FOUND.into_response()
    } else {
        file("index.html")
    }
}
