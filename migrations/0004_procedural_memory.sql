-- Up Migration
-- Learned procedural patterns: how often a (key, value) pattern was seen, and when first and last.
-- Uniqueness goes through a sha256 of key and value, so arbitrarily long values never hit the
-- btree row-size limit; the two digests are concatenated, so no separator can be forged. The text's
-- bytes come from decode(…, 'escape') with backslashes doubled: immutable (a generated column needs
-- that; convert_to is only stable), and unlike text::bytea it reads no escape sequences, so 'A' and
-- '\x41' stay distinct and a Windows path is accepted. The scope is bounded (1 to 512 bytes)
-- because it stands in the unique btree and the frequency index as it is.
CREATE TABLE llmspell.procedural_memory (
  tenant_id     text NOT NULL CHECK (tenant_id <> ''),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  scope         text NOT NULL CONSTRAINT procedural_memory_scope_size CHECK (octet_length(scope) BETWEEN 1 AND 512),
  pattern_key   text NOT NULL,
  pattern_value text NOT NULL,
  pattern_hash  bytea NOT NULL GENERATED ALWAYS AS
                (sha256(decode(replace(pattern_key, '\', '\\'), 'escape')) || sha256(decode(replace(pattern_value, '\', '\\'), 'escape'))) STORED,
  frequency     bigint NOT NULL DEFAULT 1 CHECK (frequency >= 1),
  first_seen    timestamptz NOT NULL DEFAULT now(),
  last_seen     timestamptz NOT NULL DEFAULT now(),
  metadata      jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id),
  CONSTRAINT procedural_memory_pattern_unique UNIQUE (tenant_id, scope, pattern_hash),
  CONSTRAINT procedural_memory_seen_in_order CHECK (first_seen <= last_seen)
);
CREATE INDEX procedural_memory_frequent ON llmspell.procedural_memory (tenant_id, scope, frequency DESC);
CREATE INDEX procedural_memory_metadata ON llmspell.procedural_memory USING gin (tenant_id, metadata jsonb_path_ops);

ALTER TABLE llmspell.procedural_memory ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.procedural_memory FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.procedural_memory
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.procedural_memory TO llmspell_app;
COMMENT ON TABLE llmspell.procedural_memory IS 'Learned procedural patterns with frequency and first/last seen; unique per scope by sha256 of key and value';

-- Down Migration
DROP TABLE llmspell.procedural_memory;
