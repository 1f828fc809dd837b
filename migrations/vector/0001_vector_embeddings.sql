-- Up Migration
-- Vector embeddings, one table per dimension (384, 768, 1536, 3072), on the optional "vector"
-- track: it runs only while storage.postgres.vector_embeddings.enabled = true, so enabling it
-- later and migrating again creates it.
--
-- The index follows what the server can do: VectorChord (installed or preloaded) → vchordrq; else HNSW with
-- m / ef_construction from the configuration (llmspell.hnsw_m, llmspell.hnsw_ef_construction,
-- set by `llmspell database migrate`). pgvector's HNSW takes at most 2000 dimensions, so the 3072
-- table is indexed as halfvec(3072). Tenant-filtered searches use the primary key, which leads
-- with tenant_id; the vector index serves the approximate search.
DO $$
DECLARE
  -- VectorChord only when it can load: already installed, or preloaded (it must be in
  -- shared_preload_libraries); otherwise pgvector, which needs no preloading.
  vchord boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vchord')
                    OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vchord')
                        AND current_setting('shared_preload_libraries') ~ '(^|[\s,])"?vchord"?($|[\s,])');
  m int := coalesce(nullif(current_setting('llmspell.hnsw_m', true), ''), '16')::int;
  ef int := coalesce(nullif(current_setting('llmspell.hnsw_ef_construction', true), ''), '128')::int;
  dims int;
  tbl text;
BEGIN
  IF vchord THEN
    CREATE EXTENSION IF NOT EXISTS vchord CASCADE;
  ELSE
    CREATE EXTENSION IF NOT EXISTS vector;
  END IF;

  FOREACH dims IN ARRAY ARRAY[384, 768, 1536, 3072] LOOP
    tbl := 'vector_embeddings_' || dims;
    EXECUTE format($sql$
      CREATE TABLE llmspell.%1$I (
        tenant_id text NOT NULL CHECK (tenant_id <> ''),
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        scope text NOT NULL,
        embedding vector(%2$s) NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id)
      )$sql$, tbl, dims);
    EXECUTE format('CREATE INDEX %I ON llmspell.%I (tenant_id, scope, created_at)', tbl || '_tenant_scope', tbl);

    IF vchord THEN
      EXECUTE format('CREATE INDEX %I ON llmspell.%I USING vchordrq (embedding vector_cosine_ops)', tbl || '_embedding', tbl);
    ELSIF dims > 2000 THEN
      EXECUTE format('CREATE INDEX %I ON llmspell.%I USING hnsw ((embedding::halfvec(%s)) halfvec_cosine_ops) WITH (m = %s, ef_construction = %s)',
                     tbl || '_embedding', tbl, dims, m, ef);
    ELSE
      EXECUTE format('CREATE INDEX %I ON llmspell.%I USING hnsw (embedding vector_cosine_ops) WITH (m = %s, ef_construction = %s)',
                     tbl || '_embedding', tbl, m, ef);
    END IF;

    EXECUTE format('ALTER TABLE llmspell.%I ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE llmspell.%I FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format($sql$
      CREATE POLICY tenant_isolation ON llmspell.%I
        USING (tenant_id = current_setting('app.current_tenant_id', true))
        WITH CHECK (tenant_id = current_setting('app.current_tenant_id', true))$sql$, tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON llmspell.%I TO llmspell_app', tbl);
    EXECUTE format('COMMENT ON TABLE llmspell.%I IS %L', tbl, format('Embeddings of %s dimensions with scope and metadata, for similarity search', dims));
  END LOOP;
END $$;

-- Down Migration
-- The extension stays (other schemas may use it; the Up section creates it only if missing).
DROP TABLE IF EXISTS llmspell.vector_embeddings_384, llmspell.vector_embeddings_768,
                     llmspell.vector_embeddings_1536, llmspell.vector_embeddings_3072;
