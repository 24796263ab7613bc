-- The service registry (from the original config service): services register themselves, an
-- active checker polls their health URLs, and healthy ones are published in server snapshots.

CREATE TABLE services (
    id                 TEXT PRIMARY KEY CHECK (length(id) = 26),
    service_name       TEXT NOT NULL CHECK (service_name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
    service_url        TEXT NOT NULL CHECK (length(service_url) BETWEEN 1 AND 255),
    health_check_url   TEXT CHECK (length(health_check_url) <= 255),
    status             TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'healthy', 'unhealthy')),
    response_time_ms   DOUBLE PRECISION,
    last_health_check  TIMESTAMPTZ,
    metadata           JSONB NOT NULL DEFAULT '{}',
    registered_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT services_name_unique UNIQUE (service_name)
);
CREATE INDEX services_status ON services (status);
