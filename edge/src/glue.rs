//! The Cloudflare Workers binding (wasm32 only): requests in, the host-independent modules,
//! responses out; plus the snapshot lifecycle's IO (control-plane fetches, KV, cron).
//!
//! Each isolate keeps, per stream (application, environment, audience), the compiled snapshot it
//! serves. A stream is loaded on first use: from the control plane, or — when the control plane
//! cannot be reached — from the last known good copy in KV. Afterwards requests never wait for
//! the control plane:
//! * a long-poll (`?wait=`, `VANE_WATCH_S`) held in the background brings a new version as soon
//!   as it commits;
//! * a plain conditional GET (`If-None-Match`) whenever the snapshot was last confirmed more than
//!   `VANE_REFRESH_MS` ago, and on every cron tick, confirms it (its age restarts) or replaces it.
//!
//! A fetched snapshot replaces the current one only as [`crate::lifecycle::judge`] says. Wasm is
//! single-threaded, but requests interleave at every `.await`: no `RefCell` borrow is held across
//! one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{Either, select};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vane_core::{Audience, CompiledSnapshot};
use worker::{
    AbortController, Context, Date, Delay, Env, Fetch, Headers, Request, RequestInit, Response, ScheduleContext,
    ScheduledEvent, event,
};

use crate::auth::{authorise, request_key};
use crate::lifecycle::{Freshness, StreamId, Verdict, age_s, bare_etag, freshness, judge};
use crate::ratelimit::Limiter;
use crate::reply::Reply;
use crate::router::{self, Answering, Defaults, Route, Selectors};
use crate::streams;

/// Longest a control-plane fetch may take on a request's path (cold start, fail-closed retry).
const FETCH_TIMEOUT_MS: u64 = 2_000;
/// Longest one background long-poll task runs (Workers end `waitUntil` work after ~30 s).
const WATCH_BUDGET_MS: i64 = 25_000;
/// Wait after a failed long-poll before holding another.
const WATCH_RETRY_MS: i64 = 1_000;
const KV_BINDING: &str = "VANE_KV";

fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

/// The worker's settings (`[vars]` in wrangler.toml, secrets, or Miniflare bindings).
#[derive(Clone)]
struct Settings {
    control_plane: String,
    edge_key: String,
    defaults: Defaults,
    refresh_ms: i64,
    watch_s: u64,
    rate_limit_rps: u32,
}

fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
        .filter(|v| !v.is_empty())
}

impl Settings {
    fn from(env: &Env) -> Settings {
        let number = |name: &str, default: u64| text(env, name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Settings {
            control_plane: text(env, "VANE_CONTROL_PLANE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            edge_key: text(env, "VANE_EDGE_KEY").unwrap_or_default(),
            defaults: Defaults {
                application: text(env, "VANE_DEFAULT_APPLICATION").unwrap_or_else(|| "demo".to_owned()),
                environment: text(env, "VANE_DEFAULT_ENVIRONMENT").unwrap_or_else(|| "production".to_owned()),
            },
            refresh_ms: i64::try_from(number("VANE_REFRESH_MS", 1_000)).unwrap_or(1_000),
            watch_s: number("VANE_WATCH_S", 20).min(60),
            rate_limit_rps: u32::try_from(number("VANE_RATE_LIMIT_RPS", 0)).unwrap_or(0),
        }
    }
}

type StreamKey = (String, String, Audience);

fn audience_str(a: Audience) -> &'static str {
    match a {
        Audience::Server => "server",
        Audience::Client => "client",
    }
}

/// A snapshot being served.
struct Current {
    compiled: CompiledSnapshot,
    /// Context-independent parts of bulk answers, serialised once.
    fragments: crate::ofrep::Fragments,
    body: String,
    /// Bare SHA-256 hex of `body`.
    etag: String,
    /// When the control plane last said this is the latest version (ms since the epoch).
    confirmed_at: Cell<i64>,
}

/// One stream in this isolate.
#[derive(Default)]
struct Slot {
    current: RefCell<Option<Rc<Current>>>,
    /// When a request last used it (streams are let go least recently used first).
    last_used: Cell<i64>,
    refreshing: Cell<bool>,
    watching: Cell<bool>,
    /// When the last conditional GET started (so an unreachable control plane is asked at most
    /// once per `VANE_REFRESH_MS`, not once per request).
    attempted_at: Cell<i64>,
    /// When the last long-poll failed (it is restarted no sooner than a second later).
    watch_failed_at: Cell<i64>,
    last_error: RefCell<Option<String>>,
}

impl Slot {
    fn current(&self) -> Option<Rc<Current>> {
        self.current.borrow().clone()
    }

