-- Up Migration
-- The event log: append-only, partitioned by time (storage.postgres.event_log.partition_strategy:
-- daily, weekly or monthly; UTC boundaries), with a DEFAULT partition so that no event is ever
-- refused for want of a partition. Append-only is enforced by privileges: the application role
-- gets SELECT and INSERT on the parent and nothing on any partition (reading a partition
-- directly would skip the parent's policies), and no UPDATE, DELETE or TRUNCATE anywhere.
CREATE TABLE llmspell.event_log (
  tenant_id      text NOT NULL CHECK (tenant_id <> ''),
  event_id       uuid NOT NULL DEFAULT llmspell.uuid_v7(),
  event_type     text NOT NULL,
  source         text,
  correlation_id uuid,
  payload        jsonb NOT NULL DEFAULT '{}',
  emitted_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, event_id, emitted_at)
) PARTITION BY RANGE (emitted_at);
CREATE TABLE llmspell.event_log_default PARTITION OF llmspell.event_log DEFAULT;
CREATE INDEX event_log_by_time ON llmspell.event_log (tenant_id, emitted_at);
CREATE INDEX event_log_by_type ON llmspell.event_log (tenant_id, event_type, emitted_at);
CREATE INDEX event_log_by_correlation ON llmspell.event_log (tenant_id, correlation_id) WHERE correlation_id IS NOT NULL;

ALTER TABLE llmspell.event_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE llmspell.event_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON llmspell.event_log
  USING (tenant_id = current_setting('app.current_tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true));
GRANT SELECT, INSERT ON llmspell.event_log TO llmspell_app;

-- The partitions of event_log with their ranges (the DEFAULT partition has none).
CREATE FUNCTION llmspell.event_log_partitions()
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz, is_default boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
  SELECT c.relname::text,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), $r$FROM \('([^']+)'\)$r$))[1]::timestamptz,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), $r$TO \('([^']+)'\)$r$))[1]::timestamptz,
         pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'llmspell.event_log'::regclass
   ORDER BY 2 NULLS LAST
$$;

