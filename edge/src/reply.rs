//! A response before it meets the host: status, headers, body.

/// Header carrying the version of the snapshot an answer came from.
pub const VERSION_HEADER: &str = "X-Vane-Snapshot-Version";
/// Header carrying that snapshot's age in whole seconds (since it was last confirmed current).
pub const AGE_HEADER: &str = "X-Vane-Snapshot-Age";

/// CORS headers on every response: browsers call the edge directly.
pub const CORS: [(&str, &str); 5] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "Content-Type, Authorization, If-None-Match, X-API-Key, X-Vane-Application, X-Vane-Environment",
    ),
    ("Access-Control-Expose-Headers", "ETag, Retry-After, X-Vane-Snapshot-Version, X-Vane-Snapshot-Age"),
    ("Access-Control-Max-Age", "86400"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, headers: vec![("Content-Type", "application/json".to_owned())], body }
    }

    /// A JSON body from a value (serialisation of `serde_json::Value` cannot fail).
    pub fn value(status: u16, value: &serde_json::Value) -> Reply {
        Reply::json(status, serde_json::to_vec(value).unwrap_or_default())
    }

    /// No body.
    pub fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Adds the CORS headers and the snapshot version/age headers.
    pub fn finish(mut self, snapshot_version: u64, age_s: Option<u64>) -> Reply {
        self.headers.extend(CORS.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.headers.push((VERSION_HEADER, snapshot_version.to_string()));
        if let Some(age) = age_s {
            self.headers.push((AGE_HEADER, age.to_string()));
        }
        self
    }
}
