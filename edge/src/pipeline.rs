//! One request, from method and path to the reply, for every host: route, body limit, stream,
//! key, rate limit, audience, staleness, answer. The host supplies the request's headers and
//! body ([`Incoming`]) and the streams ([`Host`]), and turns the [`Answer`] into a response.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use vane_core::Audience;

use crate::auth::{authorise, request_key};
use crate::cache::{Host, Served, Unavailable, ready};
use crate::lifecycle::{Freshness, StreamId, age_s, freshness};
use crate::reply::Reply;
use crate::router::{self, Answering, Route, Selectors};

/// Largest body read at all (bigger ones are refused from their `Content-Length`).
pub const READ_LIMIT: usize = 16 << 20;

/// A request as the pipeline reads it.
pub trait Incoming {
    /// A header's value (the first, if repeated).
    fn header(&self, name: &str) -> Option<Cow<'_, str>>;
    /// The body, read chunk by chunk and cut off just past [`crate::ofrep::MAX_BODY`]: a body
    /// without `Content-Length` (chunked) is never held whole when it is too large to be
    /// accepted.
    fn read_body(&mut self) -> impl Future<Output = Result<Vec<u8>, String>>;
}

/// What the host sends.
#[derive(Debug)]
pub enum Answer {
    Reply(Reply),
    /// An authorised `GET …/events`: the host streams `key`'s versions (Server-Sent Events),
    /// starting with `served`; `headers` are the CORS and snapshot headers to send with it.
    Push {
        key: StreamId,
        served: Arc<Served>,
        headers: Reply,
    },
}

fn unavailable(route: &Route<'_>, why: Unavailable) -> Reply {
    match why {
        Unavailable::Missing(m) => router::error(route, 404, "not_found", m),
        Unavailable::Down(m) => router::error(route, 503, "unavailable", m).with("Retry-After", "1"),
    }
}

/// Answers `method path?query`.
pub async fn handle<H: Host>(host: &H, method: &str, path: &str, query: &str, req: &mut impl Incoming) -> Answer {
    let settings = host.settings();
    let finish_default =
        |reply: Reply| Answer::Reply(host.streams().finish_default(reply, &settings.defaults, host.now_ms()));
    let normalised = router::normalise_path(path);
    let route = router::route(method, normalised.as_deref().unwrap_or(path));
    match route {
        Route::Preflight => return finish_default(Reply::empty(204)),
        Route::Health => return finish_default(host.streams().health(host.now_ms())),
        Route::NotFound { .. } | Route::MethodNotAllowed { .. } => {
            let reply = router::without_snapshot(&route).unwrap_or_else(|| Reply::empty(404));
            return finish_default(reply);
        }
        _ => {}
    }
    let declared = req.header("Content-Length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
    let body = if method == "POST" && declared <= READ_LIMIT {
        match req.read_body().await {
            Ok(b) => b,
            Err(e) => {
                return finish_default(router::error(&route, 400, "bad_request", format!("reading the body: {e}")));
            }
        }
    } else {
        Vec::new()
    };
    if declared > crate::ofrep::MAX_BODY || body.len() > crate::ofrep::MAX_BODY {
        let size = declared.max(body.len());
        let reply = if route.is_ofrep() {
            let bad = crate::ofrep::BadRequest {
                code: vane_core::ErrorCode::ParseError,
                details: format!("request body is {size} bytes; at most {} are accepted", crate::ofrep::MAX_BODY),
            };
            crate::ofrep::bad_request(if let Route::OfrepSingle(k) = route { Some(k) } else { None }, &bad)
        } else {
            router::error(
                &route,
                413,
                "payload_too_large",
                format!("request body is {size} bytes; at most {}", crate::ofrep::MAX_BODY),
            )
        };
        return finish_default(reply);
    }
    let (app_header, env_header) = (req.header("X-Vane-Application"), req.header("X-Vane-Environment"));
    let selectors =
        Selectors { application: app_header.as_deref(), environment: env_header.as_deref(), query, body: &body };
    let (application, environment) = match router::target(&route, &selectors, &settings.defaults) {
        Ok(t) => t,
        Err(reply) => return finish_default(reply),
    };
    let server_key = StreamId { application, environment, audience: Audience::Server };
    let server = match ready(host, &server_key).await {
        Ok((_, served)) => served,
        Err(why) => return finish_default(unavailable(&route, why)),
    };
    let (authorization, x_api_key) = (req.header("Authorization"), req.header("X-API-Key"));
    let api_key = request_key(authorization.as_deref(), x_api_key.as_deref());
    let refuse = |reply: Reply| Answer::Reply(reply.finish(server.version(), None));
    let access = match authorise(&server.compiled, api_key) {
        Ok(a) => a,
        Err(refusal) => return refuse(router::refused(&route, refusal)),
    };
    if settings.rate_limit_rps > 0
        && let Err(wait_s) = host.rate_limit(api_key.unwrap_or_default(), host.now_ms())
    {
        let reply = router::error(&route, 429, "rate_limited", "too many requests for this key")
            .with("Retry-After", wait_s.to_string());
        return refuse(reply);
    }
    let audience = match router::audience(&route, access, query) {
        Ok(a) => a,
        Err(reply) => return refuse(reply),
    };
    let (current, key) = if audience == Audience::Server {
        (server, server_key)
    } else {
        let key = StreamId { audience: Audience::Client, ..server_key };
        match ready(host, &key).await {
            Ok((_, current)) => (current, key),
            Err(why) => return refuse(unavailable(&route, why)),
        }
    };
    let now = host.now_ms();
    let age = age_s(current.confirmed_at(), now);
    if freshness(&current.compiled, current.confirmed_at(), now) == Freshness::Closed {
        let reply = router::closed(&route, age, current.compiled.settings().max_staleness_s);
        return Answer::Reply(reply.finish(current.version(), Some(age)));
    }
    if matches!(route, Route::SnapshotEvents { .. }) {
        let headers = Reply::empty(200).finish(current.version(), Some(age));
        return Answer::Push { key, served: current, headers };
    }
    let if_none_match = req.header("If-None-Match");
    let answering = Answering {
        snapshot: &current.compiled,
        fragments: Some(&current.fragments),
        stored: &current.body,
        etag: &current.etag,
    };
    let reply = router::answer(&route, &answering, &body, if_none_match.as_deref(), now);
    Answer::Reply(reply.finish(current.version(), Some(age)))
}
