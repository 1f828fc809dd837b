-- Up Migration
-- Extensions every component relies on (all are trusted: a database owner may create them),
-- and the schema that holds every llmspell table.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS btree_gin;   -- lets tenant_id lead the GIN indexes over JSON documents
CREATE SCHEMA IF NOT EXISTS llmspell;
COMMENT ON SCHEMA llmspell IS 'llmspell storage: every table is tenant-scoped by row-level security';

-- Time-ordered UUIDs (RFC 9562 version 7) for append-mostly keys, on every supported server:
-- PostgreSQL 18's built-in uuidv7() where it exists, else the same layout built from the clock
-- (48 bits of Unix milliseconds) and gen_random_uuid()'s random bits, with the version and
-- variant bits set. Keys stay unique either way; the built-in one is also monotonic per session.
DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 180000 THEN
    CREATE FUNCTION llmspell.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE
      AS 'SELECT pg_catalog.uuidv7()';
  ELSE
    CREATE FUNCTION llmspell.uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE
      AS $fn$
        SELECT encode(
                 set_bit(set_bit(
                   overlay(uuid_send(gen_random_uuid())
                           PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                           FROM 1 FOR 6),
                   52, 1), 53, 1),
                 'hex')::uuid
      $fn$;
  END IF;
END $$;
-- Nobody by default; the application role gets EXECUTE once it exists (0002), for column defaults.
REVOKE ALL ON FUNCTION llmspell.uuid_v7() FROM PUBLIC;
COMMENT ON FUNCTION llmspell.uuid_v7() IS 'A version 7 (time-ordered) UUID: uuidv7() on PostgreSQL 18, the same layout from the clock before';

-- Down Migration
-- The extensions stay: they may predate llmspell (the Docker init script creates them) and other
-- schemas may use them; the Up section creates them only if missing.
DROP FUNCTION IF EXISTS llmspell.uuid_v7();
DROP SCHEMA IF EXISTS llmspell;
