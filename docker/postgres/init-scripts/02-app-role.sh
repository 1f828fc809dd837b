#!/usr/bin/env bash
# Creates the application role llmspell_app: it logs in with LLMSPELL_APP_PASSWORD, is neither
# superuser nor BYPASSRLS, and owns nothing, so row-level security binds it. Its table privileges
# come from the migrations. The password is set here, by the operator's environment, never in a
# migration. Outside Docker, an administrator runs the same statements by hand:
#   CREATE ROLE llmspell_app LOGIN PASSWORD '…' NOSUPERUSER NOBYPASSRLS;
#   GRANT CONNECT ON DATABASE <db> TO llmspell_app;
set -euo pipefail
: "${LLMSPELL_APP_PASSWORD:?set LLMSPELL_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set=app_password="$LLMSPELL_APP_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE llmspell_app LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', :'app_password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmspell_app') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO llmspell_app', current_database()) \gexec
GRANT USAGE ON SCHEMA llmspell TO llmspell_app;
SQL
