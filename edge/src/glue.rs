//! The Cloudflare Workers binding (wasm32 only): requests in, [`crate::pipeline`] over
//! [`crate::cache`], responses out; the control-plane fetches, KV and the cron.
//!
//! Each isolate keeps its streams in memory. Afterwards requests never wait for the control
//! plane:
//! * a long-poll (`?wait=`, `VANE_WATCH_S`) held in the background (`waitUntil`) brings a new
//!   version as soon as it commits; one task runs at most 25 s (Workers end `waitUntil` work after
//!   ~30 s), and the next request starts another;
//! * a plain conditional GET whenever the snapshot was last confirmed more than `VANE_REFRESH_MS`
//!   ago, and on every cron tick, confirms it (its age restarts) or replaces it.
//!
//! Wasm is single-threaded, but requests interleave at every `.await`; the cache's locks are never
//! held across one.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use worker::{
    AbortController, Context, Date, Delay, Env, Fetch, Headers, Request, RequestInit, ScheduleContext, ScheduledEvent,
    event, web_sys,
};

use crate::cache::{self, Host, Refresh, SavedMeta, Served, Settings, Slot, Streams, Upstream, Work};
use crate::lifecycle::{StreamId, bare_etag};
use crate::pipeline::{self, Answer, Incoming};
use crate::ratelimit::Limiter;
use crate::reply::Reply;
use crate::router;
use crate::streams;

/// Longest one background long-poll task runs (Workers end `waitUntil` work after ~30 s).
const WATCH_BUDGET_MS: i64 = 25_000;
const KV_BINDING: &str = "VANE_KV";

fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name).map(|v| v.to_string()).or_else(|_| env.secret(name).map(|v| v.to_string())).ok()
}

thread_local! {
    static STREAMS: Rc<Streams> = Rc::new(Streams::new(streams::WORKER_BUDGET));
    static LIMITER: RefCell<Option<Limiter>> = const { RefCell::new(None) };
    /// Bindings are fixed for an isolate's life: read them once (each lookup is a JS call, and a
    /// missing one throws).
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

/// The isolate's streams and settings, the event's bindings and (for requests) its context.
#[derive(Clone)]
struct WorkerHost {
    env: Env,
    ctx: Option<Rc<Context>>,
    settings: Rc<Settings>,
    streams: Rc<Streams>,
}

impl WorkerHost {
    fn new(env: Env, ctx: Option<Rc<Context>>) -> WorkerHost {
        let settings = SETTINGS.with(|s| {
            s.borrow_mut().get_or_insert_with(|| Rc::new(Settings::from_lookup(|name| text(&env, name)))).clone()
        });
        WorkerHost { env, ctx, settings, streams: STREAMS.with(Rc::clone) }
    }
}

fn kv_key(key: &StreamId) -> String {
    format!("snap:{}:{}:{}", key.application, key.environment, cache::audience_str(key.audience))
}

fn parse_kv_key(name: &str) -> Option<StreamId> {
    let mut parts = name.strip_prefix("snap:")?.split(':');
    let (application, environment, aud) = (parts.next()?, parts.next()?, parts.next()?);
    let audience = match aud {
        "server" => vane_core::Audience::Server,
        "client" => vane_core::Audience::Client,
        _ => return None,
    };
    Some(StreamId { application: application.to_owned(), environment: environment.to_owned(), audience })
}

impl Host for WorkerHost {
    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn streams(&self) -> &Streams {
        &self.streams
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn log(&self, message: &str) {
        worker::console_error!("vane-edge: {message}");
    }

    async fn fetch(
        &self,
        key: &StreamId,
        etag: Option<&str>,
        wait_s: u64,
        timeout_ms: u64,
    ) -> Result<Upstream, String> {
        let settings = &self.settings;
        let url = settings.upstream_url(key, wait_s);
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
                return Err(format!(
                    "control plane at {} did not answer within {timeout_ms} ms",
                    settings.control_plane
                ));
            }
        };
        if let Some(answer) = cache::upstream_status(response.status_code())? {
            return Ok(answer);
        }
        let tag = response.headers().get("ETag").ok().flatten().unwrap_or_default();
        let body = response.text().await.map_err(|e| format!("reading the snapshot: {e}"))?;
        Ok(Upstream::Body { body, etag: bare_etag(&tag).to_owned() })
    }

    async fn save(&self, key: &StreamId, served: &Served) {
        // Without a VANE_KV binding there is no last known good copy (and nothing to log).
        let Ok(kv) = self.env.kv(KV_BINDING) else { return };
        let result = match kv.put(&kv_key(key), served.body.as_str()).and_then(|p| p.metadata(served.saved_meta())) {
            Ok(put) => put.execute().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            self.log(&format!("saving {} to KV: {e}", kv_key(key)));
        }
    }

    async fn saved(&self, key: &StreamId) -> Option<(String, SavedMeta)> {
        let kv = self.env.kv(KV_BINDING).ok()?;
        match kv.get(&kv_key(key)).text_with_metadata::<SavedMeta>().await {
            Ok((Some(body), Some(meta))) => Some((body, meta)),
            Ok(_) => None,
            Err(e) => {
                self.log(&format!("reading {} from KV: {e}", kv_key(key)));
                None
            }
        }
    }

    /// A refresh when the snapshot was last confirmed `refresh_ms` ago, and the long-poll when
    /// none is held, both as `waitUntil` work of the request.
    fn keep_fresh(&self, key: &StreamId, slot: &Arc<Slot>, served: &Served) {
        let Some(ctx) = &self.ctx else { return };
        let now = now_ms();
        if cache::refresh_due(&self.settings, slot, served, now)
            && let Some(claim) = slot.claim(Work::Refresh)
        {
            // Counted from now: the request may go on to a synchronous attempt before this runs.
            slot.set_attempted_at(now);
            let (host, key, slot) = (self.clone(), key.clone(), slot.clone());
            ctx.wait_until(async move {
                let _claim = claim;
                cache::refresh(&host, &key, &slot, 0).await;
            });
        }
        if cache::watch_due(&self.settings, slot, now)
            && let Some(claim) = slot.claim(Work::Watch)
        {
            let (host, key, slot) = (self.clone(), key.clone(), slot.clone());
            ctx.wait_until(async move {
                let _claim = claim;
                let started = now_ms();
                loop {
                    let left_s = u64::try_from((WATCH_BUDGET_MS - (now_ms() - started)) / 1000).unwrap_or(0);
                    if left_s == 0 || !host.streams.is_held(&key, &slot) {
                        break;
                    }
                    let wait = host.settings.watch_s.min(left_s);
                    if cache::refresh(&host, &key, &slot, wait).await == Refresh::Failed {
                        slot.set_watch_failed_at(now_ms());
                        break;
                    }
                }
            });
        }
    }

    fn rate_limit(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        LIMITER.with(|l| {
            l.borrow_mut().get_or_insert_with(|| Limiter::new(self.settings.rate_limit_rps)).take(key, now_ms)
        })
    }
}

