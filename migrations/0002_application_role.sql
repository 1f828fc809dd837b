-- Up Migration
-- The application role: row-level security binds it (NOSUPERUSER, NOBYPASSRLS), it owns nothing and
-- gets DML grants table by table in later migrations. NOLOGIN here: an operator who wants the
-- application to log in as it sets a password outside any migration
-- (ALTER ROLE llmspell_app LOGIN PASSWORD '…'). The migrating role becomes a member, so that
-- `SET LOCAL ROLE llmspell_app` works for it: from PostgreSQL 16 that takes the SET option of the
-- membership (granted WITH INHERIT FALSE, SET TRUE, so the owner does not inherit the role's
-- privileges); on 15 plain membership is what SET ROLE needs.
-- A migrating role that may do neither gets an error naming the statements an administrator runs.
DO $$
DECLARE
  me pg_roles%ROWTYPE;
  v16 boolean := current_setting('server_version_num')::int >= 160000;
  grant_options text := CASE WHEN v16 THEN ' WITH INHERIT FALSE, SET TRUE' ELSE '' END;
BEGIN
  SELECT * INTO me FROM pg_roles WHERE rolname = current_user;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmspell_app') THEN
    IF NOT (me.rolsuper OR me.rolcreaterole) THEN
      -- An error, not a notice: recording this migration without the role would leave its grants undone.
      RAISE EXCEPTION 'role llmspell_app does not exist and % may not create roles', current_user
        USING HINT = format('An administrator runs once: CREATE ROLE llmspell_app NOLOGIN NOSUPERUSER NOBYPASSRLS; GRANT llmspell_app TO %I%s; then run llmspell database migrate again.', current_user, grant_options);
    END IF;
    CREATE ROLE llmspell_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
  IF NOT me.rolsuper AND NOT pg_has_role(current_user, 'llmspell_app', CASE WHEN v16 THEN 'SET' ELSE 'MEMBER' END) THEN
    BEGIN
      EXECUTE format('GRANT llmspell_app TO %I%s', current_user, grant_options);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION '% may not become llmspell_app (SET LOCAL ROLE), and may not grant that to itself', current_user
        USING HINT = format('An administrator runs once: GRANT llmspell_app TO %I%s; then run llmspell database migrate again.', current_user, grant_options);
    END;
  END IF;
  GRANT USAGE ON SCHEMA llmspell TO llmspell_app;
  GRANT EXECUTE ON FUNCTION llmspell.uuid_v7() TO llmspell_app; -- evaluated by column defaults
END $$;

-- Down Migration
-- The role is cluster-wide and may serve other databases: it is not dropped, only its access here.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'llmspell_app') THEN
    REVOKE EXECUTE ON FUNCTION llmspell.uuid_v7() FROM llmspell_app;
    REVOKE USAGE ON SCHEMA llmspell FROM llmspell_app;
  END IF;
END $$;
