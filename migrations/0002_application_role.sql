-- Up Migration
-- The application role: row-level security binds it (NOSUPERUSER, NOBYPASSRLS), it owns nothing and
-- gets DML grants table by table in later migrations. NOLOGIN here: an operator who wants the
-- application to log in as it sets a password outside any migration
-- (ALTER ROLE llmspell_app LOGIN PASSWORD '…'). The migrating role becomes a member, so that
-- `SET LOCAL ROLE llmspell_app` works for it (PostgreSQL 16+ requires the SET option explicitly).
-- A migrating role that may do neither gets an error naming the statements an administrator runs.
DO $$
DECLARE
  me pg_roles%ROWTYPE;
BEGIN
  SELECT * INTO me FROM pg_roles WHERE rolname = current_user;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmspell_app') THEN
    IF NOT (me.rolsuper OR me.rolcreaterole) THEN
      -- An error, not a notice: recording this migration without the role would leave its grants undone.
      RAISE EXCEPTION 'role llmspell_app does not exist and % may not create roles', current_user
        USING HINT = format('An administrator runs once: CREATE ROLE llmspell_app NOLOGIN NOSUPERUSER NOBYPASSRLS; GRANT llmspell_app TO %I WITH INHERIT FALSE, SET TRUE; then run llmspell database migrate again.', current_user);
    END IF;
    CREATE ROLE llmspell_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
  IF NOT me.rolsuper AND NOT pg_has_role(current_user, 'llmspell_app', 'SET') THEN
    BEGIN
      EXECUTE format('GRANT llmspell_app TO %I WITH INHERIT FALSE, SET TRUE', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION '% may not become llmspell_app (SET LOCAL ROLE), and may not grant that to itself', current_user
        USING HINT = format('An administrator runs once: GRANT llmspell_app TO %I WITH INHERIT FALSE, SET TRUE; then run llmspell database migrate again.', current_user);
    END;
  END IF;
  GRANT USAGE ON SCHEMA llmspell TO llmspell_app;
END $$;

-- Down Migration
-- The role is cluster-wide and may serve other databases: it is not dropped, only its access here.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmspell_app') THEN
    REVOKE USAGE ON SCHEMA llmspell FROM llmspell_app;
  END IF;
END $$;
