/**
 * What the approximate index buys over an exact scan, and what it costs in recall, for
 * `storage.tenant(t).vectors.search({ vector, k: 10 })` over clustered low-rank 384-dimension
 * vectors (test/helpers/low-rank.ts, seed 7: uniform random vectors make recall meaningless), on
 * PGlite (pgvector 0.8, HNSW m 16 / ef_construction 128 as migrated), and on a server when
 * LLMSPELL_BENCH_URL names one with pgvector (a superuser URL: a scratch database and a login role
 * in llmspell_app are made there and dropped after). Per table size (10,000 and 20,000 rows):
 *   - whole table (one tenant owns every row): exact (`exact_search_max_rows` 2³¹−1) against the
 *     index (`exact_search_max_rows` 0) at each `ef_search` of a sweep;
 *   - tenants of 0.5%, 5% and 40% of the table, with and without a metadata filter matching 10% of
 *     their rows (`{ bucket: 7 }`): the default configuration (the library routes: exact up to
 *     `exact_search_max_rows` tenant rows), the index forced (default `ef_search`), and exact forced;
 *   - the crossover (tenants of 250 … 4,000 rows in the same tables, with the tenants above):
 *     queries per second of exact against index by candidate count, unfiltered, which the default
 *     `exact_search_max_rows` should sit near; and how close the default's routing comes to the
 *     faster forced route in each tenant case (filtered ones included).
 * Figures: queries per second (one caller), the ratio to exact on the same rows, recall@10 against
 * an exact top 10 computed here in JavaScript (float4 vectors, as stored), the mean rows returned,
 * how many searches kept the k-row promise (min(k, matching) rows, `complete`), and the routes taken.
 *
 * Each table is loaded once through `upsert` into a memory storage opened from the run's migrated
 * PGlite snapshot, with the shared HNSW index dropped and rebuilt around the load from its own
 * definition (`pg_get_indexdef`), then ANALYZEd and dumped; every configuration opens its own copy of
 * the dump (a storage's configuration is fixed when it opens). Per-tenant partial indexes are off
 * (`max_tenant_indexes` 0): the whole-table tenant would get one of the same rows (on every open);
 * no tenant of the tenant tables reaches `tenant_index_min_rows` anyway. The 50 queries continue the
 * same generator after the rows (same clusters and subspace, vectors not in the table). Cells are
 * measured in interleaved rounds (each cell's passes over the 50 queries once per round; the number
 * of passes fixed from a first pass, which also gives recall, rows and routes), so the shared
 * machine's noise falls on all cells of a table alike: compare ratios within one run. Prints a
 * table and one JSON line per figure. Run: npm run bench -- vector-search
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { bench, describe } from 'vitest';
import { dumpMemoryDatabase } from '../src/db/open.js';
import { openStorage, type Storage } from '../src/storage/open-storage.js';
import type { SearchResult, SearchRoute, VectorEntry } from '../src/storage/modules/vectors/index.js';
import { cosineDistance, lowRankSpace, recall } from '../test/helpers/low-rank.js';
import { pgliteSnapshot } from '../test/helpers/pglite.js';
import { createLoginRole } from '../test/helpers/postgres.js';
import { testSettings } from '../test/helpers/settings.js';

const SIZES = [10_000, 20_000] as const;
const DIMS = 384;
const K = 10;
const QUERIES = 50;
const ROUNDS = 3;
/** Each cell runs as many passes over the queries per round as take about this long (from its first pass). */
const SECONDS_PER_CELL = 0.6;
const MAX_PASSES = 20;
const EF_SEARCH = [10, 20, 40, 80, 160] as const;
/** The tenants of the tenant tables and their share of the rows (the rest belong to {@link OTHERS} others). */
const SHARES = { 'share-005': 0.005, 'share-5': 0.05, 'share-40': 0.4 } as const;
/** The crossover tenants' sizes per table size (with the share tenants, as many as the table holds). */
const CROSSOVER_ROWS: Record<number, readonly number[]> = {
  10_000: [250, 1000, 2000],
  20_000: [250, 500, 1000, 2000, 4000],
};
/** The table size the targets are set at. */
const TARGET_AT = 20_000;
const OTHERS = 40;
const FILTER = { bucket: 7 } as const;
const UPSERT_BATCH = 5000;
/** The library's defaults, which the tenant cases run at. */
const DEFAULTS = testSettings().storage.postgres.vector_embeddings;
const ALWAYS_EXACT = 2 ** 31 - 1;

