//! The HTTP server: hyper's HTTP/1.1 on tokio, every request through [`crate::pipeline`].

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::{NativeHost, Options};
use crate::cache::Host;
use crate::pipeline::{self, Answer, Incoming};
use crate::reply::Reply;

/// How long open connections get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

type Response = hyper::Response<BoxBody<Bytes, Infallible>>;

struct NativeRequest {
    headers: hyper::HeaderMap,
    body: Option<Body>,
}

impl Incoming for NativeRequest {
    fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(Cow::Borrowed)
    }

    async fn read_body(&mut self) -> Result<Vec<u8>, String> {
        let Some(mut body) = self.body.take() else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
                out.extend_from_slice(&data);
                if out.len() > crate::ofrep::MAX_BODY {
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn headers_of(reply: &Reply, response: &mut hyper::http::response::Builder) {
    if let Some(h) = response.headers_mut() {
        for (k, v) in &reply.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                h.append(name, value);
            }
        }
    }
}

fn response(reply: Reply) -> Response {
    let mut builder = hyper::Response::builder().status(reply.status);
    headers_of(&reply, &mut builder);
    let body = Full::new(Bytes::from(reply.body)).boxed();
    builder.body(body).unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()).boxed()))
}

async fn answer(host: NativeHost, req: hyper::Request<Body>) -> Result<Response, Infallible> {
    let (parts, body) = req.into_parts();
    let mut incoming = NativeRequest { headers: parts.headers, body: Some(body) };
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or(""));
    Ok(match pipeline::handle(&host, parts.method.as_str(), path, query, &mut incoming).await {
        Answer::Reply(reply) => response(reply),
        Answer::Push { key, served, headers } => {
            let frames = host.push().subscribe(&key, &served).frames();
            let mut builder = hyper::Response::builder()
                .status(200)
                .header("Content-Type", "text/event-stream")
                .header("Cache-Control", "no-cache")
                .header("X-Accel-Buffering", "no");
            headers_of(&headers, &mut builder);
            let body = BodyExt::boxed(StreamBody::new(frames));
            builder.body(body).unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new()).boxed()))
        }
    })
}

/// Serves until `shutdown` resolves, then stops accepting, ends push streams, lets open requests
/// finish (at most 10 s) and saves every stream's copy.
pub async fn serve(options: Options, shutdown: impl Future<Output = ()>) -> Result<(), String> {
    let host = NativeHost::new(&options)?;
    let listener =
        TcpListener::bind(options.listen).await.map_err(|e| format!("listening on {}: {e}", options.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        "vane edge listening on http://{local} (control plane {}, default stream {}/{}, copies in {})",
        host.settings().control_plane,
        host.settings().defaults.application,
        host.settings().defaults.environment,
        options.data_dir.as_ref().map_or_else(|| "memory only".to_owned(), |d| d.display().to_string()),
    );
    host.warm().await;
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that never finishes its headers is dropped (slowloris), as at the control plane.
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, do not spin.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let host = host.clone();
                let connection = http.serve_connection(TokioIo::new(stream), service_fn(move |req| answer(host.clone(), req)));
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    host.push().close();
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after {} s; closing them", DRAIN.as_secs());
    }
    host.save_all().await;
    Ok(())
}
