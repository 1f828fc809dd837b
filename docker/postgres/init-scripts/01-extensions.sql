-- Runs once, when the container initialises an empty data directory (as POSTGRES_USER, a superuser).
-- `llmspell database migrate` creates all of this too when it is missing; doing it here lets the
-- migrating role be an ordinary database owner later.
CREATE EXTENSION IF NOT EXISTS vchord CASCADE;   -- brings pgvector (vector) with it
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE SCHEMA IF NOT EXISTS llmspell;