-- Maintenance, run by the owner (`llmspell database maintain`, and after every `migrate`):
-- creates the partitions of the current period and the next `periods_ahead`, and drops those that
-- ended more than `retention_days` ago (and expired rows of the DEFAULT partition). Periods are
-- UTC calendar days, ISO weeks or months whatever the session's TimeZone, each computed from the
-- first so that they always meet. A partition whose range already has rows in the DEFAULT
-- partition cannot simply be created: those rows are moved out in the same transaction first.
-- Where existing partitions already cover part of a period (after a change of strategy), only the
-- uncovered part gets a partition, so no time is left without one.
CREATE FUNCTION llmspell.ensure_event_partitions(
  strategy text,
  retention_days integer,
  periods_ahead integer DEFAULT 3,
  at timestamptz DEFAULT now()
)
RETURNS TABLE (action text, partition_name text, range_start timestamptz, range_end timestamptz, rows_moved bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $$
DECLARE
  unit text := CASE strategy WHEN 'daily' THEN 'day' WHEN 'weekly' THEN 'week' WHEN 'monthly' THEN 'month' END;
  step interval := CASE strategy WHEN 'daily' THEN interval '1 day' WHEN 'weekly' THEN interval '1 week' WHEN 'monthly' THEN interval '1 month' END;
  first timestamptz;
  covered timestamptz;
  cutoff timestamptz;
  old record;
  moved bigint;
  locked boolean := false;
BEGIN
  IF unit IS NULL THEN
    RAISE EXCEPTION 'unknown event_log partition strategy "%"', strategy USING HINT = 'Use daily, weekly or monthly.';
  END IF;
  IF retention_days IS NULL OR retention_days < 1 OR periods_ahead IS NULL OR periods_ahead < 0 THEN
    RAISE EXCEPTION 'retention_days must be >= 1 and periods_ahead >= 0';
  END IF;
  -- One maintainer at a time (two concurrent migrate runs both call this): held to the end of the transaction.
  PERFORM pg_advisory_xact_lock(hashtext('llmspell.ensure_event_partitions'));
  first := date_trunc(unit, at);
  FOR i IN 0..periods_ahead LOOP
    range_start := first + step * i;
    range_end := first + step * (i + 1);
    LOOP -- skip past partitions that already cover the start of the period
      SELECT max(p.range_end) INTO covered FROM llmspell.event_log_partitions() p
       WHERE NOT p.is_default AND p.range_start <= ensure_event_partitions.range_start AND p.range_end > ensure_event_partitions.range_start;
      EXIT WHEN covered IS NULL;
      range_start := covered;
    END LOOP;
    CONTINUE WHEN range_start >= range_end;
    SELECT coalesce(min(p.range_start), ensure_event_partitions.range_end) INTO range_end FROM llmspell.event_log_partitions() p
     WHERE NOT p.is_default AND p.range_start > ensure_event_partitions.range_start AND p.range_start < ensure_event_partitions.range_end;
    partition_name := 'event_log_' || to_char(range_start, 'YYYYMMDD') || CASE WHEN range_start = date_trunc('day', range_start) THEN '' ELSE to_char(range_start, '"T"HH24MISS') END;
    IF NOT locked THEN
      -- Events of a period without a partition land in the DEFAULT partition: keep writers out of
      -- it until the new partition is attached, or a row committed between the move and ATTACH
      -- would make ATTACH fail (23514). Callers bound this wait with lock_timeout.
      LOCK TABLE llmspell.event_log_default IN ACCESS EXCLUSIVE MODE;
      locked := true;
    END IF;
    -- Built beside the table and then attached: ATTACH takes only SHARE UPDATE EXCLUSIVE on
    -- event_log, so readers and writers of the other partitions carry on (CREATE TABLE …
    -- PARTITION OF would take ACCESS EXCLUSIVE on all of it).
    EXECUTE format('CREATE TABLE llmspell.%I (LIKE llmspell.event_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', partition_name);
    -- Straight into the new table: the parent's FORCE'd policies would refuse an owner without a tenant.
    EXECUTE format($move$WITH taken AS (
                     DELETE FROM llmspell.event_log_default d WHERE d.emitted_at >= $1 AND d.emitted_at < $2 RETURNING d.*)
                   INSERT INTO llmspell.%I SELECT * FROM taken$move$, partition_name)
      USING range_start, range_end;
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE llmspell.event_log ATTACH PARTITION llmspell.%I FOR VALUES FROM (%L) TO (%L)',
                   partition_name, range_start, range_end);
    action := 'created';
    rows_moved := moved;
    RETURN NEXT;
  END LOOP;

  cutoff := at - make_interval(days => retention_days);
  FOR old IN SELECT * FROM llmspell.event_log_partitions() p WHERE NOT p.is_default AND p.range_end <= cutoff LOOP
    EXECUTE format('DROP TABLE llmspell.%I', old.partition_name);
    action := 'dropped';
    partition_name := old.partition_name;
    range_start := old.range_start;
    range_end := old.range_end;
    rows_moved := 0;
    RETURN NEXT;
  END LOOP;
  DELETE FROM llmspell.event_log_default d WHERE d.emitted_at < cutoff;
  GET DIAGNOSTICS moved = ROW_COUNT;
  IF moved > 0 THEN
    action := 'purged';
    partition_name := 'event_log_default';
    range_start := NULL;
    range_end := cutoff;
    rows_moved := moved;
    RETURN NEXT;
  END IF;
END
$$;
REVOKE ALL ON FUNCTION llmspell.ensure_event_partitions(text, integer, integer, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION llmspell.event_log_partitions() FROM PUBLIC;
-- Partition names and ranges only (catalog data): lets a health check running as the application role see them.
GRANT EXECUTE ON FUNCTION llmspell.event_log_partitions() TO llmspell_app;

SELECT llmspell.ensure_event_partitions(
  coalesce(nullif(current_setting('llmspell.partition_strategy', true), ''), 'monthly'),
  coalesce(nullif(current_setting('llmspell.retention_days', true), ''), '365')::integer);
COMMENT ON TABLE llmspell.event_log IS 'Append-only event stream, partitioned by time with a DEFAULT partition';

-- Down Migration
DROP FUNCTION llmspell.ensure_event_partitions(text, integer, integer, timestamptz);
DROP FUNCTION llmspell.event_log_partitions();
DROP TABLE llmspell.event_log;
