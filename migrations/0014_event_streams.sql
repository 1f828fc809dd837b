-- Up Migration
-- The event log as an event store: a stream and its version per event, a global position, and
-- the transaction that wrote it, so that a reader can resume "after the last event it saw"
-- without ever skipping one (storage.tenant(id).events).
--
-- Gap-safe reads: positions come from a sequence, in the order rows are inserted, but commit in
-- the order their transactions end, so "position greater than the last one seen" skips the events
-- of a transaction that committed after a later position was read. Each event records its
-- transaction id (xid8); a reader takes only events of transactions older than the oldest one
-- still running (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`), all of which have
-- ended, in (transaction_id, position) order, and resumes after the pair it saw last: no event can
-- later appear before it.
--
-- Existing rows (written before this migration) get one transaction id and positions in storage
-- order: the columns' volatile defaults rewrite every partition once, here.
CREATE SEQUENCE llmspell.event_log_position AS bigint;
GRANT USAGE ON SEQUENCE llmspell.event_log_position TO llmspell_app;

ALTER TABLE llmspell.event_log
  ADD COLUMN stream_id       text CHECK (stream_id <> ''),
  ADD COLUMN stream_version  bigint CHECK (stream_version >= 1),
  ADD COLUMN causation_id    uuid,
  ADD COLUMN metadata        jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
  ADD COLUMN global_position bigint NOT NULL DEFAULT nextval('llmspell.event_log_position'),
  ADD CONSTRAINT event_log_stream_version CHECK ((stream_id IS NULL) = (stream_version IS NULL));
-- The gap-safe order, and a stream's events by version.
CREATE INDEX event_log_by_commit ON llmspell.event_log (tenant_id, transaction_id, global_position);
CREATE INDEX event_log_by_stream ON llmspell.event_log (tenant_id, stream_id, stream_version)
  WHERE stream_id IS NOT NULL;

-- The head of each stream: its version, which an append with an expected version checks and
-- moves under the row's lock (a unique key across the log's partitions would have to hold the
-- partition key). Version 0: the stream has no event yet.
CREATE TABLE llmspell.event_streams (
  tenant_id  text NOT NULL CHECK (tenant_id <> ''),
  stream_id  text NOT NULL CHECK (stream_id <> ''),
  version    bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, stream_id),
  CONSTRAINT event_streams_tenant_writable
    CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true))
);
ALTER TABLE llmspell.event_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.event_streams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.event_streams
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE ON llmspell.event_streams TO llmspell_app;
COMMENT ON TABLE llmspell.event_streams IS 'The version of each event stream, checked and moved by appends';

-- Where each consumer of `events.subscribe` has read to: the (transaction id, position) pair of
-- the last event it handled.
CREATE TABLE llmspell.event_consumers (
  tenant_id       text NOT NULL CHECK (tenant_id <> ''),
  consumer        text NOT NULL CHECK (consumer <> ''),
  transaction_id  xid8 NOT NULL,
  global_position bigint NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, consumer),
  CONSTRAINT event_consumers_tenant_writable
    CHECK (coalesce(pg_try_advisory_xact_lock_shared(1819045221, hashtext(current_setting('app.current_tenant_id', true))), true))
);
ALTER TABLE llmspell.event_consumers ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.event_consumers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.event_consumers
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.event_consumers TO llmspell_app;
COMMENT ON TABLE llmspell.event_consumers IS 'The checkpoint of each event-log consumer';

-- Down Migration
DROP TABLE llmspell.event_consumers;
DROP TABLE llmspell.event_streams;
DROP INDEX llmspell.event_log_by_stream;
DROP INDEX llmspell.event_log_by_commit;
ALTER TABLE llmspell.event_log
  DROP CONSTRAINT event_log_stream_version,
  DROP COLUMN global_position,
  DROP COLUMN transaction_id,
  DROP COLUMN metadata,
  DROP COLUMN causation_id,
  DROP COLUMN stream_version,
  DROP COLUMN stream_id;
DROP SEQUENCE llmspell.event_log_position;
