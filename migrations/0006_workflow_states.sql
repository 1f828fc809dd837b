-- Up Migration
-- Workflow executions: status with the allowed values, the step reached, the execution context,
-- and lifecycle timestamps that must agree with the status: a running, paused or completed
-- workflow has started; a pending one may also be cancelled or fail before it ever started.
-- `version` is for optimistic concurrency, as in agent_state.
CREATE TABLE llmspell.workflow_states (
  tenant_id    text NOT NULL CHECK (tenant_id <> ''),
  workflow_id  text NOT NULL,
  name         text NOT NULL,
  status       text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
  current_step integer NOT NULL DEFAULT 0 CHECK (current_step >= 0),
  state        jsonb NOT NULL DEFAULT '{}',
  error        text,
  version      bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  completed_at timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, workflow_id),
  CONSTRAINT workflow_states_started CHECK (status NOT IN ('running', 'paused', 'completed') OR started_at IS NOT NULL),
  CONSTRAINT workflow_states_finished CHECK ((completed_at IS NOT NULL) = (status IN ('completed', 'failed', 'cancelled'))),
  CONSTRAINT workflow_states_in_order CHECK (started_at IS NULL OR completed_at IS NULL OR started_at <= completed_at)
);
CREATE INDEX workflow_states_by_status ON llmspell.workflow_states (tenant_id, status, updated_at DESC);

ALTER TABLE llmspell.workflow_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.workflow_states FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.workflow_states
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.workflow_states TO llmspell_app;
COMMENT ON TABLE llmspell.workflow_states IS 'Workflow executions: status, current step, context and lifecycle timestamps';

-- Down Migration
DROP TABLE llmspell.workflow_states;