type Kind = 'whole' | 'tenants';
type Section = 'whole table' | 'tenant' | 'crossover';

/** One search case: a tenant, filtered or not, and the exact answer of each query (row numbers). */
interface Case {
  tenant: string;
  /** The tenant's share of the table, for the label. */
  share: number;
  filtered: boolean;
  section: Section;
  /** The rows matching (tenant and filter). */
  candidates: number;
  expected: number[][];
}

interface Dataset {
  size: number;
  kind: Kind;
  /** Each tenant's rows (numbers into {@link vectors}). */
  byTenant: Map<string, number[]>;
  cases: Case[];
}

interface Config {
  label: string;
  /** `exact` and `index` force the route; `default` lets the library choose. */
  route: 'exact' | 'index' | 'default';
  efSearch: number;
  settings: Record<string, unknown>;
}

interface Cell {
  target: string;
  dataset: Dataset;
  config: Config;
  case: Case;
  storage: Storage;
  passes: number;
  ms: number;
  searches: number;
  recall: number;
  meanRows: number;
  kept: number;
  routes: Partial<Record<SearchRoute, number>>;
  qps: number;
  ratio: number;
}

/** What a target (PGlite, a server) does: load a table, open a storage on it per configuration. */
interface Target {
  name: string;
  /** Loads the dataset (replacing the previous one); returns the ids, by row number. */
  load(dataset: Dataset): Promise<string[]>;
  open(settings: Record<string, unknown>): Promise<Storage>;
  /** Closes the storages opened since the last load. */
  release(): Promise<void>;
  describe(): Promise<string>;
  dispose(): Promise<void>;
}

const float4 = (vector: number[]) => vector.map((x) => Math.fround(x));
const space = lowRankSpace({ dims: DIMS, seed: 7 });
const vectors = Array.from({ length: Math.max(...SIZES) }, () => float4(space.next()));
const queries = Array.from({ length: QUERIES }, () => float4(space.next()));
/** Every query's distance to every row, as PostgreSQL computes it on the stored float4 vectors. */
const distances = queries.map((query) => Float64Array.from(vectors, (row) => cosineDistance(query, row)));

const write = (line: string) => process.stdout.write(`${line}\n`);
const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

function datasetOf(size: number, kind: Kind): Dataset {
  const byTenant = new Map<string, number[]>();
  const add = (tenant: string, row: number) => {
    const rows = byTenant.get(tenant);
    if (rows) rows.push(row);
    else byTenant.set(tenant, [row]);
  };
  const cases: Case[] = [];
  const caseOf = (tenant: string, filtered: boolean, section: Section) => {
    const rows = byTenant.get(tenant)!.filter((row) => !filtered || row % 10 === FILTER.bucket);
    const expected = distances.map((d) => [...rows].sort((a, b) => d[a]! - d[b]! || a - b).slice(0, K));
    cases.push({
      tenant,
      share: byTenant.get(tenant)!.length / size,
      filtered,
      section,
      candidates: rows.length,
      expected,
    });
  };
  if (kind === 'whole') {
    for (let row = 0; row < size; row++) add('whole', row);
    caseOf('whole', false, 'whole table');
    return { size, kind, byTenant, cases };
  }
  const blocks: [string, number][] = Object.entries(SHARES).map(([tenant, share]) => [
    tenant,
    Math.round(share * size),
  ]);
  const crossover = CROSSOVER_ROWS[size] ?? [];
  blocks.push(...crossover.map((rows): [string, number] => [`rows-${rows}`, rows]));
  let row = 0;
  for (const [tenant, rows] of blocks) for (let n = 0; n < rows; n++) add(tenant, row++);
  if (row > size) throw new Error(`the tenants of the ${size}-row table hold ${row} rows`);
  for (; row < size; row++) add(`other-${row % OTHERS}`, row);
  for (const tenant of Object.keys(SHARES)) for (const filtered of [false, true]) caseOf(tenant, filtered, 'tenant');
  for (const rows of crossover) caseOf(`rows-${rows}`, false, 'crossover');
  return { size, kind, byTenant, cases };
}

