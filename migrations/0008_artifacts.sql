-- Up Migration
-- Artifacts, content-addressed: artifact_content holds each distinct content once per tenant
-- (keyed by its sha256), split into artifact_chunks of bytea; artifacts are the named references
-- to it, optionally from a session. Plain bytea, never large objects: pg_largeobject has no
-- row-level security. Content larger than storage.postgres.artifacts.compression_threshold_bytes is
-- compressed by the library before it is stored (`compression`), so TOAST is told not to try again.
CREATE TABLE llmspell.artifact_content (
  tenant_id    text NOT NULL CHECK (tenant_id <> ''),
  content_hash bytea NOT NULL CHECK (length(content_hash) = 32),
  size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
  stored_bytes bigint NOT NULL CHECK (stored_bytes >= 0),
  compression  text NOT NULL DEFAULT 'none' CHECK (compression IN ('none', 'gzip')),
  chunk_count  integer NOT NULL CHECK (chunk_count >= 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, content_hash)
);

CREATE TABLE llmspell.artifact_chunks (
  tenant_id    text NOT NULL CHECK (tenant_id <> ''),
  content_hash bytea NOT NULL,
  chunk_index  integer NOT NULL CHECK (chunk_index >= 0),
  data         bytea NOT NULL,
  PRIMARY KEY (tenant_id, content_hash, chunk_index),
  FOREIGN KEY (tenant_id, content_hash) REFERENCES llmspell.artifact_content (tenant_id, content_hash) ON DELETE CASCADE
);
ALTER TABLE llmspell.artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE llmspell.artifacts (
  tenant_id    text NOT NULL CHECK (tenant_id <> ''),
  artifact_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  session_id   uuid,
  name         text NOT NULL,
  mime_type    text NOT NULL DEFAULT 'application/octet-stream',
  content_hash bytea NOT NULL,
  metadata     jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, artifact_id),
  FOREIGN KEY (tenant_id, content_hash) REFERENCES llmspell.artifact_content (tenant_id, content_hash),
  FOREIGN KEY (tenant_id, session_id) REFERENCES llmspell.sessions (tenant_id, session_id) ON DELETE SET NULL (session_id)
);
CREATE INDEX artifacts_by_session ON llmspell.artifacts (tenant_id, session_id, created_at) WHERE session_id IS NOT NULL;
CREATE INDEX artifacts_by_content ON llmspell.artifacts (tenant_id, content_hash);

ALTER TABLE llmspell.artifact_content ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.artifact_content FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.artifact_content
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
ALTER TABLE llmspell.artifact_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.artifact_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.artifact_chunks
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
ALTER TABLE llmspell.artifacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.artifacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.artifacts
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));

-- Content is immutable once written: no UPDATE on content or chunks.
GRANT SELECT, INSERT, DELETE ON llmspell.artifact_content, llmspell.artifact_chunks TO llmspell_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.artifacts TO llmspell_app;
COMMENT ON TABLE llmspell.artifact_content IS 'Distinct artifact content per tenant, addressed by sha256, with size and compression';
COMMENT ON TABLE llmspell.artifact_chunks IS 'The bytes of artifact content, in ordered bytea chunks';
COMMENT ON TABLE llmspell.artifacts IS 'Named artifacts pointing at their content, optionally from a session';

-- Down Migration
DROP TABLE llmspell.artifacts;
DROP TABLE llmspell.artifact_chunks;
DROP TABLE llmspell.artifact_content;