    /// Estimated memory (see [`streams::footprint`]).
    fn bytes(&self) -> usize {
        streams::footprint(self.current.borrow().as_ref().map_or(0, |c| c.body.len()))
    }

    /// Records how the last refresh went; logs an error when it differs from the previous one.
    fn note(&self, error: Option<String>) {
        let mut last = self.last_error.borrow_mut();
        if let Some(e) = &error
            && last.as_ref() != Some(e)
        {
            worker::console_error!("vane-edge: {e}");
        }
        *last = error;
    }
}

thread_local! {
    static SLOTS: RefCell<HashMap<StreamKey, Rc<Slot>>> = RefCell::new(HashMap::new());
    static LIMITER: RefCell<Option<Limiter>> = const { RefCell::new(None) };
    /// Bindings are fixed for an isolate's life: read them once (each lookup is a JS call, and a
    /// missing one throws).
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

fn settings(env: &Env) -> Rc<Settings> {
    SETTINGS.with(|s| s.borrow_mut().get_or_insert_with(|| Rc::new(Settings::from(env))).clone())
}

/// The slot of `key`, made (and room made for it) on first use; marked used now when a request
/// needs it (`used`; the cron's refreshes do not count, or no stream would ever be idle).
fn slot(key: &StreamKey, used: bool) -> Rc<Slot> {
    let now = now_ms();
    let found = SLOTS.with(|s| s.borrow().get(key).cloned());
    let slot = match found {
        Some(slot) => slot,
        None => {
            make_room(None, streams::footprint(0), now);
            let new = Rc::new(Slot::default());
            SLOTS.with(|s| s.borrow_mut().insert(key.clone(), new.clone()));
            new
        }
    };
    if used || slot.last_used.get() == 0 {
        slot.last_used.set(now);
    }
    slot
}

/// Lets go of streams (idle ones, then the least recently used) until those left, plus
/// `incoming` bytes for `growing` (a held stream about to grow) or a new stream, fit the budget.
fn make_room(growing: Option<&StreamKey>, incoming: usize, now: i64) {
    SLOTS.with(|s| {
        let mut slots = s.borrow_mut();
        let held: Vec<streams::Held<StreamKey>> = slots
            .iter()
            .filter(|(k, _)| Some(*k) != growing)
            .map(|(k, slot)| streams::Held { key: k.clone(), last_used_ms: slot.last_used.get(), bytes: slot.bytes() })
            .collect();
        for key in streams::to_release(&held, Some(incoming), now, &streams::WORKER_BUDGET) {
            slots.remove(&key);
        }
    });
}

/// Whether `slot` is still the one held for `key` (background work for a stream let go stops).
fn is_held(key: &StreamKey, slot: &Rc<Slot>) -> bool {
    SLOTS.with(|s| s.borrow().get(key).is_some_and(|held| Rc::ptr_eq(held, slot)))
}

/// Lets go of both audiences of a stream the control plane no longer has.
fn release_deleted(key: &StreamKey) {
    SLOTS.with(|s| s.borrow_mut().retain(|k, _| !(k.0 == key.0 && k.1 == key.1)));
}

/// What the control plane answered.
enum Upstream {
    NotModified,
    Body {
        body: String,
        etag: String,
    },
    /// 404: no such application/environment.
    Missing,
}

/// `GET /api/v1/snapshots/{app}/{env}?audience=…[&wait=N]` with `If-None-Match`.
async fn fetch_upstream(
    settings: &Settings,
    key: &StreamKey,
    etag: Option<&str>,
    wait_s: u64,
    timeout_ms: u64,
) -> Result<Upstream, String> {
    let mut url =
        format!("{}/api/v1/snapshots/{}/{}?audience={}", settings.control_plane, key.0, key.1, audience_str(key.2));
    if wait_s > 0 && etag.is_some() {
        url.push_str(&format!("&wait={wait_s}"));
    }
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| format!("header {k}: {e}"));
    set("Authorization", &format!("Bearer {}", settings.edge_key))?;
    if let Some(tag) = etag {
        set("If-None-Match", &format!("\"{tag}\""))?;
    }
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let request = Request::new_with_init(&url, &init).map_err(|e| format!("request to {url}: {e}"))?;
    let abort = AbortController::default();
    let signal = abort.signal();
    let send = Fetch::Request(request);
    let outcome = {
        let fetch = std::pin::pin!(send.send_with_signal(&signal));
        let timeout = std::pin::pin!(Delay::from(Duration::from_millis(timeout_ms)));
        match select(fetch, timeout).await {
            Either::Left((result, _)) => Some(result),
            Either::Right(((), _)) => None,
        }
    };
    let mut response = match outcome {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(format!("control plane unreachable at {}: {e}", settings.control_plane)),
        None => {
            abort.abort();
            return Err(format!("control plane at {} did not answer within {timeout_ms} ms", settings.control_plane));
        }
    };
    match response.status_code() {
        304 => Ok(Upstream::NotModified),
        200 => {
            let tag = response.headers().get("ETag").ok().flatten().unwrap_or_default();
            let body = response.text().await.map_err(|e| format!("reading the snapshot: {e}"))?;
            Ok(Upstream::Body { body, etag: bare_etag(&tag).to_owned() })
        }
        404 => Ok(Upstream::Missing),
        status @ (401 | 403) => Err(format!("the control plane refused the edge key ({status}): check VANE_EDGE_KEY")),
        status => Err(format!("the control plane answered {status}")),
    }
}

/// Applies an upstream answer to `slot`. `Ok(Some(new))` when the stream changed.
fn apply(slot: &Slot, key: &StreamKey, upstream: Upstream, now: i64) -> Result<Option<Rc<Current>>, String> {
    let current = slot.current();
    match upstream {
        Upstream::NotModified => match current {
            Some(c) => {
                c.confirmed_at.set(now);
                Ok(None)
            }
            None => Err("the control plane answered 304 to a request without a snapshot".to_owned()),
        },
        Upstream::Missing => {
            // Deleted: stop serving it, and let go of both audiences (the next request finds out
            // and answers 404).
            *slot.current.borrow_mut() = None;
            release_deleted(key);
            Err(format!("the control plane has no stream {}/{}", key.0, key.1))
        }
        Upstream::Body { body, etag } => {
            let id = StreamId { application: key.0.clone(), environment: key.1.clone(), audience: key.2 };
            let have = current.as_ref().map(|c| (c.compiled.version(), c.etag.as_str()));
            match judge(&id, have, &body, &etag) {
                Verdict::Confirm => {
                    if let Some(c) = current {
                        c.confirmed_at.set(now);
                    }
                    Ok(None)
                }
                Verdict::Accept(compiled) => {
                    make_room(Some(key), streams::footprint(body.len()), now);
                    let fragments = crate::ofrep::Fragments::new(&compiled);
                    let new =
                        Rc::new(Current { compiled: *compiled, fragments, body, etag, confirmed_at: Cell::new(now) });
                    *slot.current.borrow_mut() = Some(new.clone());
                    Ok(Some(new))
                }
                Verdict::Reject(why) => Err(format!("rejected a snapshot of {}/{}: {why}", key.0, key.1)),
            }
        }
    }
}

/// KV copy of a stream: the stored body, with this as metadata.
#[derive(Serialize, Deserialize)]
struct KvMeta {
    version: u64,
    etag: String,
    confirmed_at_ms: i64,
}

fn kv_key(key: &StreamKey) -> String {
    format!("snap:{}:{}:{}", key.0, key.1, audience_str(key.2))
}

fn parse_kv_key(name: &str) -> Option<StreamKey> {
    let mut parts = name.strip_prefix("snap:")?.split(':');
    let (app, env, aud) = (parts.next()?, parts.next()?, parts.next()?);
    let audience = match aud {
        "server" => Audience::Server,
        "client" => Audience::Client,
        _ => return None,
    };
    Some((app.to_owned(), env.to_owned(), audience))
}

async fn kv_save(env: &Env, key: &StreamKey, current: &Current) {
    let meta = KvMeta {
        version: current.compiled.version(),
        etag: current.etag.clone(),
        confirmed_at_ms: current.confirmed_at.get(),
    };
    // Without a VANE_KV binding there is no last known good copy (and nothing to log).
    let Ok(kv) = env.kv(KV_BINDING) else { return };
    let result = match kv.put(&kv_key(key), current.body.as_str()).and_then(|p| p.metadata(meta)) {
        Ok(put) => put.execute().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        worker::console_error!("vane-edge: saving {} to KV: {e}", kv_key(key));
    }
}

async fn kv_load(env: &Env, key: &StreamKey) -> Option<(String, KvMeta)> {
    let kv = env.kv(KV_BINDING).ok()?;
    match kv.get(&kv_key(key)).text_with_metadata::<KvMeta>().await {
        Ok((Some(body), Some(meta))) => Some((body, meta)),
        Ok(_) => None,
        Err(e) => {
            worker::console_error!("vane-edge: reading {} from KV: {e}", kv_key(key));
            None
        }
    }
}

/// Why a stream cannot answer.
enum Unavailable {
    /// The control plane says it does not exist.
    Missing(String),
    /// Neither the control plane nor KV has a usable copy.
    Down(String),
}

/// The current snapshot of `key`, loading it on first use (control plane, else KV).
async fn load(
    settings: &Settings,
    env: &Env,
    key: &StreamKey,
    used: bool,
) -> Result<(Rc<Slot>, Rc<Current>), Unavailable> {
    let slot = slot(key, used);
    if let Some(current) = slot.current() {
        return Ok((slot, current));
    }
    // Cold: the last known good copy first, so the control plane can answer 304 and an older
    // version from it is refused.
    let saved = kv_load(env, key).await;
    if let Some((body, meta)) = saved
        && slot.current().is_none()
    {
        let id = StreamId { application: key.0.clone(), environment: key.1.clone(), audience: key.2 };
        match judge(&id, None, &body, &meta.etag) {
            Verdict::Accept(compiled) => {
                let c = Current {
                    fragments: crate::ofrep::Fragments::new(&compiled),
                    compiled: *compiled,
                    body,
                    etag: meta.etag,
                    confirmed_at: Cell::new(meta.confirmed_at_ms),
                };
                *slot.current.borrow_mut() = Some(Rc::new(c));
            }
            Verdict::Confirm | Verdict::Reject(_) => {
                slot.note(Some(format!("the KV copy of {} is unusable", kv_key(key))))
            }
        }
    }
    let etag = slot.current().map(|c| c.etag.clone());
    let fetched = fetch_upstream(settings, key, etag.as_deref(), 0, FETCH_TIMEOUT_MS).await;
    let outcome = fetched.and_then(|u| {
        if matches!(u, Upstream::Missing) {
            *slot.current.borrow_mut() = None;
        }
        apply(&slot, key, u, now_ms())
    });
    match outcome {
        Ok(Some(new)) => {
            slot.note(None);
            kv_save(env, key, &new).await;
        }
        Ok(None) => slot.note(None),
        Err(e) => slot.note(Some(e)),
    }
    match slot.current() {
        Some(current) => Ok((slot, current)),
        None => {
            let why = slot.last_error.borrow().clone().unwrap_or_else(|| "no snapshot".to_owned());
            SLOTS.with(|s| s.borrow_mut().remove(key));
            if why.contains("has no stream") { Err(Unavailable::Missing(why)) } else { Err(Unavailable::Down(why)) }
        }
    }
}

/// How a refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// A new version was accepted (and saved to KV).
    Replaced,
    /// The control plane confirmed the current one.
    Confirmed,
    /// Unreachable, refused, or rejected (see the slot's `last_error`).
    Failed,
}

