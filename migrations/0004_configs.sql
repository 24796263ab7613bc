-- Configs: a JSON value per application × environment × key, typed, optionally checked against
-- a JSON Schema on every write, optionally secret (AES-256-GCM encrypted at rest, never
-- published), with every version kept for history and rollback.

CREATE TABLE configs (
    id              TEXT PRIMARY KEY CHECK (length(id) = 26),
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    key             TEXT NOT NULL CHECK (key ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$'),
    value           JSONB,
    ciphertext      TEXT,
    value_type      TEXT NOT NULL CHECK (value_type IN ('string', 'number', 'boolean', 'json')),
    schema          JSONB,
    description     TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    secret          BOOLEAN NOT NULL DEFAULT false,
    client_visible  BOOLEAN NOT NULL DEFAULT false,
    version         BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT configs_scope_key_unique UNIQUE (application_id, environment_id, key),
    CONSTRAINT configs_secret_storage CHECK (
        (secret AND value IS NULL AND ciphertext IS NOT NULL AND NOT client_visible)
        OR (NOT secret AND value IS NOT NULL AND ciphertext IS NULL))
);
CREATE INDEX configs_scope ON configs (application_id, environment_id);

CREATE TABLE config_history (
    config_id    TEXT NOT NULL REFERENCES configs (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    value        JSONB,
    ciphertext   TEXT,
    value_type   TEXT NOT NULL,
    schema       JSONB,
    description  TEXT NOT NULL,
    actor        TEXT,
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (config_id, version)
);
