//! API keys at the edge: checked offline against the hashes the server snapshot carries (every
//! key valid for the stream, with its scope), so no request calls home.

use vane_core::{CompiledSnapshot, KeyScope, api_key_hash};

/// The key a request carries: `Authorization: Bearer <key>`, `Authorization: ApiKey <key>`
/// (the original service) or `X-API-Key: <key>` (OFREP's ApiKeyAuth).
pub fn request_key<'a>(authorization: Option<&'a str>, x_api_key: Option<&'a str>) -> Option<&'a str> {
    if let Some(value) = authorization {
        let (scheme, key) = value.trim().split_once(char::is_whitespace)?;
        let key = key.trim();
        return ((scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey")) && !key.is_empty())
            .then_some(key);
    }
    x_api_key.map(str::trim).filter(|k| !k.is_empty())
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no key, or one this stream does not accept.
    Unauthenticated,
    /// 403: a valid key whose scope may not do this.
    Forbidden,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Unauthenticated => 401,
            Refusal::Forbidden => 403,
        }
    }
}

/// What a key may read at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Server-audience data: every flag, configs, services (admin, read and edge keys).
    Server,
    /// Client-audience data only (client keys).
    Client,
}

/// The access `key` has to the stream whose server snapshot is `server`.
pub fn authorise(server: &CompiledSnapshot, key: Option<&str>) -> Result<Access, Refusal> {
    let key = key.ok_or(Refusal::Unauthenticated)?;
    let accepted = server.accepted_key(&api_key_hash(key)).ok_or(Refusal::Unauthenticated)?;
    Ok(match accepted.scope {
        KeyScope::Admin | KeyScope::Read | KeyScope::Edge => Access::Server,
        KeyScope::Client => Access::Client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_either_header() {
        assert_eq!(request_key(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(request_key(Some("ApiKey  abc "), None), Some("abc"));
        assert_eq!(request_key(Some("bearer abc"), Some("other")), Some("abc"));
        assert_eq!(request_key(Some("Basic abc"), None), None);
        assert_eq!(request_key(Some("Bearer "), None), None);
        assert_eq!(request_key(None, Some(" k ")), Some("k"));
        assert_eq!(request_key(None, None), None);
    }
}