const exactConfig: Config = {
  label: 'exact',
  route: 'exact',
  efSearch: DEFAULTS.ef_search,
  settings: { exact_search_max_rows: ALWAYS_EXACT },
};
const indexConfig = (efSearch: number): Config => ({
  label: `index, ef_search ${efSearch}`,
  route: 'index',
  efSearch,
  settings: { exact_search_max_rows: 0, ef_search: efSearch },
});
const defaultConfig: Config = {
  label: `default (exact ≤ ${DEFAULTS.exact_search_max_rows} rows, else index)`,
  route: 'default',
  efSearch: DEFAULTS.ef_search,
  settings: {},
};

/** The cells of a dataset: each case under each configuration that applies to it. */
function plan(dataset: Dataset): { config: Config; case: Case }[] {
  if (dataset.kind === 'whole') {
    const only = dataset.cases[0]!;
    return [exactConfig, ...EF_SEARCH.map(indexConfig)].map((config) => ({ config, case: only }));
  }
  const index = indexConfig(DEFAULTS.ef_search);
  return dataset.cases.flatMap((c) =>
    (c.section === 'tenant' ? [defaultConfig, index, exactConfig] : [index, exactConfig]).map((config) => ({
      config,
      case: c,
    })),
  );
}

/** Owner statements (DDL, ANALYZE), however the target runs them. */
type Owner = (sql: string) => Promise<Record<string, unknown>[]>;

/**
 * Loads `dataset` through `storage`'s upsert with the shared HNSW index dropped, then rebuilds it
 * from its own definition and ANALYZEs the table. Returns the ids by row number.
 */
async function fill(storage: Storage, owner: Owner, dataset: Dataset, label: string): Promise<string[]> {
  const started = performance.now();
  const [definition] = await owner(
    "SELECT pg_get_indexdef('llmspell.vector_embeddings_384_embedding'::regclass) AS sql",
  );
  await owner('DROP INDEX llmspell.vector_embeddings_384_embedding');
  const ids: string[] = new Array<string>(dataset.size);
  for (const [tenant, rows] of dataset.byTenant) {
    for (let at = 0; at < rows.length; at += UPSERT_BATCH) {
      const chunk = rows.slice(at, at + UPSERT_BATCH);
      const entries: VectorEntry[] = chunk.map((row) => ({
        scope: 'docs',
        vector: vectors[row]!,
        metadata: { bucket: row % 10 },
      }));
      const made = await storage.tenant(tenant).vectors.upsert(entries, { atomic: false });
      chunk.forEach((row, n) => (ids[row] = made[n]!));
    }
  }
  const upserted = performance.now();
  await owner(String(definition!.sql));
  const built = performance.now();
  await owner('ANALYZE llmspell.vector_embeddings_384');
  write(
    `# ${label}: upsert ${((upserted - started) / 1000).toFixed(1)} s, HNSW build ${((built - upserted) / 1000).toFixed(1)} s`,
  );
  return ids;
}

const memorySettings = (settings: Record<string, unknown>) =>
  testSettings({ backend: 'memory', postgres: { vector_embeddings: { max_tenant_indexes: 0, ...settings } } });

function pgliteTarget(): Target {
  let dump: Blob | undefined;
  const opened: Storage[] = [];
  const release = async () => {
    await Promise.all(opened.splice(0).map((storage) => storage.close()));
  };
  return {
    name: 'PGlite',
    async load(dataset) {
      const migrated = await pgliteSnapshot('migrated');
      const storage = await openStorage(memorySettings({}), migrated ? { memorySnapshot: migrated } : {});
      try {
        const owner: Owner = async (sql) => (await storage.db.query(sql)).rows;
        const ids = await fill(storage, owner, dataset, `PGlite ${dataset.size} ${dataset.kind}`);
        dump = await dumpMemoryDatabase(storage.db);
        return ids;
      } finally {
        await storage.close();
      }
    },
    async open(settings) {
      const storage = await openStorage(memorySettings(settings), { memorySnapshot: dump! });
      opened.push(storage);
      return storage;
    },
    release,
    async describe() {
      const storage = await openStorage(memorySettings({}), { memorySnapshot: dump! });
      try {
        const { rows } = await storage.db.query<{ version: string; vector: string }>(
          "SELECT current_setting('server_version') AS version, (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS vector",
        );
        return `PGlite (PostgreSQL ${rows[0]!.version}), pgvector ${rows[0]!.vector}`;
      } finally {
        await storage.close();
      }
    },
    async dispose() {
      await release();
      dump = undefined;
    },
  };
}

