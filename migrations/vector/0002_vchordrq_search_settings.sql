-- Up Migration
-- What a search on VectorChord sets for its transaction, worked out from the index itself:
-- vchordrq.probes must give as many numbers as the index has levels of lists (an index built
-- with no lists takes '', one built with lists = [2000] takes one number), or planning the search
-- fails ("need 1 probes, but 0 probes provided"). Maintenance rebuilds the index with lists that
-- follow the table's size, so the probes cannot be a fixed setting. On pgvector there is no
-- vchordrq index and these return NULL (the setting keeps its default).

-- The lists of a vchordrq index from its options (the TOML of `WITH (options = …)`, NULL when it
-- has none): '{}' when the space is not partitioned, NULL when they cannot be told (an external
-- build reads its centroids from a table).
CREATE FUNCTION llmspell.vchordrq_lists(options text) RETURNS int[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
           WHEN options ~ '\mexternal\M' THEN NULL
           ELSE coalesce(
             (SELECT array_agg(btrim(level)::int ORDER BY n)
                FROM regexp_split_to_table(
                       substring(options FROM '(?:^|[^[:alnum:]_])lists\s*=\s*\[([0-9,\s]*)\]'), ',')
                     WITH ORDINALITY AS l(level, n)
               WHERE level ~ '^\s*[0-9]{1,9}\s*$'),
             '{}')
         END
$$;

-- vchordrq.probes for an index with these lists: `percent` of the lists of each level, at least
-- one ('' for no lists; NULL when the lists or the percent are unknown).
CREATE FUNCTION llmspell.vchordrq_probes_for(lists int[], percent float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
           WHEN lists IS NULL OR percent IS NULL THEN NULL
           ELSE coalesce(
             (SELECT string_agg(greatest(1, ceil(l.cells * percent / 100))::bigint::text, ',' ORDER BY l.n)
                FROM unnest(lists) WITH ORDINALITY AS l(cells, n)),
             '')
         END
$$;

-- vchordrq.probes for a search of `tbl`, from the widest valid vchordrq index of the table. NULL
-- (the default applies) when the table has no vchordrq index, when an index's lists cannot be
-- told, or when its valid indexes have different numbers of levels (a rebuild between its build
-- and the swap: no value suits both).
CREATE FUNCTION llmspell.vchordrq_probes(tbl regclass, percent float8) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
           WHEN s.indexes = 0 OR s.unknown OR s.shapes > 1 THEN NULL
           ELSE llmspell.vchordrq_probes_for(s.widest, percent)
         END
    FROM (SELECT count(*) AS indexes, coalesce(bool_or(x.lists IS NULL), false) AS unknown,
                 count(DISTINCT cardinality(x.lists)) AS shapes, max(x.lists) AS widest
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_am am ON am.oid = c.relam
           CROSS JOIN LATERAL (
                 SELECT llmspell.vchordrq_lists(
                          (SELECT substr(o, length('options=') + 1) FROM unnest(c.reloptions) AS o
                            WHERE o LIKE 'options=%')) AS lists) x
           WHERE i.indrelid = tbl AND i.indisvalid AND am.amname = 'vchordrq') s
$$;

REVOKE ALL ON FUNCTION llmspell.vchordrq_lists(text), llmspell.vchordrq_probes_for(int[], float8),
                       llmspell.vchordrq_probes(regclass, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION llmspell.vchordrq_lists(text), llmspell.vchordrq_probes_for(int[], float8),
                          llmspell.vchordrq_probes(regclass, float8) TO llmspell_app;

-- Down Migration
DROP FUNCTION IF EXISTS llmspell.vchordrq_probes(regclass, float8);
DROP FUNCTION IF EXISTS llmspell.vchordrq_probes_for(int[], float8);
DROP FUNCTION IF EXISTS llmspell.vchordrq_lists(text);
