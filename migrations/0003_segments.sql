-- Segments: reusable audiences per application (conditions plus included/excluded key lists,
-- which may hold 100k keys and more).

CREATE TABLE segments (
    id              TEXT PRIMARY KEY CHECK (length(id) = 26),
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key             TEXT NOT NULL CHECK (key ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$'),
    description     TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    conditions      JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conditions) = 'array'),
    included        JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(included) = 'array'),
    excluded        JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(excluded) = 'array'),
    version         BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT segments_application_key_unique UNIQUE (application_id, key)
);
