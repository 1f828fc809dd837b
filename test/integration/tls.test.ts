/**
 * sslmode with libpq's meaning, against real servers: three test PostgreSQL 18 servers with TLS
 * (a self-signed certificate; one signed by a test CA, with client certificates and pg_hba.conf
 * lines that need or refuse TLS; an expired one) and the run's server, which has no TLS.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/paths.js';
import { openDatabase } from '../../src/db/open.js';
import { LlmspellError } from '../../src/errors.js';
import { healthCheck } from '../../src/health/health-check.js';
import { migrationOptions, openMigrationDatabase } from '../../src/migrate/connect.js';
import { migrate } from '../../src/migrate/run.js';
import { findPgBouncer, pgBouncerFor, type PgBouncer } from '../helpers/pgbouncer.js';
import { serverAdminUrl } from '../helpers/postgres.js';
import { startPostgresServer, type PostgresServer } from '../helpers/postgres-server.js';
import { testSettings } from '../helpers/settings.js';
import { createTestCertificates, tlsServerSettings, writeHbaFile, type TestCertificates } from '../helpers/tls.js';

let certs: TestCertificates;
/** A HOME without ~/.postgresql, so that no default certificate of the machine takes part. */
let home: string;
let selfSigned: PostgresServer;
let signed: PostgresServer;
let expired: PostgresServer;
const PASSWORD = 'tls-test-password';

beforeAll(async () => {
  certs = await createTestCertificates();
  home = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-home-'));
  const hba = await writeHbaFile(certs.dir, 'pg_hba.conf', [
    'local all all scram-sha-256',
    'hostssl all certuser 127.0.0.1/32 cert',
    'hostssl all tlsonly 127.0.0.1/32 scram-sha-256',
    'hostnossl all plainonly 127.0.0.1/32 scram-sha-256',
    'host all postgres 127.0.0.1/32 scram-sha-256',
  ]);
  [selfSigned, signed, expired] = await Promise.all([
    startPostgresServer({ settings: tlsServerSettings(certs.selfSigned) }),
    startPostgresServer({ settings: tlsServerSettings(certs.signed, { caFile: certs.ca, hbaFile: hba }) }),
    startPostgresServer({ settings: tlsServerSettings(certs.expired) }),
  ]);
  const admin = new pg.Client({ connectionString: signed.url() });
  await admin.connect();
  for (const role of ['certuser', 'tlsonly', 'plainonly']) {
    // tlsonly migrates in a test below: a superuser, so it needs no further grants.
    const attributes = role === 'tlsonly' ? 'SUPERUSER' : '';
    await admin.query(`CREATE ROLE ${role} LOGIN ${attributes} PASSWORD ${pg.escapeLiteral(PASSWORD)}`);
  }
  await admin.end();
}, 120_000);

afterAll(async () => {
  await Promise.all([selfSigned?.stop(), signed?.stop(), expired?.stop()]);
  await certs?.remove();
  if (home) await rm(home, { recursive: true, force: true });
});

/** `url` with query parameters added and, optionally, another host name (certificates are for `localhost`). */
function withParams(url: string, params: Record<string, string>, host?: string): string {
  const parsed = new URL(url);
  if (host) parsed.hostname = host;
  for (const [name, value] of Object.entries(params)) parsed.searchParams.set(name, value);
  return parsed.toString();
}

function asUser(url: string, user: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = PASSWORD;
  return parsed.toString();
}

/** Connects with `url` as the library does and says whether the session is encrypted (pg_stat_ssl). */
async function sslOf(url: string, env: Env = {}): Promise<boolean> {
  const db = await openDatabase(testSettings({ backend: 'postgres', url, postgres: { pool_size: 1 } }), {
    env: { HOME: home, ...env },
  });
  try {
    const { rows } = await db.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]!.ssl;
  } finally {
    await db.close();
  }
}

/** The error connecting with `url` fails with (the test fails if it connects). */
async function failureOf(url: string, env: Env = {}): Promise<LlmspellError> {
  const error = await sslOf(url, env).then(
    () => new Error(`connected with ${url}`),
    (e: unknown) => e,
  );
  if (!(error instanceof LlmspellError)) throw error;
  expect(error.message).not.toContain(PASSWORD);
  return error;
}