/// Resets a flag when dropped, so a cancelled background task does not leave it set.
struct Reset<'a>(&'a Cell<bool>);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// One conditional GET; replaces or confirms the snapshot, saves a new version to KV.
async fn refresh(settings: &Settings, env: &Env, key: &StreamKey, slot: &Slot, wait_s: u64) -> Refresh {
    if wait_s == 0 {
        slot.attempted_at.set(now_ms());
    }
    let etag = slot.current().map(|c| c.etag.clone());
    let timeout = if wait_s > 0 { wait_s * 1000 + FETCH_TIMEOUT_MS } else { FETCH_TIMEOUT_MS };
    let outcome = fetch_upstream(settings, key, etag.as_deref(), wait_s, timeout).await;
    match outcome.and_then(|u| apply(slot, key, u, now_ms())) {
        Ok(Some(new)) => {
            slot.note(None);
            kv_save(env, key, &new).await;
            Refresh::Replaced
        }
        Ok(None) => {
            slot.note(None);
            Refresh::Confirmed
        }
        Err(e) => {
            slot.note(Some(e));
            Refresh::Failed
        }
    }
}

/// The stream `key`, loaded, given one synchronous refresh attempt when its environment is
/// `fail_closed` and the snapshot is too old (at most one per refresh interval), and with its
/// background refreshes started.
async fn ready(
    settings: &Settings,
    env: &Env,
    ctx: &Context,
    key: &StreamKey,
) -> Result<(Rc<Slot>, Rc<Current>), Unavailable> {
    let (slot, mut current) = load(settings, env, key, true).await?;
    if freshness(&current.compiled, current.confirmed_at.get(), now_ms()) == Freshness::Closed
        && now_ms() - slot.attempted_at.get() >= settings.refresh_ms
    {
        refresh(settings, env, key, &slot, 0).await;
        current = slot.current().unwrap_or(current);
    }
    keep_fresh(settings, env, ctx, key, &slot, &current);
    Ok((slot, current))
}

