-- Up Migration
-- Hook executions, kept with their input and result so they can be replayed; duration for
-- profiling; retention_priority (0 = first to go … 9 = keep longest) for pruning.
CREATE TABLE llmspell.hook_history (
  tenant_id          text NOT NULL CHECK (tenant_id <> ''),
  execution_id       uuid NOT NULL DEFAULT llmspell.uuid_v7(),
  hook_id            text NOT NULL,
  hook_type          text NOT NULL,
  correlation_id     uuid,
  input              jsonb NOT NULL,
  result             jsonb,
  status             text NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped', 'cancelled')),
  error              text,
  duration_ms        integer NOT NULL CHECK (duration_ms >= 0),
  retention_priority smallint NOT NULL DEFAULT 5 CHECK (retention_priority BETWEEN 0 AND 9),
  executed_at        timestamptz NOT NULL DEFAULT now(),
  metadata           jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, execution_id)
);
CREATE INDEX hook_history_by_hook ON llmspell.hook_history (tenant_id, hook_id, executed_at DESC);
CREATE INDEX hook_history_retention ON llmspell.hook_history (tenant_id, retention_priority, executed_at);
CREATE INDEX hook_history_by_correlation ON llmspell.hook_history (tenant_id, correlation_id) WHERE correlation_id IS NOT NULL;

ALTER TABLE llmspell.hook_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.hook_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.hook_history
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, DELETE ON llmspell.hook_history TO llmspell_app;
COMMENT ON TABLE llmspell.hook_history IS 'Hook executions with input and result for replay, duration and retention priority';

-- Down Migration
DROP TABLE llmspell.hook_history;
