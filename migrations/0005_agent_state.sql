-- Up Migration
-- One row per (tenant, agent): its configuration and state. `version` is for optimistic
-- concurrency: the library updates `WHERE version = $expected` and bumps it.
CREATE TABLE llmspell.agent_state (
  tenant_id  text NOT NULL CHECK (tenant_id <> ''),
  agent_id   text NOT NULL,
  state      jsonb NOT NULL DEFAULT '{}',
  version    bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, agent_id)
);
CREATE INDEX agent_state_recent ON llmspell.agent_state (tenant_id, updated_at DESC);
CREATE INDEX agent_state_state ON llmspell.agent_state USING gin (tenant_id, state jsonb_path_ops);

ALTER TABLE llmspell.agent_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.agent_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.agent_state
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.agent_state TO llmspell_app;
COMMENT ON TABLE llmspell.agent_state IS 'One row per agent: its state document and a version for optimistic concurrency';

-- Down Migration
DROP TABLE llmspell.agent_state;