/// Starts the background work a request may owe its stream: a refresh when the snapshot was last
/// confirmed `refresh_ms` ago, and the long-poll when none is held.
fn keep_fresh(settings: &Settings, env: &Env, ctx: &Context, key: &StreamKey, slot: &Rc<Slot>, current: &Current) {
    let now = now_ms();
    if now - current.confirmed_at.get() >= settings.refresh_ms
        && now - slot.attempted_at.get() >= settings.refresh_ms
        && !slot.refreshing.replace(true)
    {
        // Counted from now: the request may go on to a synchronous attempt before this runs.
        slot.attempted_at.set(now);
        let (settings, env, key, slot) = (settings.clone(), env.clone(), key.clone(), slot.clone());
        ctx.wait_until(async move {
            let _reset = Reset(&slot.refreshing);
            refresh(&settings, &env, &key, &slot, 0).await;
        });
    }
    if settings.watch_s > 0 && now - slot.watch_failed_at.get() >= WATCH_RETRY_MS && !slot.watching.replace(true) {
        let (settings, env, key, slot) = (settings.clone(), env.clone(), key.clone(), slot.clone());
        ctx.wait_until(async move {
            let _reset = Reset(&slot.watching);
            let started = now_ms();
            loop {
                let left_s = u64::try_from((WATCH_BUDGET_MS - (now_ms() - started)) / 1000).unwrap_or(0);
                if left_s == 0 || !is_held(&key, &slot) {
                    break;
                }
                if refresh(&settings, &env, &key, &slot, settings.watch_s.min(left_s)).await == Refresh::Failed {
                    slot.watch_failed_at.set(now_ms());
                    break;
                }
            }
        });
    }
}

