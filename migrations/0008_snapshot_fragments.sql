-- Snapshots as a frame plus content-addressed fragments, so publishing a version stores what
-- changed, not the whole document again (a 1,000-flag application wrote ~300 KB per write; one
-- with 100,000-key segments ~15 MB).
--
-- A fragment is the exact JSON text of one flag or segment in one audience; its `hash` is the
-- xxh3-128 of that text (16 bytes), unique per application. A snapshot row then holds its
-- `frame` (the document with empty `flags` and `segments` arrays, which carries everything else)
-- and `parts`: the hashes of its flags, then of its segments, 16 bytes each (`flag_parts` of
-- them are flags). The body served is the frame with the fragments spliced in, byte for byte
-- what was hashed into `etag`. Rows published before this migration keep their `body`.
CREATE TABLE snapshot_fragments (
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    hash            BYTEA NOT NULL CHECK (length(hash) = 16),
    body            TEXT NOT NULL,
    -- Last written or re-referenced by a publish: garbage collection leaves recent fragments
    -- alone, so a publish that relies on one cannot lose it to a concurrent collection.
    touched         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, hash)
);

DO $$
BEGIN
    ALTER TABLE snapshot_fragments ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 is not available (%); fragments stay pglz-compressed', SQLERRM;
END
$$;

ALTER TABLE snapshots ALTER COLUMN body DROP NOT NULL;
ALTER TABLE snapshots ADD COLUMN frame TEXT;
ALTER TABLE snapshots ADD COLUMN parts BYTEA CHECK (length(parts) % 16 = 0);
-- Hashes do not compress: storing them as they are saves PostgreSQL trying on every publish.
ALTER TABLE snapshots ALTER COLUMN parts SET STORAGE EXTERNAL;
ALTER TABLE snapshots ADD COLUMN flag_parts INTEGER CHECK (flag_parts >= 0);
-- xxh3-128 of the snapshot's content without its version and creation time: a publish whose
-- content equals the previous version's is skipped (a flag that browsers do not see leaves the
-- client snapshot as it was).
ALTER TABLE snapshots ADD COLUMN content BYTEA;
ALTER TABLE snapshots ADD CONSTRAINT snapshots_body_or_parts
    CHECK (body IS NOT NULL OR (frame IS NOT NULL AND parts IS NOT NULL AND flag_parts IS NOT NULL));

-- The salt of hashed targeting in client snapshots, per application and shared by every
-- process (it was random per process and stream), so an application's hashed segments are one
-- fragment in every environment and every process.
ALTER TABLE applications ADD COLUMN hash_salt TEXT NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text);