const withDatabase = (url: string, database: string) => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

async function adminQuery(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The server LLMSPELL_BENCH_URL names (a superuser URL): a scratch database, migrated through
 * `openStorage` (`auto_migrate`), searched by a NOSUPERUSER login in llmspell_app (the production
 * setup, as test/helpers/storage.ts does); both are dropped by `dispose`. Returns why not when the
 * server has neither pgvector nor VectorChord.
 */
async function serverTarget(adminUrl: string): Promise<Target | string> {
  const available = await adminQuery(
    adminUrl,
    "SELECT name FROM pg_available_extensions WHERE name IN ('vector', 'vchord')",
  );
  if (available.length === 0) return 'the server has neither pgvector nor VectorChord available';
  const suffix = randomBytes(4).toString('hex');
  const database = `llmspell_bench_vectors_${suffix}`;
  const role = `llmspell_bench_${suffix}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${pg.escapeIdentifier(database)}`);
  const ownerUrl = withDatabase(adminUrl, database);
  const settingsFor = (url: string, settings: Record<string, unknown>, migrate = false) => {
    const s = testSettings({
      backend: 'postgres',
      url,
      postgres: { vector_embeddings: { max_tenant_indexes: 0, ...settings } },
    });
    s.storage.postgres.auto_migrate = migrate;
    return s;
  };
  let owner: pg.Client | undefined;
  let loginUrl = '';
  const drop = async () => {
    await owner?.end().catch(() => {});
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
    await adminQuery(adminUrl, `DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  };
  try {
    await (await openStorage(settingsFor(ownerUrl, {}, true))).close();
    loginUrl = (await createLoginRole(ownerUrl, role, randomBytes(12).toString('hex'), { memberOf: ['llmspell_app'] }))
      .url;
    owner = new pg.Client({ connectionString: ownerUrl });
    owner.on('error', () => {});
    await owner.connect();
  } catch (error) {
    await drop().catch(() => {});
    throw error;
  }
  const client = owner;
  const run: Owner = async (sql) => (await client.query(sql)).rows as Record<string, unknown>[];
  const opened: Storage[] = [];
  const release = async () => {
    await Promise.all(opened.splice(0).map((storage) => storage.close()));
  };
  return {
    name: 'server',
    async load(dataset) {
      await run('TRUNCATE llmspell.vector_embeddings_384');
      const storage = await openStorage(settingsFor(loginUrl, {}));
      try {
        return await fill(storage, run, dataset, `server ${dataset.size} ${dataset.kind}`);
      } finally {
        await storage.close();
      }
    },
    async open(settings) {
      const storage = await openStorage(settingsFor(loginUrl, settings));
      opened.push(storage);
      return storage;
    },
    release,
    async describe() {
      const [row] = await run(
        `SELECT current_setting('server_version') AS version,
                (SELECT string_agg(extname || ' ' || extversion, ', ') FROM pg_extension WHERE extname IN ('vector', 'vchord')) AS extensions,
                (SELECT am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
                  WHERE c.oid = 'llmspell.vector_embeddings_384_embedding'::regclass) AS index`,
      );
      return `server PostgreSQL ${String(row!.version)}, ${String(row!.extensions)}, shared index ${String(row!.index)}${
        row!.index === 'hnsw' ? '' : ' (ef_search does not apply to it)'
      }`;
    },
    async dispose() {
      await release();
      await drop();
    },
  };
}

/** One pass of a cell over every query; `keep` returns the results. */
async function pass(cell: Cell, keep: boolean): Promise<{ ms: number; results: SearchResult[] }> {
  const store = cell.storage.tenant(cell.case.tenant).vectors;
  const filter = cell.case.filtered ? { filter: FILTER } : {};
  const results: SearchResult[] = [];
  const started = performance.now();
  for (const vector of queries) {
    const result = await store.search({ vector, k: K, ...filter });
    if (keep) results.push(result);
  }
  return { ms: performance.now() - started, results };
}

/** Recall, rows, the k-row promise and routes of a pass's results. */
function evaluate(cell: Cell, results: SearchResult[], ids: string[]): void {
  const want = Math.min(K, cell.case.candidates);
  let found = 0;
  let rows = 0;
  results.forEach((result, q) => {
    const hits = result.hits.map((hit) => hit.id);
    found += recall(
      hits,
      cell.case.expected[q]!.map((row) => ids[row]!),
    );
    rows += hits.length;
    if (hits.length === want && new Set(hits).size === hits.length && result.complete) cell.kept++;
    cell.routes[result.route] = (cell.routes[result.route] ?? 0) + 1;
  });
  cell.recall = found / results.length;
  cell.meanRows = rows / results.length;
}

/** Loads each table on `target`, measures its cells in interleaved rounds, and returns them. */
async function measureTarget(target: Target): Promise<{ cells: Cell[]; about: string }> {
  const cells: Cell[] = [];
  let about = '';
  for (const size of SIZES) {
    for (const kind of ['whole', 'tenants'] as const) {
      const started = performance.now();
      const dataset = datasetOf(size, kind);
      const ids = await target.load(dataset);
      if (!about) about = await target.describe();
      const storages = new Map<string, Storage>();
      const own: Cell[] = [];
      for (const { config, case: c } of plan(dataset)) {
        let storage = storages.get(config.label);
        if (!storage) {
          storage = await target.open(config.settings);
          storages.set(config.label, storage);
        }
        own.push({
          target: target.name,
          dataset,
          config,
          case: c,
          storage,
          passes: 1,
          ms: 0,
          searches: 0,
          recall: 0,
          meanRows: 0,
          kept: 0,
          routes: {},
          qps: 0,
          ratio: 0,
        });
      }
      const opened = performance.now();
      for (const cell of own) {
        const first = await pass(cell, true);
        evaluate(cell, first.results, ids);
        cell.passes = Math.max(1, Math.min(MAX_PASSES, Math.round((SECONDS_PER_CELL * 1000) / first.ms)));
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const cell of own) {
          for (let p = 0; p < cell.passes; p++) {
            cell.ms += (await pass(cell, false)).ms;
            cell.searches += queries.length;
          }
        }
      }
      for (const cell of own) {
        cell.qps = (cell.searches * 1000) / cell.ms;
        const exact = own.find((other) => other.case === cell.case && other.config.route === 'exact')!;
        cell.ratio = cell.qps / ((exact.searches * 1000) / exact.ms);
      }
      await target.release();
      cells.push(...own);
      write(
        `# ${target.name} ${size} ${kind}: ${own.length} cells, ${storages.size} storages opened in ${((opened - started) / 1000).toFixed(1)} s (with the load), measured in ${elapsed(opened)}`,
      );
    }
  }
  return { cells, about };
}