describe('against a TLS server with a self-signed certificate for localhost', () => {
  const url = (params: Record<string, string>, host?: string) => withParams(selfSigned.url(), params, host);

  it.each([
    ['disable', false],
    ['allow', false],
    ['prefer', true],
    ['require', true],
  ])('sslmode=%s connects, encrypted: %s', async (mode, encrypted) => {
    expect(await sslOf(url({ sslmode: mode }))).toBe(encrypted);
  });

  it('prefer is the default: no sslmode encrypts when the server offers TLS', async () => {
    expect(await sslOf(selfSigned.url())).toBe(true);
  });

  it('verify-ca accepts the right root even by 127.0.0.1, a name the certificate is not for', async () => {
    expect(await sslOf(url({ sslmode: 'verify-ca', sslrootcert: certs.selfSigned.cert }))).toBe(true);
  });

  it('verify-full accepts the right root and the host name of the certificate', async () => {
    expect(await sslOf(url({ sslmode: 'verify-full', sslrootcert: certs.selfSigned.cert }, 'localhost'))).toBe(true);
  });

  it('verify-ca with a wrong root fails, saying the certificate is self-signed', async () => {
    const error = await failureOf(url({ sslmode: 'verify-ca', sslrootcert: certs.otherCa }));
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toMatch(/sslmode=verify-ca: the server certificate is self-signed/);
    expect(error.message).toContain(certs.otherCa);
    expect(error.hint).toMatch(/sslrootcert/);
  });

  it('verify-full by 127.0.0.1 fails, naming the host and the names the certificate has', async () => {
    const error = await failureOf(url({ sslmode: 'verify-full', sslrootcert: certs.selfSigned.cert }));
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toMatch(/sslmode=verify-full: the host name "127\.0\.0\.1" does not match/);
    expect(error.message).toContain('DNS:localhost');
    expect(error.hint).toMatch(/verify-ca/);
  });

  it('verify-full with a wrong root fails on the root before the host name', async () => {
    const error = await failureOf(url({ sslmode: 'verify-full', sslrootcert: certs.otherCa }, 'localhost'));
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toMatch(/sslmode=verify-full: the server certificate is self-signed/);
  });

  it('verify-ca and verify-full without any root certificate fail before connecting', async () => {
    for (const mode of ['verify-ca', 'verify-full']) {
      const error = await failureOf(url({ sslmode: mode }));
      expect(error.code).toBe('DB_UNREACHABLE');
      expect(error.message).toMatch(new RegExp(`sslmode=${mode}: no root certificate`));
    }
  });

  it('require with a root certificate checks the chain like verify-ca (as libpq does)', async () => {
    expect(await sslOf(url({ sslmode: 'require', sslrootcert: certs.selfSigned.cert }))).toBe(true);
    const error = await failureOf(url({ sslmode: 'require', sslrootcert: certs.otherCa }));
    expect(error.message).toMatch(/sslmode=require: the server certificate is self-signed/);
  });

  it('require takes ~/.postgresql/root.crt as its root when it exists', async () => {
    const withRoot = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-home-'));
    try {
      await mkdir(path.join(withRoot, '.postgresql'));
      await writeFile(path.join(withRoot, '.postgresql', 'root.crt'), await readFile(certs.otherCa, 'utf8'));
      const error = await failureOf(url({ sslmode: 'require' }), { HOME: withRoot });
      expect(error.message).toContain(path.join(withRoot, '.postgresql', 'root.crt'));
      // prefer does not verify, whatever root.crt holds
      expect(await sslOf(url({}), { HOME: withRoot })).toBe(true);
    } finally {
      await rm(withRoot, { recursive: true, force: true });
    }
  });

  it('reads PGSSLMODE and PGSSLROOTCERT, and a URL parameter wins over its variable', async () => {
    expect(await sslOf(selfSigned.url(), { PGSSLMODE: 'disable' })).toBe(false);
    expect(await sslOf(url({ sslmode: 'require' }), { PGSSLMODE: 'disable' })).toBe(true);
    const error = await failureOf(selfSigned.url(), { PGSSLMODE: 'verify-ca', PGSSLROOTCERT: certs.otherCa });
    expect(error.message).toMatch(/sslmode=verify-ca/);
    expect(
      await sslOf(url({ sslrootcert: certs.selfSigned.cert }), {
        PGSSLMODE: 'verify-ca',
        PGSSLROOTCERT: certs.otherCa,
      }),
    ).toBe(true);
  });

  it('an unknown sslmode is a configuration error naming the six modes, before any connection', async () => {
    for (const [target, env] of [
      [url({ sslmode: 'bogus' }), {}],
      [selfSigned.url(), { PGSSLMODE: 'bogus' }],
    ] as const) {
      const error = await failureOf(target, env);
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain('disable, allow, prefer, require, verify-ca, verify-full');
    }
  });
});

