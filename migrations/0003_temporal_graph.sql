-- Up Migration
-- The bi-temporal knowledge graph. Every row is one version of an entity (or relationship):
--   valid_time        when the fact holds in the world,
--   transaction_time  when the database believed it (open end = 'infinity').
-- An update never overwrites: the library closes the current version's transaction_time and
-- inserts the new version, so history is kept and "as of" queries work on both axes. The boundary
-- is greatest(now(), lower(transaction_time) + 1 µs): PGlite's clock ticks in milliseconds, so a
-- version may begin at the very now() that closes it, and an empty range is refused. The
-- application role may therefore only INSERT, and UPDATE nothing but transaction_time.
-- GiST indexes over the ranges lead with tenant_id (btree_gist), and so do the exclusion
-- constraints: no two versions of one entity may overlap in both valid and transaction time.
-- entity_identities holds each entity's stable identity once: its versions and the edges between
-- entities reference it with composite (tenant_id, entity_id) foreign keys, so no edge dangles.
CREATE TABLE llmspell.entity_identities (
  tenant_id  text NOT NULL CHECK (tenant_id <> ''),
  entity_id  uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, entity_id)
);

CREATE TABLE llmspell.entities (
  tenant_id        text NOT NULL CHECK (tenant_id <> ''),
  entity_id        uuid NOT NULL,
  version_id       uuid NOT NULL DEFAULT gen_random_uuid(),
  entity_type      text NOT NULL,
  name             text NOT NULL,
  properties       jsonb NOT NULL DEFAULT '{}',
  valid_time       tstzrange NOT NULL DEFAULT tstzrange(now(), 'infinity'),
  transaction_time tstzrange NOT NULL DEFAULT tstzrange(now(), 'infinity'),
  PRIMARY KEY (tenant_id, version_id),
  FOREIGN KEY (tenant_id, entity_id) REFERENCES llmspell.entity_identities (tenant_id, entity_id),
  CONSTRAINT entities_no_overlapping_versions
    EXCLUDE USING gist (tenant_id WITH =, entity_id WITH =, valid_time WITH &&, transaction_time WITH &&),
  CONSTRAINT entities_valid_time_not_empty CHECK (NOT isempty(valid_time)),
  CONSTRAINT entities_transaction_time_not_empty CHECK (NOT isempty(transaction_time))
);
CREATE INDEX entities_as_of ON llmspell.entities USING gist (tenant_id, transaction_time, valid_time);
CREATE INDEX entities_current ON llmspell.entities (tenant_id, entity_id)
  WHERE upper(transaction_time) = 'infinity';
CREATE INDEX entities_current_by_type ON llmspell.entities (tenant_id, entity_type, name)
  WHERE upper(transaction_time) = 'infinity';

CREATE TABLE llmspell.relationships (
  tenant_id         text NOT NULL CHECK (tenant_id <> ''),
  relationship_id   uuid NOT NULL,
  version_id        uuid NOT NULL DEFAULT gen_random_uuid(),
  from_entity_id    uuid NOT NULL,
  to_entity_id      uuid NOT NULL,
  relationship_type text NOT NULL,
  properties        jsonb NOT NULL DEFAULT '{}',
  valid_time        tstzrange NOT NULL DEFAULT tstzrange(now(), 'infinity'),
  transaction_time  tstzrange NOT NULL DEFAULT tstzrange(now(), 'infinity'),
  PRIMARY KEY (tenant_id, version_id),
  FOREIGN KEY (tenant_id, from_entity_id) REFERENCES llmspell.entity_identities (tenant_id, entity_id),
  FOREIGN KEY (tenant_id, to_entity_id) REFERENCES llmspell.entity_identities (tenant_id, entity_id),
  CONSTRAINT relationships_no_overlapping_versions
    EXCLUDE USING gist (tenant_id WITH =, relationship_id WITH =, valid_time WITH &&, transaction_time WITH &&),
  CONSTRAINT relationships_valid_time_not_empty CHECK (NOT isempty(valid_time)),
  CONSTRAINT relationships_transaction_time_not_empty CHECK (NOT isempty(transaction_time))
);
CREATE INDEX relationships_as_of ON llmspell.relationships USING gist (tenant_id, transaction_time, valid_time);
CREATE INDEX relationships_outgoing ON llmspell.relationships (tenant_id, from_entity_id, relationship_type)
  WHERE upper(transaction_time) = 'infinity';
CREATE INDEX relationships_incoming ON llmspell.relationships (tenant_id, to_entity_id, relationship_type)
  WHERE upper(transaction_time) = 'infinity';

ALTER TABLE llmspell.entity_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.entity_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.entity_identities
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
ALTER TABLE llmspell.entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.entities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.entities
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
ALTER TABLE llmspell.relationships ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.relationships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.relationships
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));

GRANT SELECT, INSERT ON llmspell.entity_identities, llmspell.entities, llmspell.relationships TO llmspell_app;
GRANT UPDATE (transaction_time) ON llmspell.entities, llmspell.relationships TO llmspell_app;
COMMENT ON TABLE llmspell.entity_identities IS 'The stable identity of each graph entity, referenced by its versions and by the edges between entities';
COMMENT ON TABLE llmspell.entities IS 'Knowledge-graph entities, bi-temporal: one row per version (valid_time, transaction_time)';
COMMENT ON TABLE llmspell.relationships IS 'Typed edges between entities, bi-temporal like entities';

-- Down Migration
DROP TABLE llmspell.relationships;
DROP TABLE llmspell.entities;
DROP TABLE llmspell.entity_identities;
