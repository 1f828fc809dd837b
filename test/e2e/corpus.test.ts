/**
 * The bad-input corpus: what a demanding user and an attacker feed the CLI — config files,
 * environment, arguments, URLs and data-directory states. Every case asserts three things: the
 * exit status, that nothing on disk changed (a snapshot of the whole private HOME before and
 * after, contents and modes), and that no secret of the case appears in stdout or stderr, in any
 * output mode. Cases run the CLI in process (the same code as the binary) in a fresh HOME each.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { CONFIG_KEYS, type KeySpec } from '../../src/config/keys.js';
import { diskSnapshot } from '../helpers/snapshot.js';
import { runCliInProcess } from '../helpers/cli.js';

/** One input and what must come of it. */
interface Case {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** Files to create first, relative to HOME (the config file is `.config/llmspell/config.toml`). */
  files?: Record<string, string | Buffer>;
  /** Directories to create first, relative to HOME. */
  dirs?: string[];
  exit: number;
  /** Strings that must not appear in stdout or stderr (passwords). */
  secrets?: string[];
  /** The case is expected to write (e.g. a successful `config set`); otherwise nothing may change. */
  writes?: boolean;
  /** What the output must say (stdout + stderr). */
  says?: RegExp;
  /** Wall-time bound, ms (default 10 s: nothing here should take long). */
  withinMs?: number;
}

const CONFIG = '.config/llmspell/config.toml';
const SECRET = 'Hunter2-xyzzy-Pw';
const toml = (body: string) => ({ [CONFIG]: body });

/** A value of the wrong type for a key, as TOML, as command-line text, and one out of range. */
function wrongValues(spec: KeySpec): { toml: string; text: string; range?: string } {
  switch (spec.kind) {
    case 'integer':
      return {
        toml: '"many"',
        text: 'many',
        ...(spec.max !== undefined ? { range: String(spec.max + 1) } : {}),
      };
    case 'boolean':
      return { toml: '"maybe"', text: 'maybe' };
    case 'enum':
      return { toml: '"bogus"', text: 'bogus' };
    case 'string':
      return { toml: '42', text: BAD_STRINGS[spec.key] ?? '' };
  }
}

/** A value no string key of these accepts (keys absent here accept any non-empty string). */
const BAD_STRINGS: Record<string, string> = {
  'storage.postgres.url': 'not a url',
  'storage.postgres.migration_url': 'not a url',
  'storage.postgres.default_tenant_id': 'Not A Tenant!',
  'storage.postgres.tenant_id_pattern': '([a-z',
};

/** `[a.b]\nkey = value` for a dotted key path. */
const tomlFor = (spec: KeySpec, value: string) =>
  `# keep me\n[${spec.path.slice(0, -1).join('.')}]\n${spec.path.at(-1)} = ${value}\n`;

const perKey: Case[] = CONFIG_KEYS.flatMap((spec): Case[] => {
  const wrong = wrongValues(spec);
  const cases: Case[] = [
    {
      name: `file: ${spec.key} of the wrong type`,
      args: ['config', 'validate'],
      files: toml(tomlFor(spec, wrong.toml)),
      exit: EXIT.USAGE,
      says: new RegExp(spec.key.replace(/\./g, '\\.')),
    },
  ];
  if (wrong.text !== '') {
    cases.push({
      name: `env: ${spec.env} of the wrong type`,
      args: ['config', 'get'],
      env: { [spec.env]: wrong.text },
      exit: EXIT.USAGE,
      says: new RegExp(spec.env),
    });
  }
  if (wrong.text !== '') {
    cases.push(
      {
        name: `--set: ${spec.key} of the wrong type`,
        args: ['--set', `${spec.key}=${wrong.text}`, 'config', 'get'],
        exit: EXIT.USAGE,
        says: /--set/,
      },
      {
        name: `config set: ${spec.key} of the wrong type leaves the file as it was`,
        args: ['config', 'set', spec.key, wrong.text],
        files: toml('# a comment that must survive\n'),
        exit: EXIT.USAGE,
      },
    );
  }
  if (wrong.range) {
    cases.push({
      name: `config set: ${spec.key} out of range`,
      args: ['config', 'set', spec.key, wrong.range],
      exit: EXIT.USAGE,
      says: /from|at most|≤/,
    });
  }
  return cases;
});

