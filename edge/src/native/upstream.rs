//! Snapshot fetches from the control plane (HTTP/1.1, one pooled client).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::cache::{Settings, Upstream, upstream_status};
use crate::lifecycle::{StreamId, bare_etag};

#[derive(Debug, Clone)]
pub struct Client {
    pool: Pool<HttpConnector, Empty<Bytes>>,
}

impl Client {
    /// A client for `control_plane` (`http://host:port`; TLS is left to a sidecar or a
    /// TLS-terminating proxy in front of the control plane, see ARCHITECTURE.md).
    pub fn new(control_plane: &str) -> Result<Client, String> {
        let uri: hyper::Uri =
            control_plane.parse().map_err(|e| format!("VANE_CONTROL_PLANE_URL {control_plane:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "VANE_CONTROL_PLANE_URL {control_plane}: vane edge speaks plain HTTP to the control plane; \
                     reach it over the cluster network or through a TLS sidecar"
                ));
            }
            _ => return Err(format!("VANE_CONTROL_PLANE_URL {control_plane:?} must start with http://")),
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let pool = Pool::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(90)).build(connector);
        Ok(Client { pool })
    }

    pub async fn fetch(
        &self,
        settings: &Settings,
        key: &StreamId,
        etag: Option<&str>,
        wait_s: u64,
        timeout_ms: u64,
    ) -> Result<Upstream, String> {
        let url = settings.upstream_url(key, wait_s);
        let mut request = hyper::Request::get(&url).header("Authorization", format!("Bearer {}", settings.edge_key));
        if let Some(tag) = etag {
            request = request.header("If-None-Match", format!("\"{tag}\""));
        }
        let request = request.body(Empty::new()).map_err(|e| format!("request to {url}: {e}"))?;
        let exchange = async {
            let response = self
                .pool
                .request(request)
                .await
                .map_err(|e| format!("control plane unreachable at {}: {e}", settings.control_plane))?;
            if let Some(answer) = upstream_status(response.status().as_u16())? {
                return Ok(answer);
            }
            let tag = response.headers().get("ETag").and_then(|v| v.to_str().ok()).unwrap_or_default();
            let etag = bare_etag(tag).to_owned();
            let bytes = response.into_body().collect().await.map_err(|e| format!("reading the snapshot: {e}"))?;
            let body =
                String::from_utf8(bytes.to_bytes().to_vec()).map_err(|_| "the snapshot is not UTF-8".to_owned())?;
            Ok(Upstream::Body { body, etag })
        };
        match tokio::time::timeout(Duration::from_millis(timeout_ms), exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("control plane at {} did not answer within {timeout_ms} ms", settings.control_plane)),
        }
    }
}
