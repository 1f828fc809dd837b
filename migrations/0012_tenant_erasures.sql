-- Up Migration
-- Tenants being forgotten (`storage.forgetTenant`, `llmspell database forget-tenant`): a row per
-- erasure in progress, written by the owner, removed when every row of the tenant is gone on every
-- backend. While it stands, every write of the tenant is refused (llmspell.assert_tenant_writable,
-- which a write transaction calls first), in every process; a run killed halfway leaves it, so the
-- writes stay refused until a second run of the same request finishes the job. `removed` counts
-- the rows deleted so far, per module and table, in the transaction of each batch: the receipt
-- adds up over runs. `run_token` names the run doing the work: a second run takes over, and the
-- first one's next batch is refused instead of counting into the second's receipt.
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

-- Raises SQLSTATE LS001 when the transaction's tenant is being forgotten. Called by every
-- transaction that writes, before its first write (in the prologue of a one-statement write). It
-- first takes the tenant's erasure lock in shared mode, for the rest of the transaction: an
-- erasure, once its marker is committed, takes that lock exclusively once, so it waits for every
-- write that passed this check before the marker and would otherwise land behind its batches.
-- The key is two int4s ('llme' and the tenant's hashtext): no clash with the migration lock's
-- bigint. VOLATILE, so the EXISTS reads a snapshot taken after the lock is granted.
CREATE FUNCTION llmspell.assert_tenant_writable() RETURNS void
  LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true)));
  IF EXISTS (SELECT 1 FROM llmspell.tenant_erasures
              WHERE tenant_id = current_setting('app.current_tenant_id', true)) THEN
    RAISE EXCEPTION 'the tenant is being forgotten: its writes are refused until the erasure finishes'
      USING ERRCODE = 'LS001';
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION llmspell.assert_tenant_writable() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llmspell.assert_tenant_writable() TO llmspell_app;

-- Down Migration
DROP FUNCTION llmspell.assert_tenant_writable();
DROP TABLE llmspell.tenant_erasures;
