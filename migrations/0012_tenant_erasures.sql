-- Up Migration
-- Tenants being forgotten (`storage.forgetTenant`, `llmspell database forget-tenant`): a row per
-- erasure in progress, written by the owner, removed when every row of the tenant is gone on every
-- backend. A run stopped halfway leaves it: only a second run of the same request may take the
-- erasure over and finish it. `removed` counts the rows deleted so far, per module and table, in
-- the transaction of each batch: the receipt adds up over runs. `run_token` names the run doing
-- the work: a second run takes over, and the first one's next batch is refused instead of
-- counting into the second's receipt.
CREATE TABLE llmspell.tenant_erasures (
  tenant_id  text NOT NULL CHECK (tenant_id <> ''),
  request_id text NOT NULL,
  run_token  uuid NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  removed    jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id)
);
ALTER TABLE llmspell.tenant_erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.tenant_erasures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.tenant_erasures
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT ON llmspell.tenant_erasures TO llmspell_app;
COMMENT ON TABLE llmspell.tenant_erasures IS 'Tenant erasures in progress: writes of the tenant are refused while its row stands';

-- Raises SQLSTATE LS001: a write of a tenant that is being forgotten. A write transaction calls it
-- only when it cannot take the tenant's erasure lock in shared mode, which an erasure holds
-- exclusively from start to end (`SELECT CASE WHEN pg_try_advisory_xact_lock_shared(1819045221,
-- hashtext(tenant)) THEN NULL ELSE llmspell.tenant_erasing() END`, in the prologue of a
-- one-statement write, before the first write of a longer transaction): the common case reads no
-- table and calls no PL/pgSQL. The key is two int4s ('llme' and the tenant's hashtext): no clash
-- with the migration lock's bigint.
CREATE FUNCTION llmspell.tenant_erasing() RETURNS void
  LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION 'the tenant is being forgotten: its writes are refused until the erasure finishes'
    USING ERRCODE = 'LS001';
END
$$;
REVOKE EXECUTE ON FUNCTION llmspell.tenant_erasing() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llmspell.tenant_erasing() TO llmspell_app;

-- Down Migration
DROP FUNCTION llmspell.tenant_erasing();
DROP TABLE llmspell.tenant_erasures;