/** Connection strings that hold SECRET in every form the masking must recognise. */
const SECRET_URLS: Array<[string, string]> = [
  ['userinfo', `postgresql://app:${SECRET}@127.0.0.1:1/db`],
  ['percent-encoded userinfo', `postgresql://app:${encodeURIComponent(`${SECRET}@#/`)}@127.0.0.1:1/db`],
  ['password= parameter', `postgresql://app@127.0.0.1:1/db?password=${SECRET}`],
  ['percent-encoded parameter name', `postgresql://app@127.0.0.1:1/db?pass%77ord=${SECRET}`],
  ['upper-case parameter name', `postgresql://app@127.0.0.1:1/db?PASSWORD=${SECRET}`],
  ['sslpassword parameter', `postgresql://app@127.0.0.1:1/db?sslmode=disable&sslpassword=${SECRET}`],
  ['unencoded @ in the password', `postgresql://app:${SECRET}@x@127.0.0.1:1/db`],
  ['unencoded # in the password', `postgresql://app:${SECRET}#x@127.0.0.1:1/db`],
];

/** URLs refused as configuration (the password must be percent-encoded) wherever they come from. */
const MALFORMED = new Set(['unencoded @ in the password', 'unencoded # in the password']);
/** How a command that needs the URL ends for a URL of `form`: refused by the config, or by the server. */
const refused = (form: string, otherwise: number) =>
  MALFORMED.has(form) ? { exit: EXIT.USAGE, says: /percent-encoded/ } : { exit: otherwise };

const secretCases: Case[] = SECRET_URLS.flatMap(([form, url]): Case[] => [
  {
    name: `secret (${form}) in an env URL with another bad key: error output`,
    args: ['config', 'get'],
    env: { LLMSPELL_STORAGE_POSTGRES_URL: url, LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'x' },
    exit: EXIT.USAGE,
    secrets: [SECRET],
  },
  {
    name: `secret (${form}) in --database-url, --json`,
    args: ['--json', '--set', 'storage.postgres.pool_size=x', '--database-url', url, 'config', 'get'],
    exit: EXIT.USAGE,
    secrets: [SECRET],
  },
  {
    name: `secret (${form}) shown by config get (masked)`,
    args: ['config', 'get', 'storage.postgres.url'],
    env: { LLMSPELL_STORAGE_POSTGRES_URL: url },
    ...refused(form, EXIT.OK),
    secrets: [SECRET],
  },
  {
    name: `secret (${form}) through a refused connection, --verbose`,
    args: ['--verbose', '--backend', 'postgres', '--database-url', url, 'database', 'health-check', '--timeout', '3'],
    ...refused(form, EXIT.UNREACHABLE),
    secrets: [SECRET],
  },
]);

const tomlSecretCases: Case[] = [
  ['a quote in the password', `url = "postgresql://app:${SECRET}"x@h/db"`],
  ['a backslash and a quote', `url = 'postgresql://app:${SECRET}\\'@h/db`],
  ['an unterminated string', `url = "postgresql://app:${SECRET}@h/db`],
  ['a multi-line string', `url = """postgresql://app:${SECRET}\n@h/db`],
  ['a broken line after the secret', `url = "postgresql://app:${SECRET}@h/db"\npool_size = = 3`],
  ['the secret in a migration_url', `migration_url = "postgresql://app:${SECRET}@h/db" junk`],
].map(([what, body]) => ({
  name: `TOML syntax error near a secret (${what}): the excerpt masks it`,
  args: ['config', 'validate'],
  files: toml(`[storage.postgres]\n${body}\n`),
  exit: EXIT.USAGE,
  secrets: [SECRET],
}));

const urlCases: Case[] = [
  ['not a url', /URL|postgresql:\/\//],
  ['mysql://u:p@h/db', /postgresql:\/\//],
  ['postgresql://', /host/i],
  ['postgresql://h:99999/db', /port/i],
  [`postgresql://app:${SECRET}@x@h/db`, /percent-encod/i],
  [`postgresql://app:${SECRET}#x@h/db`, /percent-encod/i],
  ['postgresql://h/db?sslmode=bogus', /disable.*allow.*prefer.*require.*verify-ca.*verify-full/],
].flatMap(([url, says]): Case[] => [
  {
    name: `config set storage.postgres.url ${JSON.stringify(url)} is refused`,
    args: ['config', 'set', 'storage.postgres.url', url as string],
    files: toml('# untouched\n'),
    exit: EXIT.USAGE,
    says: says as RegExp,
    secrets: [SECRET],
  },
  {
    name: `config validate of storage.postgres.url ${JSON.stringify(url)}`,
    args: ['config', 'validate'],
    files: toml(`[storage.postgres]\nurl = ${JSON.stringify(url)}\n`),
    exit: EXIT.USAGE,
    secrets: [SECRET],
  },
]);

const usageCases: Case[] = [
  ...[
    ['PGSSLMODE=bogus', { PGSSLMODE: 'bogus' }, 'postgresql://app@127.0.0.1:1/db'],
    ['sslmode=bogus in the URL', {}, 'postgresql://app@127.0.0.1:1/db?sslmode=bogus'],
  ].map(([what, env, url]): Case => ({
    name: `${what as string}: a usage error naming the six modes, before any connection`,
    args: ['--backend', 'postgres', '--database-url', url as string, 'database', 'health-check'],
    env: env as Record<string, string>,
    exit: EXIT.USAGE,
    says: /disable, allow, prefer, require, verify-ca, verify-full/,
  })),
  {
    name: 'DATABASE_URL meant for another program is ignored with a warning, not an error',
    args: ['config', 'validate'],
    env: { DATABASE_URL: `mysql://app:${SECRET}@h/db` },
    exit: EXIT.OK,
    secrets: [SECRET],
  },
  { name: 'an unknown command', args: ['nope'], exit: EXIT.USAGE, says: /unknown command/ },
  { name: 'help of an unknown command', args: ['help', 'nope'], exit: EXIT.USAGE, says: /unknown command 'nope'/ },
  {
    name: 'help of an unknown subcommand',
    args: ['help', 'database', 'nope'],
    exit: EXIT.USAGE,
    says: /database nope/,
  },
  { name: 'an unknown option', args: ['config', 'get', '--nope'], exit: EXIT.USAGE, says: /unknown option/ },
  { name: 'an unknown database command', args: ['database', 'migrat'], exit: EXIT.USAGE, says: /migrate/ },
  { name: 'rollback without --to', args: ['database', 'rollback'], exit: EXIT.USAGE, says: /--to/ },
  {
    name: 'rollback --to an unknown version',
    args: ['database', 'rollback', '--to', 'v9', '--dry-run'],
    exit: EXIT.USAGE,
  },
  { name: 'health-check --timeout 0', args: ['database', 'health-check', '--timeout', '0'], exit: EXIT.USAGE },
  { name: 'health-check --timeout -1', args: ['database', 'health-check', '--timeout', '-1'], exit: EXIT.USAGE },
  { name: 'health-check --timeout abc', args: ['database', 'health-check', '--timeout', 'abc'], exit: EXIT.USAGE },
  { name: '--backend bogus', args: ['--backend', 'bogus', 'config', 'get'], exit: EXIT.USAGE },
  { name: '--set without =', args: ['--set', 'storage.backend', 'config', 'get'], exit: EXIT.USAGE, says: /KEY=VALUE/ },
  { name: '--set of an unknown key', args: ['--set', 'storage.nope=1', 'config', 'get'], exit: EXIT.USAGE },
  {
    name: 'config get of an unknown key',
    args: ['config', 'get', 'storage.pool_size'],
    exit: EXIT.USAGE,
    says: /did you mean/i,
  },
  { name: 'config set of a table', args: ['config', 'set', 'storage.postgres', 'x'], exit: EXIT.USAGE },
  { name: 'config set without a value', args: ['config', 'set', 'storage.backend'], exit: EXIT.USAGE },
  {
    name: 'an unknown LLMSPELL_STORAGE_ variable',
    args: ['config', 'get'],
    env: { LLMSPELL_STORAGE_NOPE: '1' },
    exit: EXIT.USAGE,
  },
  { name: '--config naming a missing file', args: ['--config', 'missing.toml', 'config', 'get'], exit: EXIT.USAGE },
  {
    name: 'an unknown key in the file',
    args: ['config', 'validate'],
    files: toml('[storage]\nbackennd = "memory"\n'),
    exit: EXIT.USAGE,
    says: /did you mean/i,
  },
  {
    name: 'a TOML syntax error names line and column',
    args: ['config', 'get'],
    files: toml('[storage\n'),
    exit: EXIT.USAGE,
    says: /line 1/,
  },
  {
    name: 'config set refuses a config file that is not UTF-8',
    args: ['config', 'set', 'storage.backend', 'memory'],
    files: { [CONFIG]: Buffer.from([0x23, 0x20, 0x63, 0x61, 0x66, 0xe9, 0x0a]) },
    exit: EXIT.USAGE,
    says: /not valid UTF-8/,
  },
];

const HUGE = 'x'.repeat(1_000_000);
const limitCases: Case[] = [
  {
    name: 'a 1 MB config value in the file',
    args: ['config', 'validate'],
    files: toml(`[storage]\nbackend = "${HUGE}"\n`),
    exit: EXIT.USAGE,
    withinMs: 15_000,
  },
  {
    name: 'a 1 MB environment value',
    args: ['config', 'get'],
    env: { LLMSPELL_STORAGE_BACKEND: HUGE },
    exit: EXIT.USAGE,
    withinMs: 15_000,
  },
  {
    name: 'a 1 MB --set value',
    args: ['--set', `storage.postgres.pool_size=${HUGE}`, 'config', 'get'],
    exit: EXIT.USAGE,
    withinMs: 15_000,
  },
  { name: 'a 1 MB unknown key', args: ['config', 'get', HUGE], exit: EXIT.USAGE, withinMs: 15_000 },
  {
    name: 'a 1 MB URL with a secret',
    args: ['config', 'get'],
    env: {
      LLMSPELL_STORAGE_POSTGRES_URL: `postgresql://app:${SECRET}@h/${HUGE}`,
      LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: 'x',
    },
    exit: EXIT.USAGE,
    secrets: [SECRET],
    withinMs: 15_000,
  },
  {
    name: 'a catastrophic tenant_id_pattern is refused quickly',
    args: ['config', 'validate'],
    files: toml(
      '[storage.postgres]\ntenant_id_pattern = "^(a+)+$"\ndefault_tenant_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"\n',
    ),
    exit: EXIT.USAGE,
    says: /backtrack|catastroph/i,
    withinMs: 15_000,
  },
  {
    name: 'config unset fixes a catastrophic tenant_id_pattern',
    args: ['config', 'unset', 'storage.postgres.tenant_id_pattern'],
    files: toml('[storage.postgres]\ntenant_id_pattern = "^(a+)+$"\n'),
    exit: EXIT.OK,
    writes: true,
    withinMs: 15_000,
  },
];

const pathCases: Case[] = [
  {
    name: 'storage.embedded.path "~/pgdata" is the home directory, printed absolute, and nothing is created',
    args: ['database', 'migrate', '--dry-run'],
    files: toml('[storage.embedded]\npath = "~/pgdata"\n'),
    exit: EXIT.OK,
    says: /\/home\/pgdata \(not created yet\)/,
  },
  {
    name: 'LLMSPELL_STORAGE_EMBEDDED_PATH "~" in a read-only command creates nothing',
    args: ['database', 'migration-status'],
    env: { LLMSPELL_STORAGE_EMBEDDED_PATH: '~/data/pg' },
    exit: EXIT.PENDING,
    says: /\/home\/data\/pg \(not created yet\)/,
  },
  {
    name: 'storage.embedded.path "~bob/pgdata" is refused: another user’s home is not expanded',
    args: ['database', 'migrate'],
    files: toml('[storage.embedded]\npath = "~bob/pgdata"\n'),
    exit: EXIT.USAGE,
    says: /~user/,
  },
];

/** Found by red-teaming (2026-12-02): each failed before its fix. */
const redTeamCases: Case[] = [
  ...[
    ['config set', ['config', 'set', 'storage.postgres.url', 'postgresql://u:Hunter2 xyzzy-Pw@h/db']],
    [
      'config set --json',
      ['--json', 'config', 'set', 'storage.postgres.url', 'postgresql://u@h/db?password=Hunter2 xyzzy-Pw'],
    ],
    ['config get of a key that is a URL', ['config', 'get', 'postgresql://u:Hunter2 xyzzy-Pw@h/db']],
  ].map(([what, args]): Case => ({
    name: `a password with a space is masked whole by ${what as string}`,
    args: args as string[],
    exit: (what as string).startsWith('config get') ? EXIT.USAGE : EXIT.OK,
    writes: !(what as string).startsWith('config get'),
    secrets: ['Hunter2', 'xyzzy-Pw'],
  })),
  {
    name: 'config set --json of a URL reports the masked value itself, not its TOML text',
    args: ['--json', 'config', 'set', 'storage.postgres.url', `postgresql://u:${SECRET}@h/db?sslpassword=k`],
    exit: EXIT.OK,
    writes: true,
    says: /"value": "postgresql:\/\/u:\*\*\*@h\/db\?sslpassword=\*\*\*",\n\s+"previous": null/,
    secrets: [SECRET],
  },
  {
    name: 'migrate --to an unknown name creates no database',
    args: ['database', 'migrate', '--to', 'abc'],
    exit: EXIT.USAGE,
    says: /no migration "abc"[\s\S]*0 \(before the first\)/,
  },
  {
    name: 'migrate --migrations-dir that does not exist is a usage error and creates no database',
    args: ['database', 'migrate', '--migrations-dir', '/nonexistent/llmspell-migrations'],
    exit: EXIT.USAGE,
    says: /--migrations-dir \/nonexistent\/llmspell-migrations: cannot read it \(ENOENT\)/,
  },
  {
    name: 'rollback with nothing to roll back does not call itself a dry run',
    args: ['database', 'rollback', '--to', '3'],
    exit: EXIT.OK,
    says: /^Nothing to roll back \(/m,
  },
  {
    name: 'a terminal escape in an unknown key is shown escaped',
    args: ['config', 'get', '\u001b[31mred'],
    exit: EXIT.USAGE,
    says: /unknown config key \\u001b\[31mred/,
  },
  {
    name: 'a terminal escape in a TOML syntax-error excerpt is shown escaped',
    args: ['config', 'get'],
    files: toml('[storage.postgres]\npool_size = 5 \u001b[2J\u0007\n'),
    exit: EXIT.USAGE,
    says: /\\u001b\[2J\\u0007/,
  },
  {
    name: '--json target of a database not created yet is the bare path',
    args: ['--json', 'database', 'migrate', '--dry-run'],
    exit: EXIT.OK,
    says: /"target": "\/[^"(]*\/pgdata",/,
  },
  {
    name: 'a Unix-socket URL with a user and no host is accepted, as libpq does',
    args: ['config', 'set', 'storage.postgres.url', 'postgresql://app@/llmspell?host=/var/run/postgresql'],
    exit: EXIT.OK,
    writes: true,
  },
  {
    name: 'a choice in an environment variable is trimmed, as numbers and booleans are',
    args: ['config', 'get', 'storage.backend'],
    env: { LLMSPELL_STORAGE_BACKEND: ' memory ' },
    exit: EXIT.OK,
    says: /^memory$/m,
  },
  { name: '--config with an empty path is a usage error', args: ['--config', '', 'config', 'get'], exit: EXIT.USAGE },
  {
    name: 'a relative storage.embedded.path in the file is taken from the file’s directory',
    args: ['database', 'migrate', '--dry-run'],
    files: toml('[storage.embedded]\npath = "rel/db"\n'),
    exit: EXIT.OK,
    says: /\/home\/\.config\/llmspell\/rel\/db \(not created yet\)/,
  },
  {
    name: 'a blank storage.embedded.path is refused, saying so',
    args: ['--set', 'storage.embedded.path= ', 'database', 'migrate', '--dry-run'],
    exit: EXIT.USAGE,
    says: /must name a directory; it is empty or blank/,
  },
  {
    name: 'health-check with an unusable sslmode is a configuration error, not "unreachable"',
    args: [
      '--backend',
      'postgres',
      '--database-url',
      'postgresql://u@127.0.0.1:1/db?sslmode=nope',
      'database',
      'health-check',
    ],
    exit: EXIT.USAGE,
    says: /^error: /m,
  },
];

const DATA = '.local/share/llmspell/pgdata';
const dataDirCases: Case[] = (
  [
    ['a directory of other files', { [`${DATA}/notes.txt`]: 'mine' }, /not empty and not a database/],
    [
      'a database without PG_VERSION',
      { [`${DATA}/base/1/1259`]: 'x', [`${DATA}/global/pg_control`]: 'x' },
      /PG_VERSION/,
    ],
    ['a file where the directory should be', { [DATA]: 'a file' }, /is a file/],
  ] as Array<[string, Record<string, string>, RegExp]>
).flatMap(([state, files, says]) =>
  [
    ['database', 'migrate'],
    ['database', 'migration-status'],
    ['database', 'health-check'],
    ['database', 'maintain'],
    ['database', 'rollback', '--to', '0', '--yes'],
  ].map((args): Case => ({
    name: `${args.slice(0, 2).join(' ')} on ${state}`,
    args,
    files,
    exit: EXIT.UNREACHABLE,
    says,
  })),
);

const CASES: Case[] = [
  ...perKey,
  ...secretCases,
  ...tomlSecretCases,
  ...urlCases,
  ...usageCases,
  ...limitCases,
  ...pathCases,
  ...redTeamCases,
  ...dataDirCases,
];

describe(`the bad-input corpus (${CASES.length} cases)`, () => {
  it('has at least 150 cases, every name unique', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(150);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it('is the size the README states', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`**${CASES.length} cases**`);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const dir = await mkdtemp(join(tmpdir(), 'llmspell-test-corpus-'));
    try {
      const home = join(dir, 'home');
      await mkdir(home, { recursive: true });
      for (const d of c.dirs ?? []) await mkdir(join(home, d), { recursive: true });
      for (const [path, content] of Object.entries(c.files ?? {})) {
        await mkdir(dirname(join(home, path)), { recursive: true });
        await writeFile(join(home, path), content);
        await chmod(join(home, path), 0o600);
      }
      const before = await diskSnapshot(dir);
      const started = Date.now();
      const run = await runCliInProcess(c.args, { dir, env: { XDG_CONFIG_HOME: '', ...c.env } });
      const ms = Date.now() - started;
      const output = `${run.stdout}\n${run.stderr}`;
      expect(run.code, output.slice(0, 2000)).toBe(c.exit);
      if (!c.writes) expect(await diskSnapshot(dir)).toEqual(before);
      for (const secret of c.secrets ?? []) {
        expect(output).not.toContain(secret);
        expect(output).not.toContain(encodeURIComponent(secret));
      }
      if (c.says) expect(output).toMatch(c.says);
      expect(ms).toBeLessThan(c.withinMs ?? 10_000);
      // No stack trace unless --verbose asked for one.
      if (!c.args.includes('--verbose')) expect(output).not.toMatch(/\n\s+at \S+ \(\S+:\d+:\d+\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
