-- Up Migration
-- The vector tables' share of the core track's 0013_tenant_write_check: a write of a tenant that
-- `forgetTenant` is erasing fails this CHECK (TENANT_ERASING); see that migration.
ALTER TABLE llmspell.vector_embeddings_384 ADD CONSTRAINT vector_embeddings_384_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.vector_embeddings_768 ADD CONSTRAINT vector_embeddings_768_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.vector_embeddings_1536 ADD CONSTRAINT vector_embeddings_1536_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;
ALTER TABLE llmspell.vector_embeddings_3072 ADD CONSTRAINT vector_embeddings_3072_tenant_writable
  CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true)) NOT VALID;

-- Down Migration
ALTER TABLE llmspell.vector_embeddings_3072 DROP CONSTRAINT vector_embeddings_3072_tenant_writable;
ALTER TABLE llmspell.vector_embeddings_1536 DROP CONSTRAINT vector_embeddings_1536_tenant_writable;
ALTER TABLE llmspell.vector_embeddings_768 DROP CONSTRAINT vector_embeddings_768_tenant_writable;
ALTER TABLE llmspell.vector_embeddings_384 DROP CONSTRAINT vector_embeddings_384_tenant_writable;
