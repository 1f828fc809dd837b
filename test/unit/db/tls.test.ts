import { mkdir, mkdtemp, rm, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toDatabaseError } from '../../../src/db/errors.js';
import {
  encryptionWanted,
  stripTlsParameters,
  tlsParameters,
  tlsPlan,
  type TlsParameters,
} from '../../../src/db/tls.js';
import { ConfigError, LlmspellError } from '../../../src/errors.js';
import { createTestCertificates, type TestCertificates } from '../../helpers/tls.js';

let certs: TestCertificates;
let emptyHome: string;
let fullHome: string;

beforeAll(async () => {
  certs = await createTestCertificates();
  emptyHome = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-home-'));
  fullHome = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-home-'));
  await mkdir(path.join(fullHome, '.postgresql'));
  await copyFile(certs.ca, path.join(fullHome, '.postgresql', 'root.crt'));
  await copyFile(certs.client.cert, path.join(fullHome, '.postgresql', 'postgresql.crt'));
  await copyFile(certs.client.key, path.join(fullHome, '.postgresql', 'postgresql.key'));
}, 60_000);
afterAll(async () => {
  await certs?.remove();
  for (const dir of [emptyHome, fullHome]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tlsParameters', () => {
  const base = 'postgresql://app@db/llmspell';

  it('defaults to prefer, with no files when ~/.postgresql has none', () => {
    expect(tlsParameters(base, { HOME: emptyHome })).toEqual({ mode: 'prefer' });
  });

  it('takes libpq’s default files under ~/.postgresql when they exist', () => {
    const dir = path.join(fullHome, '.postgresql');
    expect(tlsParameters(base, { HOME: fullHome })).toEqual({
      mode: 'prefer',
      rootCert: path.join(dir, 'root.crt'),
      cert: path.join(dir, 'postgresql.crt'),
      key: path.join(dir, 'postgresql.key'),
    });
  });

  it('reads PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY; a URL parameter wins over its variable', () => {
    const env = {
      HOME: emptyHome,
      PGSSLMODE: 'require',
      PGSSLROOTCERT: '/env/ca',
      PGSSLCERT: '/env/c',
      PGSSLKEY: '/env/k',
    };
    expect(tlsParameters(base, env)).toEqual({ mode: 'require', rootCert: '/env/ca', cert: '/env/c', key: '/env/k' });
    const url = `${base}?sslmode=verify-full&sslrootcert=/url/ca&sslcert=/url/c&sslkey=/url/k&sslpassword=pw`;
    expect(tlsParameters(url, env)).toEqual({
      mode: 'verify-full',
      rootCert: '/url/ca',
      cert: '/url/c',
      key: '/url/k',
      password: 'pw',
    });
  });

  it('an sslcert without sslkey takes the key from ~/.postgresql/postgresql.key, as libpq', () => {
    expect(tlsParameters(`${base}?sslcert=/c.crt`, { HOME: emptyHome }).key).toBe(
      path.join(emptyHome, '.postgresql', 'postgresql.key'),
    );
  });

  it('sslrootcert=system makes verify-full the default and refuses weaker modes', () => {
    expect(tlsParameters(`${base}?sslrootcert=system`, { HOME: emptyHome }).mode).toBe('verify-full');
    expect(() => tlsParameters(`${base}?sslrootcert=system&sslmode=require`, { HOME: emptyHome })).toThrow(
      /sslrootcert=system needs sslmode=verify-full, not require/,
    );
  });

  it('an unknown sslmode (URL or PGSSLMODE) is a ConfigError', () => {
    expect(() => tlsParameters(`${base}?sslmode=maybe`, {})).toThrow(ConfigError);
    expect(() => tlsParameters(base, { PGSSLMODE: 'maybe' })).toThrow(/PGSSLMODE must be one of/);
  });
});

describe('stripTlsParameters', () => {
  it.each([
    ['postgresql://db/x', 'postgresql://db/x'],
    ['postgresql://db/x?sslmode=require', 'postgresql://db/x'],
    [
      'postgresql://u:p@db/x?application_name=a&sslmode=require&sslrootcert=%2Fca&options=-c%20x%3D1&sslpassword=s',
      'postgresql://u:p@db/x?application_name=a&options=-c%20x%3D1',
    ],
    ['postgresql://db/x?%73slmode=disable&port=6432', 'postgresql://db/x?port=6432'],
  ])('%s → %s', (url, stripped) => {
    expect(stripTlsParameters(url)).toBe(stripped);
  });
});

describe('tlsPlan', () => {
  const target = 'postgresql://app@db/llmspell';
  const plan = (params: TlsParameters, socket = false) => tlsPlan(params, target, socket);

  it('disable: plaintext only; over a Unix socket every mode is plaintext (libpq ignores sslmode there)', () => {
    expect(plan({ mode: 'disable' })).toEqual({ mode: 'disable', first: 'plain', checksHost: false });
    expect(plan({ mode: 'verify-full', rootCert: certs.ca }, true)).toMatchObject({ first: 'plain' });
    expect(plan({ mode: 'verify-full', rootCert: certs.ca }, true).fallback).toBeUndefined();
  });

  it('allow: plaintext, then unverified TLS; prefer: unverified TLS, then plaintext (even with a root)', () => {
    expect(plan({ mode: 'allow' })).toMatchObject({
      first: 'plain',
      fallback: 'tls',
      options: { rejectUnauthorized: false },
    });
    const prefer = plan({ mode: 'prefer', rootCert: certs.ca });
    expect(prefer).toMatchObject({ first: 'tls', fallback: 'plain', options: { rejectUnauthorized: false } });
    expect(prefer.options?.ca).toBeUndefined();
    expect(prefer.rootCert).toBeUndefined();
  });

  it('require: TLS without verification, or like verify-ca when there is a root certificate', () => {
    const bare = plan({ mode: 'require' });
    expect(bare).toMatchObject({ first: 'tls', options: { rejectUnauthorized: false } });
    expect(bare.fallback).toBeUndefined();
    const rooted = plan({ mode: 'require', rootCert: certs.ca });
    expect(rooted).toMatchObject({ rootCert: certs.ca, checksHost: false, options: { rejectUnauthorized: true } });
    expect(rooted.options?.ca).toContain('BEGIN CERTIFICATE');
    expect(rooted.options?.checkServerIdentity?.('other.example', {} as never)).toBeUndefined();
  });

  it('verify-ca checks the chain only; verify-full the chain and the host (Node’s own check)', () => {
    const ca = plan({ mode: 'verify-ca', rootCert: certs.ca });
    expect(ca.options).toMatchObject({ rejectUnauthorized: true });
    expect(typeof ca.options?.checkServerIdentity).toBe('function');
    const full = plan({ mode: 'verify-full', rootCert: certs.ca });
    expect(full).toMatchObject({ checksHost: true, options: { rejectUnauthorized: true } });
    expect(full.options?.checkServerIdentity).toBeUndefined();
  });

  it('sslrootcert=system leaves Node its trusted roots', () => {
    const system = plan({ mode: 'verify-full', rootCert: 'system' });
    expect(system.options).toMatchObject({ rejectUnauthorized: true });
    expect(system.options?.ca).toBeUndefined();
  });

  it('sends the client certificate with every TLS attempt, decrypting the key with sslpassword', () => {
    const encrypted = { cert: certs.client.cert, key: certs.client.encryptedKey, password: certs.client.passphrase };
    const options = plan({ mode: 'prefer', ...encrypted }).options!;
    expect(options.cert).toContain('BEGIN CERTIFICATE');
    expect(options.key).toContain('ENCRYPTED PRIVATE KEY');
    expect(options.passphrase).toBe(certs.client.passphrase);
  });

  it.each([
    [{ mode: 'verify-ca' } as TlsParameters, /no root certificate to check the server against/],
    [
      { mode: 'verify-full', rootCert: '/nonexistent/ca.crt' } as TlsParameters,
      /sslrootcert \/nonexistent\/ca.crt does not exist/,
    ],
    [{ mode: 'verify-full', rootCert: '' } as TlsParameters, /no root certificate/],
    [
      { mode: 'require', cert: '/nonexistent/c.crt', key: '/k' } as TlsParameters,
      /sslcert \/nonexistent\/c.crt does not exist/,
    ],
  ])('refuses %j before connecting', (params, why) => {
    let error: unknown;
    try {
      plan(params);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LlmspellError);
    expect((error as LlmspellError).code).toBe('DB_UNREACHABLE');
    expect((error as LlmspellError).message).toMatch(why);
    expect((error as LlmspellError).message).toContain(`cannot connect to ${target} with sslmode=${params.mode}`);
  });

  it('a root file without a certificate, a key that is not the certificate’s: refused', () => {
    expect(() => plan({ mode: 'verify-ca', rootCert: certs.signed.key })).toThrow(/holds no PEM certificate/);
    expect(() => plan({ mode: 'require', cert: certs.client.cert, key: certs.selfSigned.key })).toThrow(
      /is not the key of sslcert/,
    );
  });
});

describe('encryptionWanted', () => {
  const hba = (tail: string) =>
    Object.assign(new Error(`no pg_hba.conf entry for host "10.0.0.1", user "app", database "x", ${tail}`), {
      code: '28000',
    });

  it.each([
    [new Error('The server does not support SSL connections'), 'plain'],
    [hba('no encryption'), 'tls'],
    [hba('SSL off'), 'tls'],
    [hba('SSL encryption'), 'plain'],
    [hba('SSL on'), 'plain'],
    [Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }), undefined],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), undefined],
  ])('%s → %s', (error, wanted) => {
    expect(encryptionWanted(error)).toBe(wanted);
  });
});

