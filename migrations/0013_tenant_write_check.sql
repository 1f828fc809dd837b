-- Up Migration
-- A tenant's writes are refused while `forgetTenant` erases it. The erasure holds the tenant's
-- erasure lock (1819045221, hashtext(tenant)) exclusively, as the owner, from start to end, after
-- waiting for the writes in flight; every row a transaction of the tenant inserts or updates takes
-- that lock in shared mode with this CHECK, and fails it (SQLSTATE 23514, constraint
-- `<table>_tenant_writable`, which the library reports as TENANT_ERASING) when it cannot.
--
-- The lock is the transaction's tenant (`app.current_tenant_id`, which row-level security and the
-- statements' `tenant_id = $tenant` hold equal to the row's), so a transaction takes one lock key
-- whatever it writes: the first row's check goes to the lock manager, the others find it held. A
-- session with no tenant set (the owner's maintenance, a migration) takes none. Being on the
-- tables, it covers every write of every module and of raw SQL in a tenant transaction, and costs
-- a write no statement of its own. NOT VALID: the rows already stored are not scanned.
ALTER TABLE llmspell.entity_identities ADD CONSTRAINT entity_identities_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.entities ADD CONSTRAINT entities_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.relationships ADD CONSTRAINT relationships_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.procedural_memory ADD CONSTRAINT procedural_memory_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.agent_state ADD CONSTRAINT agent_state_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.workflow_states ADD CONSTRAINT workflow_states_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.sessions ADD CONSTRAINT sessions_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.artifact_content ADD CONSTRAINT artifact_content_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.artifact_chunks ADD CONSTRAINT artifact_chunks_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.artifacts ADD CONSTRAINT artifacts_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
-- On the partitioned table: its partitions have it too, and a new one (made LIKE it, INCLUDING
-- CONSTRAINTS, by llmspell.ensure_event_log_partitions) before it is attached.
ALTER TABLE llmspell.event_log ADD CONSTRAINT event_log_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.hook_history ADD CONSTRAINT hook_history_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.api_keys ADD CONSTRAINT api_keys_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;

-- The statement that raised TENANT_ERASING in a write's prologue until now: the CHECKs replace it.
DROP FUNCTION llmspell.tenant_erasing();

-- Down Migration
CREATE FUNCTION llmspell.tenant_erasing() RETURNS void
  LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION 'the tenant is being forgotten: its writes are refused until the erasure finishes'
    USING ERRCODE = 'LS001';
END
$$;
REVOKE EXECUTE ON FUNCTION llmspell.tenant_erasing() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llmspell.tenant_erasing() TO llmspell_app;
ALTER TABLE llmspell.api_keys DROP CONSTRAINT api_keys_tenant_writable;
ALTER TABLE llmspell.hook_history DROP CONSTRAINT hook_history_tenant_writable;
ALTER TABLE llmspell.event_log DROP CONSTRAINT event_log_tenant_writable;
ALTER TABLE llmspell.artifacts DROP CONSTRAINT artifacts_tenant_writable;
ALTER TABLE llmspell.artifact_chunks DROP CONSTRAINT artifact_chunks_tenant_writable;
ALTER TABLE llmspell.artifact_content DROP CONSTRAINT artifact_content_tenant_writable;
ALTER TABLE llmspell.sessions DROP CONSTRAINT sessions_tenant_writable;
ALTER TABLE llmspell.workflow_states DROP CONSTRAINT workflow_states_tenant_writable;
ALTER TABLE llmspell.agent_state DROP CONSTRAINT agent_state_tenant_writable;
ALTER TABLE llmspell.procedural_memory DROP CONSTRAINT procedural_memory_tenant_writable;
ALTER TABLE llmspell.relationships DROP CONSTRAINT relationships_tenant_writable;
ALTER TABLE llmspell.entities DROP CONSTRAINT entities_tenant_writable;
ALTER TABLE llmspell.entity_identities DROP CONSTRAINT entity_identities_tenant_writable;