const caseLabel = (c: Case) =>
  c.section === 'whole table'
    ? 'whole table'
    : `${c.tenant} (${Number((c.share * 100).toFixed(2))}%)${c.filtered ? ', filtered' : ''}`;
const routesLabel = (routes: Partial<Record<SearchRoute, number>>) =>
  Object.entries(routes)
    .map(([route, n]) => `${route} ${n}`)
    .join(', ');
const fixed = (x: number, digits: number) => Number(x.toFixed(digits));

function report(cells: Cell[]): void {
  const lines = [
    '| target | table | case | candidates | config | q/s | × exact | recall@10 | mean rows | k rows kept | routes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const cell of cells) {
    const { dataset, config, case: c } = cell;
    lines.push(
      `| ${cell.target} | ${dataset.size} ${dataset.kind} | ${caseLabel(c)} | ${c.candidates} | ${config.label} | ${cell.qps.toFixed(0)} | ${cell.ratio.toFixed(2)} | ${cell.recall.toFixed(3)} | ${cell.meanRows.toFixed(1)} | ${cell.kept}/${queries.length} | ${routesLabel(cell.routes)} |`,
    );
    write(
      JSON.stringify({
        bench: 'vector-search',
        target: cell.target,
        rows: dataset.size,
        table: dataset.kind,
        section: c.section,
        tenant: c.tenant,
        share: fixed(c.share, 4),
        filtered: c.filtered,
        candidates: c.candidates,
        config: config.route,
        efSearch: config.route === 'exact' ? null : config.efSearch,
        perSecond: fixed(cell.qps, 1),
        ratioToExact: fixed(cell.ratio, 3),
        recallAt10: fixed(cell.recall, 4),
        meanRows: fixed(cell.meanRows, 2),
        kRowsKept: cell.kept,
        searches: queries.length,
        routes: cell.routes,
        measuredSearches: cell.searches,
      }),
    );
  }
  write(lines.join('\n'));

  // The targets: ≥ 10× exact at 20,000 rows with recall@10 ≥ 0.95, and the k-row promise under tenants.
  for (const target of [...new Set(cells.map((cell) => cell.target))]) {
    const mine = cells.filter((cell) => cell.target === target);
    for (const size of SIZES) {
      const sweep = mine.filter(
        (cell) => cell.dataset.size === size && cell.config.route === 'index' && cell.case.section === 'whole table',
      );
      const atDefault = sweep.find((cell) => cell.config.efSearch === DEFAULTS.ef_search)!;
      const good = sweep.filter((cell) => cell.recall >= 0.95);
      const cheapest = good.sort((a, b) => a.config.efSearch - b.config.efSearch)[0];
      const best = good.sort((a, b) => b.ratio - a.ratio)[0];
      const met = atDefault.ratio >= 10 && atDefault.recall >= 0.95;
      write(
        `${target}, ${size} rows, whole table: index at the default ef_search ${DEFAULTS.ef_search} is ${atDefault.ratio.toFixed(1)}× exact at recall@10 ${atDefault.recall.toFixed(3)}${
          size === TARGET_AT ? ` — target (≥ 10× with recall@10 ≥ 0.95) ${met ? 'MET' : 'NOT MET'}` : ''
        }; smallest ef_search with recall@10 ≥ 0.95: ${cheapest ? `${cheapest.config.efSearch} (${cheapest.ratio.toFixed(1)}×)` : 'none of the sweep'}; fastest at that recall: ${best ? `ef_search ${best.config.efSearch} (${best.ratio.toFixed(1)}×, recall ${best.recall.toFixed(3)})` : '—'}`,
      );
      write(
        JSON.stringify({
          bench: 'vector-search',
          target,
          rows: size,
          figure: 'target',
          efSearch: DEFAULTS.ef_search,
          ratioToExact: fixed(atDefault.ratio, 3),
          recallAt10: fixed(atDefault.recall, 4),
          met: size === TARGET_AT ? met : null,
          smallestEfSearchAtRecall095: cheapest?.config.efSearch ?? null,
        }),
      );
    }
    const tenantCells = mine.filter((cell) => cell.case.section !== 'whole table');
    const kept = tenantCells.reduce((n, cell) => n + cell.kept, 0);
    const searches = tenantCells.length * queries.length;
    const lowest = tenantCells.filter((cell) => cell.config.route !== 'exact').sort((a, b) => a.recall - b.recall)[0];
    write(
      `${target}, tenant cases: ${kept} of ${searches} searches returned min(k, matching) distinct rows with complete = true — k-row guarantee ${kept === searches ? 'HELD' : 'BROKEN'}; lowest recall@10 of a default or index cell: ${lowest ? `${lowest.recall.toFixed(3)} (${lowest.dataset.size} rows, ${caseLabel(lowest.case)}, ${lowest.config.route})` : '—'}`,
    );
    write(
      JSON.stringify({
        bench: 'vector-search',
        target,
        figure: 'k-row guarantee',
        kept,
        searches,
        held: kept === searches,
      }),
    );

    // The routing: the default's q/s against the faster of the two forced routes, per tenant case.
    const routing = mine
      .filter((cell) => cell.config.route === 'default')
      .map((cell) => {
        const forced = mine.filter((other) => other.case === cell.case && other.config.route !== 'default');
        const best = forced.sort((a, b) => b.qps - a.qps)[0]!;
        return { cell, best, share: cell.qps / best.qps };
      });
    const worst = routing.filter(({ share }) => share < 0.8);
    write(
      `${target}, routing (default q/s ÷ the faster forced route's): ${routing
        .map(
          ({ cell, best, share }) =>
            `${cell.dataset.size} ${caseLabel(cell.case)} [${cell.case.candidates}]: ${share.toFixed(2)} (took ${routesLabel(cell.routes)}; faster: ${best.config.route})`,
        )
        .join('; ')}${worst.length ? ` — ${worst.length} case(s) under 0.8` : ' — every case within 0.8'}`,
    );
    for (const { cell, best, share } of routing) {
      write(
        JSON.stringify({
          bench: 'vector-search',
          target,
          figure: 'routing',
          rows: cell.dataset.size,
          tenant: cell.case.tenant,
          filtered: cell.case.filtered,
          candidates: cell.case.candidates,
          routes: cell.routes,
          faster: best.config.route,
          ratioToFaster: fixed(share, 3),
        }),
      );
    }

    // The crossover: by candidate count, unfiltered, index against exact on the same tenant.
    for (const size of SIZES) {
      const points = mine
        .filter(
          (cell) =>
            cell.dataset.size === size &&
            cell.dataset.kind === 'tenants' &&
            !cell.case.filtered &&
            cell.config.route === 'index',
        )
        .sort((a, b) => a.case.candidates - b.case.candidates);
      if (points.length === 0) continue;
      const curve = points
        .map((cell) => `${cell.case.candidates}: ${cell.ratio.toFixed(2)}× (recall ${cell.recall.toFixed(3)})`)
        .join(', ');
      let crossover = 'index slower than exact at every size measured';
      let estimate: number | null = null;
      const firstFaster = points.findIndex((cell) => cell.ratio >= 1);
      if (firstFaster === 0) {
        crossover = `index already faster at ${points[0]!.case.candidates} candidates (the smallest measured)`;
      } else if (firstFaster > 0) {
        const a = points[firstFaster - 1]!;
        const b = points[firstFaster]!;
        // Log-log interpolation of the ratio between the two candidate counts that bracket 1.
        const t = Math.log(a.ratio) / (Math.log(a.ratio) - Math.log(b.ratio));
        estimate = Math.round(
          Math.exp(Math.log(a.case.candidates) + t * (Math.log(b.case.candidates) - Math.log(a.case.candidates))),
        );
        crossover = `exact faster at ${a.case.candidates} candidates (index ${a.ratio.toFixed(2)}×), index faster at ${b.case.candidates} (${b.ratio.toFixed(2)}×): crossover ≈ ${estimate} candidates`;
      }
      write(
        `${target}, ${size}-row tenant table, crossover (index q/s ÷ exact q/s by candidates, ef_search ${DEFAULTS.ef_search}): ${curve} — ${crossover}; the default exact_search_max_rows is ${DEFAULTS.exact_search_max_rows}`,
      );
      write(
        JSON.stringify({
          bench: 'vector-search',
          target,
          rows: size,
          figure: 'crossover',
          efSearch: DEFAULTS.ef_search,
          candidatesAtCrossover: estimate,
          exactSearchMaxRows: DEFAULTS.exact_search_max_rows,
          points: points.map((cell) => ({ candidates: cell.case.candidates, ratio: fixed(cell.ratio, 3) })),
        }),
      );
    }
  }
}

