-- Up Migration
-- API keys per tenant and service, with their rotation history: a rotation marks the active key
-- 'rotated' and inserts its successor (replaces_key_id), any number of times; a partial unique
-- index allows at most one active key per (tenant, service). The secret is encrypted by the
-- library before it is sent (AES-256-GCM: ciphertext, nonce and tag as bytea parameters), so key
-- material never appears in SQL text, server logs or pg_stat_statements; key_hint keeps the last
-- characters for people to recognise a key. Stamps follow the status: a rotated key has rotated_at,
-- a revoked one revoked_at, an active one neither; a key revoked after its rotation keeps both.
CREATE TABLE llmspell.api_keys (
  tenant_id        text NOT NULL CHECK (tenant_id <> ''),
  key_id           uuid NOT NULL DEFAULT gen_random_uuid(),
  service          text NOT NULL,
  ciphertext       bytea NOT NULL,
  nonce            bytea NOT NULL CHECK (length(nonce) = 12),
  auth_tag         bytea NOT NULL CHECK (length(auth_tag) = 16),
  encryption_key_id text NOT NULL,
  key_hint         text NOT NULL CHECK (length(key_hint) <= 8),
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'rotated', 'revoked')),
  replaces_key_id  uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  rotated_at       timestamptz,
  revoked_at       timestamptz,
  expires_at       timestamptz,
  PRIMARY KEY (tenant_id, key_id),
  FOREIGN KEY (tenant_id, replaces_key_id) REFERENCES llmspell.api_keys (tenant_id, key_id),
  CONSTRAINT api_keys_rotation_stamped CHECK (status <> 'rotated' OR rotated_at IS NOT NULL),
  CONSTRAINT api_keys_revocation_stamped CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
  CONSTRAINT api_keys_active_unstamped CHECK (status <> 'active' OR rotated_at IS NULL),
  CONSTRAINT api_keys_stamps_in_order CHECK (rotated_at IS NULL OR revoked_at IS NULL OR rotated_at <= revoked_at)
);
CREATE UNIQUE INDEX api_keys_one_active ON llmspell.api_keys (tenant_id, service) WHERE status = 'active';
CREATE INDEX api_keys_history ON llmspell.api_keys (tenant_id, service, created_at DESC);

ALTER TABLE llmspell.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.api_keys
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
-- Keys are rotated or revoked, never rewritten or deleted by the application.
GRANT SELECT, INSERT ON llmspell.api_keys TO llmspell_app;
GRANT UPDATE (status, rotated_at, revoked_at) ON llmspell.api_keys TO llmspell_app;
COMMENT ON TABLE llmspell.api_keys IS 'API keys per service, encrypted by the library, with rotation history; one active key per service';

-- Down Migration
DROP TABLE llmspell.api_keys;