describe('against the run’s server, which has no TLS', () => {
  const url = (params: Record<string, string>) => withParams(serverAdminUrl(), params);

  it.each(['disable', 'allow', 'prefer'])('sslmode=%s connects in plaintext', async (mode) => {
    expect(await sslOf(url({ sslmode: mode }))).toBe(false);
  });

  it('no sslmode (prefer) falls back to plaintext', async () => {
    expect(await sslOf(serverAdminUrl())).toBe(false);
  });

  it.each([
    ['require', {}],
    ['verify-ca', { sslrootcert: 'CA' }],
    ['verify-full', { sslrootcert: 'CA' }],
  ])('sslmode=%s fails clearly', async (mode, extra) => {
    const params = { sslmode: mode, ...('sslrootcert' in extra ? { sslrootcert: certs.ca } : {}) };
    const error = await failureOf(url(params));
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toContain(`failed with sslmode=${mode}: the server does not offer TLS`);
    expect(error.hint).toMatch(/ssl = on/);
  });
});

describe('against a TLS server with a CA-signed certificate, client certificates and pg_hba rules', () => {
  const url = (user: string, params: Record<string, string>, host?: string) =>
    withParams(asUser(signed.url(), user), params, host);
  const client = (extra: Record<string, string> = {}) => ({
    sslrootcert: certs.ca,
    sslcert: certs.client.cert,
    sslkey: certs.client.key,
    ...extra,
  });

  it('verify-full accepts the CA-signed certificate for localhost; verify-ca by 127.0.0.1', async () => {
    expect(await sslOf(url('tlsonly', { sslmode: 'verify-full', sslrootcert: certs.ca }, 'localhost'))).toBe(true);
    expect(await sslOf(url('tlsonly', { sslmode: 'verify-ca', sslrootcert: certs.ca }))).toBe(true);
  });

  it('verify-ca and verify-full with a CA that did not sign it fail: not signed by the root given', async () => {
    for (const mode of ['verify-ca', 'verify-full']) {
      const error = await failureOf(url('tlsonly', { sslmode: mode, sslrootcert: certs.otherCa }, 'localhost'));
      expect(error.code).toBe('DB_UNREACHABLE');
      expect(error.message).toContain(`sslmode=${mode}: the server certificate is not signed by the root certificate`);
    }
  });

  it('allow: plaintext first, then TLS when pg_hba.conf accepts the user only with TLS', async () => {
    expect(await sslOf(url('tlsonly', { sslmode: 'allow' }))).toBe(true);
  });

  it('prefer: TLS first, then plaintext when pg_hba.conf accepts the user only without', async () => {
    expect(await sslOf(url('plainonly', { sslmode: 'prefer' }))).toBe(false);
  });

  it('disable and require fail where pg_hba.conf wants the other, saying which sslmode to use', async () => {
    const disabled = await failureOf(url('tlsonly', { sslmode: 'disable' }));
    expect(disabled.code).toBe('DB_AUTH_FAILED');
    expect(disabled.hint).toMatch(/without TLS \(sslmode=disable\).*use sslmode=require/);
    const required = await failureOf(url('plainonly', { sslmode: 'require' }));
    expect(required.code).toBe('DB_AUTH_FAILED');
    expect(required.hint).toMatch(/with TLS \(sslmode=require\).*hostnossl/);
  });

  it('a client certificate (sslcert, sslkey) logs in a cert user', async () => {
    expect(await sslOf(url('certuser', { sslmode: 'verify-full', ...client() }, 'localhost'))).toBe(true);
  });

  it('an encrypted client key opens with sslpassword', async () => {
    const params = client({ sslkey: certs.client.encryptedKey, sslpassword: certs.client.passphrase });
    expect(await sslOf(url('certuser', { sslmode: 'require', ...params }))).toBe(true);
  });

  it('a wrong or missing sslpassword, a missing sslcert file: clear errors before connecting', async () => {
    const wrong = await failureOf(
      url('certuser', { sslmode: 'require', ...client({ sslkey: certs.client.encryptedKey, sslpassword: 'nope' }) }),
    );
    expect(wrong.code).toBe('DB_UNREACHABLE');
    expect(wrong.message).toContain('wrong passphrase');
    const missing = await failureOf(
      url('certuser', { sslmode: 'require', ...client({ sslkey: certs.client.encryptedKey }) }),
    );
    expect(missing.message).toContain('is encrypted and no sslpassword was given');
    const noFile = await failureOf(
      url('certuser', { sslmode: 'require', ...client({ sslcert: '/nonexistent/client.crt' }) }),
    );
    expect(noFile.message).toContain('sslcert /nonexistent/client.crt does not exist');
    const mismatch = await failureOf(url('certuser', { sslmode: 'require', ...client({ sslkey: certs.signed.key }) }));
    expect(mismatch.message).toMatch(/is not the key of sslcert/);
  });

  it('takes ~/.postgresql/postgresql.crt and .key, and PGSSLCERT / PGSSLKEY', async () => {
    const withCert = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-home-'));
    try {
      await mkdir(path.join(withCert, '.postgresql'));
      await writeFile(path.join(withCert, '.postgresql', 'postgresql.crt'), await readFile(certs.client.cert, 'utf8'));
      await writeFile(path.join(withCert, '.postgresql', 'postgresql.key'), await readFile(certs.client.key, 'utf8'), {
        mode: 0o600,
      });
      expect(await sslOf(url('certuser', { sslmode: 'require' }), { HOME: withCert })).toBe(true);
    } finally {
      await rm(withCert, { recursive: true, force: true });
    }
    expect(
      await sslOf(url('certuser', { sslmode: 'require' }), {
        PGSSLCERT: certs.client.cert,
        PGSSLKEY: certs.client.key,
      }),
    ).toBe(true);
  });

  it('a cert user without a client certificate is refused, with a hint about sslcert', async () => {
    const error = await failureOf(url('certuser', { sslmode: 'require' }));
    expect(error.code).toBe('DB_AUTH_FAILED');
    expect(error.hint).toMatch(/sslcert and sslkey/);
  });

  it('migrate and healthCheck connect with sslmode=require (the user may only connect with TLS)', async () => {
    const target = url('tlsonly', { sslmode: 'require' });
    const settings = testSettings({
      backend: 'postgres',
      url: target,
      postgres: { vector_embeddings: { enabled: false } },
    });
    const db = await openMigrationDatabase(settings, { env: { HOME: home } });
    try {
      const result = await migrate(db, migrationOptions(settings));
      expect(result.done.length).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
    const report = await healthCheck(settings, { timeoutMs: 20_000, env: { HOME: home } });
    expect(report.status).not.toBe('unreachable');
    expect(report.checks.find((c) => c.id === 'connection')?.status).toBe('ok');
    // and against the server without TLS, require makes the report unreachable with the TLS reason
    const plain = await healthCheck(
      testSettings({ backend: 'postgres', url: withParams(serverAdminUrl(), { sslmode: 'require' }) }),
      {
        timeoutMs: 20_000,
        env: { HOME: home },
      },
    );
    expect(plain.status).toBe('unreachable');
    expect(plain.error?.message).toMatch(/sslmode=require: the server does not offer TLS/);
  });
});

describe('against a TLS server whose certificate has expired', () => {
  it('verify-ca fails, saying that it has expired; require still encrypts', async () => {
    const url = withParams(expired.url(), { sslmode: 'verify-ca', sslrootcert: certs.ca });
    const error = await failureOf(url);
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toMatch(/sslmode=verify-ca: the server certificate has expired/);
    expect(error.hint).toMatch(/Renew/);
    expect(await sslOf(withParams(expired.url(), { sslmode: 'require' }))).toBe(true);
  });
});

const bouncerBinary = await findPgBouncer();

describe.skipIf(!('path' in bouncerBinary))(
  'behind PgBouncer (which answers the SSLRequest itself, here without TLS)',
  () => {
    let bouncer: PgBouncer;
    let url: string;
    beforeAll(async () => {
      ({ bouncer, url } = await pgBouncerFor(serverAdminUrl(), { poolMode: 'session' }));
    });
    afterAll(async () => {
      await bouncer?.stop();
    });

    it('prefer falls back to plaintext; require fails clearly', async () => {
      expect(await sslOf(url)).toBe(false);
      const error = await failureOf(withParams(url, { sslmode: 'require' }));
      expect(error.code).toBe('DB_UNREACHABLE');
      expect(error.message).toMatch(/sslmode=require: the server does not offer TLS/);
      expect(error.hint).toMatch(/client_tls_sslmode/);
    });
  },
);