/// A request as the pipeline reads it. The binding takes the runtime's `Request` as it is
/// (`web_sys`): workers-rs's wrapper reads the `cf` object of every request, and its responses
/// are copied into a zero-filled buffer first — together ~9 % of a bulk answer's CPU in a
/// profile.
struct WorkerRequest {
    request: web_sys::Request,
    /// `request.headers()` makes a new JS object per call.
    headers: web_sys::Headers,
}

impl Incoming for WorkerRequest {
    fn header(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.headers.get(name).ok().flatten().map(std::borrow::Cow::Owned)
    }

    async fn read_body(&mut self) -> Result<Vec<u8>, String> {
        use futures_util::StreamExt;
        let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
        // A body whose declared length is within the limit is read in one call (one promise);
        // reading it as a stream costs a promise per chunk.
        let declared = self.header("Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
        if declared.is_some_and(|n| n <= crate::ofrep::MAX_BODY) {
            let buffer = worker::wasm_bindgen_futures::JsFuture::from(self.request.array_buffer().map_err(js)?)
                .await
                .map_err(js)?;
            let mut body = worker::js_sys::Uint8Array::new(&buffer).to_vec();
            body.truncate(crate::ofrep::MAX_BODY + 1);
            return Ok(body);
        }
        // Chunked (no declared length): read just past the limit, never all of a huge body.
        let mut request = Request::from(Clone::clone(&self.request));
        let mut stream = match request.stream() {
            Ok(s) => s,
            Err(_) => return Ok(Vec::new()), // no body
        };
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
            if body.len() > crate::ofrep::MAX_BODY {
                break;
            }
        }
        Ok(body)
    }
}

/// The path and query of a request URL (`scheme://host[:port]/path?query#fragment`), as sent
/// (percent-encoded).
fn path_and_query(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let target = rest.find('/').map_or("/", |i| &rest[i..]);
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    target.split_once('?').unwrap_or((target, ""))
}

fn respond(mut reply: Reply) -> Result<web_sys::Response, wasm_bindgen::JsValue> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &reply.headers {
        headers.set(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    if reply.body.is_empty() && matches!(reply.status, 204 | 304) {
        return web_sys::Response::new_with_opt_str_and_init(None, &init);
    }
    // The runtime copies the bytes out of wasm memory when it makes the response.
    web_sys::Response::new_with_opt_u8_array_and_init(Some(&mut reply.body), &init)
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let host = WorkerHost::new(env, Some(Rc::new(ctx)));
    let url = req.url();
    let (path, query) = path_and_query(&url);
    let method = req.method();
    let mut incoming = WorkerRequest { headers: req.headers(), request: req };
    let reply = match pipeline::handle(&host, &method, path, query, &mut incoming).await {
        Answer::Reply(reply) => reply,
        // Push needs a stream held open per browser; a Worker leaves that to polling (see
        // ARCHITECTURE.md: a Durable Object would be the fan-out point).
        Answer::Push { headers, .. } => {
            let mut reply = router::push_unsupported();
            reply.headers.extend(headers.headers);
            reply
        }
    };
    respond(reply).map_err(worker::Error::from)
}

/// Cron: refresh every stream this isolate holds (or, on a fresh isolate, every stream saved in
/// KV), and save each to KV with its confirmation time, so a cold start knows its true age.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let host = WorkerHost::new(env, None);
    let mut keys = host.streams.keys();
    if keys.is_empty()
        && let Ok(kv) = host.env.kv(KV_BINDING)
        && let Ok(list) = kv.list().prefix("snap:".to_owned()).execute().await
    {
        keys = list.keys.iter().filter_map(|k| parse_kv_key(&k.name)).collect();
    }
    for key in keys {
        match cache::load(&host, &key, false).await {
            Ok((slot, current)) => {
                drop(current);
                // A replaced snapshot was just saved; a confirmed one is saved with its new
                // confirmation time (KV takes about one write per second per key).
                if cache::refresh(&host, &key, &slot, 0).await == Refresh::Confirmed
                    && let Some(c) = slot.current()
                {
                    host.save(&key, &c).await;
                }
            }
            Err(_) => host.log(&format!("cron could not load {}", kv_key(&key))),
        }
    }
}
