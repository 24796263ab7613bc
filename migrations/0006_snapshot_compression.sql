-- Snapshot bodies are large, repetitive JSON written on every change. LZ4 compresses them
-- several times faster than PostgreSQL's default pglz. Servers built without LZ4 keep pglz.
DO $$
BEGIN
    ALTER TABLE snapshots ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 is not available (%); snapshot bodies stay pglz-compressed', SQLERRM;
END
$$;
