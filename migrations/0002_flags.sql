-- Flags: definition per application (type, variants, description, tags) and state per
-- environment (enabled, off variant, rules, default, prerequisites, salt), with the history of
-- every state version for audit and rollback.

CREATE TABLE flags (
    id              TEXT PRIMARY KEY CHECK (length(id) = 26),
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key             TEXT NOT NULL CHECK (key ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$'),
    type            TEXT NOT NULL CHECK (type IN ('boolean', 'string', 'number', 'json')),
    variants        JSONB NOT NULL CHECK (jsonb_typeof(variants) = 'array'),
    description     TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    tags            JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    client_visible  BOOLEAN NOT NULL DEFAULT false,
    archived        BOOLEAN NOT NULL DEFAULT false,
    version         BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT flags_application_key_unique UNIQUE (application_id, key)
);

CREATE TABLE flag_states (
    flag_id         TEXT NOT NULL REFERENCES flags (id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    enabled         BOOLEAN NOT NULL DEFAULT false,
    off_variant     TEXT,
    rules           JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(rules) = 'array'),
    default_serve   JSONB NOT NULL,
    prerequisites   JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(prerequisites) = 'array'),
    salt            TEXT NOT NULL,
    version         BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (flag_id, environment_id)
);
CREATE INDEX flag_states_environment ON flag_states (environment_id);

-- Every published definition of a flag in an environment (the snapshot's view of it).
CREATE TABLE flag_history (
    flag_id         TEXT NOT NULL REFERENCES flags (id) ON DELETE CASCADE,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    version         BIGINT NOT NULL,
    definition      JSONB NOT NULL,
    actor           TEXT,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (flag_id, environment_id, version)
);
