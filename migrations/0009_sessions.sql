-- Console sessions: a signed-in browser holds a random token in an HttpOnly cookie; only the
-- token's SHA-256 is stored. A session ends at its expiry, at sign-out, or when its key is
-- revoked (the lookup requires an unrevoked key, and revoking deletes the key's sessions).
-- `csrf_token` is the proof every write with the cookie must carry in `X-CSRF-Token`; alone it
-- grants nothing.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    key_id      TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_key ON sessions (key_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);
