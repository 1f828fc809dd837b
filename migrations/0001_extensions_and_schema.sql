-- Up Migration
-- Extensions every component relies on (all are trusted: a database owner may create them),
-- and the schema that holds every llmspell table.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS btree_gin;   -- lets tenant_id lead the GIN indexes over JSON documents
CREATE SCHEMA IF NOT EXISTS llmspell;
COMMENT ON SCHEMA llmspell IS 'llmspell storage: every table is tenant-scoped by row-level security';

-- Down Migration
-- The extensions stay: they may predate llmspell (the Docker init script creates them) and other
-- schemas may use them; the Up section creates them only if missing.
DROP SCHEMA IF EXISTS llmspell;