fn respond(reply: Reply) -> worker::Result<Response> {
    let headers = Headers::new();
    for (k, v) in &reply.headers {
        headers.set(k, v)?;
    }
    let response = if reply.body.is_empty() && matches!(reply.status, 204 | 304) {
        Response::empty()?
    } else {
        Response::from_bytes(reply.body)?
    };
    Ok(response.with_status(reply.status).with_headers(headers))
}

fn health() -> Reply {
    let now = now_ms();
    let mut streams: Vec<serde_json::Value> = SLOTS.with(|s| {
        s.borrow()
            .iter()
            .map(|(key, slot)| {
                let current = slot.current();
                json!({
                    "application": key.0, "environment": key.1, "audience": audience_str(key.2),
                    "version": current.as_ref().map(|c| c.compiled.version()),
                    "age_s": current.as_ref().map(|c| age_s(c.confirmed_at.get(), now)),
                    "last_error": slot.last_error.borrow().clone(),
                })
            })
            .collect()
    });
    streams.sort_by_key(ToString::to_string);
    Reply::value(200, &json!({"status": "ok", "streams": streams}))
}

/// Version and age headers of the default stream (server audience) for answers that did not
/// come from a snapshot; version 0 and no age before it is loaded.
fn finish_default(reply: Reply, settings: &Settings) -> Reply {
    let key: StreamKey =
        (settings.defaults.application.clone(), settings.defaults.environment.clone(), Audience::Server);
    let current = SLOTS.with(|s| s.borrow().get(&key).and_then(|slot| slot.current()));
    match current {
        Some(c) => {
            let age = age_s(c.confirmed_at.get(), now_ms());
            reply.finish(c.compiled.version(), Some(age))
        }
        None => reply.finish(0, None),
    }
}