describe('vector search: index against exact', () => {
  bench(
    `${ROUNDS} interleaved rounds per table, about ${SECONDS_PER_CELL} s per cell per round`,
    async () => {
      const started = performance.now();
      const cpus = os.cpus();
      write(
        `# machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores (${os.availableParallelism()} available), Node ${process.version}, ${os.platform()} ${os.release()}, ${new Date().toISOString()}`,
      );
      const cells: Cell[] = [];
      const pglite = pgliteTarget();
      try {
        const measured = await measureTarget(pglite);
        write(`# ${measured.about}`);
        cells.push(...measured.cells);
      } finally {
        await pglite.dispose();
      }
      const url = process.env.LLMSPELL_BENCH_URL;
      if (!url) {
        write('# server: skipped — LLMSPELL_BENCH_URL is not set (a superuser URL of a server with pgvector)');
      } else {
        const server = await serverTarget(url);
        if (typeof server === 'string') {
          write(`# server: skipped — ${server}`);
        } else {
          try {
            const measured = await measureTarget(server);
            write(`# ${measured.about}`);
            cells.push(...measured.cells);
          } finally {
            await server.dispose();
          }
        }
      }
      report(cells);
      write(`# the whole bench took ${elapsed(started)}`);
    },
    { iterations: 1, warmupIterations: 0, time: 0, warmupTime: 0 },
  );
});