describe('TLS failures as DatabaseError', () => {
  const target = 'postgresql://app:***@db/llmspell';
  const tlsError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it.each([
    ['CERT_NOT_YET_VALID', 'certificate is not yet valid', /not valid yet/],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required', /TLS handshake failed/],
  ])('%s: DB_UNREACHABLE naming the mode', (code, message, why) => {
    const error = toDatabaseError(tlsError(code, message), target, { sslmode: 'verify-full', sslrootcert: '/ca.crt' });
    expect(error.code).toBe('DB_UNREACHABLE');
    expect(error.message).toMatch(new RegExp(`^TLS connection to .* failed with sslmode=verify-full: `));
    expect(error.message).toMatch(why);
  });

  it('a host-name mismatch names the host and the certificate’s names', () => {
    const error = toDatabaseError(
      Object.assign(tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), {
        host: 'db.internal',
        cert: { subjectaltname: 'DNS:db.example.com, DNS:db2.example.com' },
      }),
      target,
      { sslmode: 'verify-full' },
    );
    expect(error.message).toBe(
      `TLS connection to ${target} failed with sslmode=verify-full: the host name "db.internal" does not match the server certificate, which is for DNS:db.example.com, DNS:db2.example.com`,
    );
    expect(error.hint).toContain('sslmode=verify-ca');
  });
});