fn unavailable(route: &Route<'_>, why: Unavailable) -> Reply {
    match why {
        Unavailable::Missing(m) => router::error(route, 404, "not_found", m),
        Unavailable::Down(m) => router::error(route, 503, "unavailable", m).with("Retry-After", "1"),
    }
}

/// Largest body read at all (bigger ones are refused from their `Content-Length`).
const READ_LIMIT: usize = 16 << 20;

/// The request body, read chunk by chunk and cut off just past [`crate::ofrep::MAX_BODY`]: a body
/// without `Content-Length` (chunked) is never held whole when it is too large to be accepted.
async fn read_body(req: &mut Request) -> worker::Result<Vec<u8>> {
    use futures_util::StreamExt;
    let mut stream = match req.stream() {
        Ok(s) => s,
        Err(_) => return Ok(Vec::new()), // no body
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > crate::ofrep::MAX_BODY {
            break;
        }
    }
    Ok(body)
}

async fn handle(mut req: Request, env: &Env, ctx: &Context) -> worker::Result<Reply> {
    let settings = settings(env);
    let url = req.url()?;
    let raw_path = url.path().to_owned();
    let path = router::normalise_path(&raw_path).unwrap_or(raw_path);
    let query = url.query().unwrap_or("").to_owned();
    let method = req.method().to_string();
    let route = router::route(&method, &path);
    match route {
        Route::Preflight => return Ok(finish_default(Reply::empty(204), &settings)),
        Route::Health => return Ok(finish_default(health(), &settings)),
        Route::NotFound { .. } | Route::MethodNotAllowed { .. } => {
            let reply = router::without_snapshot(&route).unwrap_or_else(|| Reply::empty(404));
            return Ok(finish_default(reply, &settings));
        }
        _ => {}
    }
    let headers = req.headers().clone();
    let header = |name: &str| headers.get(name).ok().flatten();
    let declared = header("Content-Length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
    let body = if method == "POST" && declared <= READ_LIMIT { read_body(&mut req).await? } else { Vec::new() };
    if declared > crate::ofrep::MAX_BODY || body.len() > crate::ofrep::MAX_BODY {
        let size = declared.max(body.len());
        let reply = if route.is_ofrep() {
            let bad = crate::ofrep::BadRequest {
                code: vane_core::ErrorCode::ParseError,
                details: format!("request body is {size} bytes; at most {} are accepted", crate::ofrep::MAX_BODY),
            };
            crate::ofrep::bad_request(if let Route::OfrepSingle(k) = route { Some(k) } else { None }, &bad)
        } else {
            router::error(&route, 413, "payload_too_large", format!("request body is {size} bytes; at most 65536"))
        };
        return Ok(finish_default(reply, &settings));
    }
    let (app_header, env_header) = (header("X-Vane-Application"), header("X-Vane-Environment"));
    let selectors = Selectors {
        application: app_header.as_deref(),
        environment: env_header.as_deref(),
        query: &query,
        body: &body,
    };
    let (app, environment) = match router::target(&route, &selectors, &settings.defaults) {
        Ok(t) => t,
        Err(reply) => return Ok(finish_default(reply, &settings)),
    };
    let server_key: StreamKey = (app, environment, Audience::Server);
    let (server_slot, server) = match ready(&settings, env, ctx, &server_key).await {
        Ok(s) => s,
        Err(why) => return Ok(finish_default(unavailable(&route, why), &settings)),
    };
    let (authorization, x_api_key) = (header("Authorization"), header("X-API-Key"));
    let api_key = request_key(authorization.as_deref(), x_api_key.as_deref());
    let access = match authorise(&server.compiled, api_key) {
        Ok(a) => a,
        Err(refusal) => return Ok(router::refused(&route, refusal).finish(server.compiled.version(), None)),
    };
    let now = now_ms();
    if settings.rate_limit_rps > 0 {
        let limited = LIMITER.with(|l| {
            let mut l = l.borrow_mut();
            let limiter = l.get_or_insert_with(|| Limiter::new(settings.rate_limit_rps));
            limiter.take(api_key.unwrap_or_default(), now)
        });
        if let Err(wait_s) = limited {
            let reply = router::error(&route, 429, "rate_limited", "too many requests for this key")
                .with("Retry-After", wait_s.to_string());
            return Ok(reply.finish(server.compiled.version(), None));
        }
    }
    let audience = match router::audience(&route, access, &query) {
        Ok(a) => a,
        Err(reply) => return Ok(reply.finish(server.compiled.version(), None)),
    };
    let current = if audience == Audience::Server {
        drop(server_slot);
        server
    } else {
        let key: StreamKey = (server_key.0.clone(), server_key.1.clone(), Audience::Client);
        match ready(&settings, env, ctx, &key).await {
            Ok((_, current)) => current,
            Err(why) => return Ok(unavailable(&route, why).finish(server.compiled.version(), None)),
        }
    };
    let now = now_ms();
    if freshness(&current.compiled, current.confirmed_at.get(), now) == Freshness::Closed {
        let age = age_s(current.confirmed_at.get(), now);
        let reply = router::closed(&route, age, current.compiled.settings().max_staleness_s);
        return Ok(reply.finish(current.compiled.version(), Some(age)));
    }
    let if_none_match = header("If-None-Match");
    let answering = Answering {
        snapshot: &current.compiled,
        fragments: Some(&current.fragments),
        stored: &current.body,
        etag: &current.etag,
    };
    let reply = router::answer(&route, &answering, &body, if_none_match.as_deref(), now_ms());
    Ok(reply.finish(current.compiled.version(), Some(age_s(current.confirmed_at.get(), now_ms()))))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let ofrep = req.path().starts_with("/ofrep");
    let reply = match handle(req, &env, &ctx).await {
        Ok(reply) => reply,
        Err(e) => {
            worker::console_error!("vane-edge: {e}");
            // In the shape of the path's answers, like every other error.
            let route = if ofrep { Route::NotFound { ofrep: true } } else { Route::NotFound { ofrep: false } };
            router::error(&route, 500, "internal", format!("edge error: {e}")).finish(0, None)
        }
    };
    respond(reply)
}

/// Cron: refresh every stream this isolate holds (or, on a fresh isolate, every stream saved in
/// KV), and save each to KV with its confirmation time, so a cold start knows its true age.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let settings = settings(&env);
    let mut keys: Vec<StreamKey> = SLOTS.with(|s| s.borrow().keys().cloned().collect());
    if keys.is_empty()
        && let Ok(kv) = env.kv(KV_BINDING)
        && let Ok(list) = kv.list().prefix("snap:".to_owned()).execute().await
    {
        keys = list.keys.iter().filter_map(|k| parse_kv_key(&k.name)).collect();
    }
    for key in keys {
        match load(&settings, &env, &key, false).await {
            Ok((slot, current)) => {
                drop(current);
                // A replaced snapshot was just saved; a confirmed one is saved with its new
                // confirmation time (KV takes about one write per second per key).
                if refresh(&settings, &env, &key, &slot, 0).await == Refresh::Confirmed
                    && let Some(c) = slot.current()
                {
                    kv_save(&env, &key, &c).await;
                }
            }
            Err(_) => worker::console_error!("vane-edge: cron could not load {}", kv_key(&key)),
        }
    }
}
