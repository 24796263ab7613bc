//! The HTTP server of `vane serve`: the router on hyper's HTTP/1.1 connections, with the limits a
//! listener that anyone can reach needs (axum's own `serve` has none):
//!
//! * a request's head (request line and headers) must arrive within [`Limits::header_timeout`],
//!   counted from when the server starts waiting for it — so a connection that sends nothing, or
//!   sends its headers a byte at a time, or sits idle between keep-alive requests, is closed
//!   after that long (long-polls and event streams are answers in progress, not idle);
//! * a request body must arrive within [`super::extract::BODY_TIMEOUT`] (checked where bodies are
//!   read);
//! * at most [`Limits::max_connections`] connections are open at once: beyond that, new ones
//!   wait in the kernel's accept queue until one closes.
//!
//! Shutdown stops accepting, lets requests in progress finish, and gives event streams and
//! long-polls [`SHUTDOWN_GRACE`] before the process leaves without them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How a listener protects itself.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// How long shutdown waits for open answers (event streams never end by themselves).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // closed: never happens, the semaphore lives here
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before it was accepted):
                    // wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::info!("open connections did not finish within {} s; leaving them", SHUTDOWN_GRACE.as_secs());
    }
    Ok(())
}
