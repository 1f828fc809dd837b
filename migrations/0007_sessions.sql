-- Up Migration
-- Sessions: status, expiry and activity; artifacts reference their session (0008).
CREATE TABLE llmspell.sessions (
  tenant_id        text NOT NULL CHECK (tenant_id <> ''),
  session_id       uuid NOT NULL DEFAULT gen_random_uuid(),
  status           text NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'suspended', 'completed', 'expired', 'archived')),
  metadata         jsonb NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  last_accessed_at timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz,
  PRIMARY KEY (tenant_id, session_id),
  CONSTRAINT sessions_expiry_after_creation CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX sessions_tenant_created ON llmspell.sessions (tenant_id, created_at);
CREATE INDEX sessions_expiring ON llmspell.sessions (tenant_id, expires_at) WHERE status = 'active';

ALTER TABLE llmspell.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.sessions
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.sessions TO llmspell_app;
COMMENT ON TABLE llmspell.sessions IS 'Sessions: status, expiry and last access; artifacts refer to them';

-- Down Migration
DROP TABLE llmspell.sessions;
