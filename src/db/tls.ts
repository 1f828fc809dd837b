/**
 * `sslmode` and the other TLS parameters with libpq's meaning, for every connection llmspell
 * makes (`pg` 8 gives `prefer`, `require` and `verify-ca` the meaning of `verify-full`, and no
 * `sslmode` the meaning of `disable`). The parameters are read here, removed from the URL handed
 * to `pg`, and turned into `pg`'s `ssl` option ({@link tlsPlan}); `prefer` and `allow` fall back
 * as {@link encryptionWanted} describes.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { Env } from '../config/paths.js';
import { isSslMode, parsePostgresUrl, sslModeProblem, TLS_PARAMETERS, type SslMode } from '../config/urls.js';
import { ConfigError } from '../errors.js';
import { DatabaseError, hbaWantsEncryption } from './errors.js';

/** The TLS parameters of a connection, resolved as libpq resolves them. */
export interface TlsParameters {
  /** `sslmode`, else `PGSSLMODE`, else `prefer` (`verify-full` when `sslrootcert=system`). */
  mode: SslMode;
  /**
   * `sslrootcert`, else `PGSSLROOTCERT`, else `~/.postgresql/root.crt` when that file exists: a
   * file of trusted root certificates, or `system` for Node's trusted roots.
   */
  rootCert?: string;
  /** `sslcert`, else `PGSSLCERT`, else `~/.postgresql/postgresql.crt` when that file exists. */
  cert?: string;
  /** `sslkey`, else `PGSSLKEY`, else `~/.postgresql/postgresql.key` (when there is a certificate). */
  key?: string;
  /** `sslpassword`: the passphrase of an encrypted `sslkey`. */
  password?: string;
}

/**
 * Reads the TLS parameters of `url` as libpq does: a URL parameter wins over its environment
 * variable (`PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`), which wins over libpq's default
 * files under `~/.postgresql/` (used only when they exist). Throws a `ConfigError` for an unknown
 * `sslmode` and for `sslrootcert=system` with a mode weaker than `verify-full` (libpq 16 refuses it).
 *
 * @example
 * tlsParameters('postgresql://db/x?sslmode=require', {}) // { mode: 'require' } (no ~/.postgresql/root.crt)
 */
export function tlsParameters(url: string, env: Env = process.env): TlsParameters {
  const query = parsePostgresUrl(url).searchParams;
  const param = (name: string, variable?: string): string | undefined =>
    query.get(name) || (variable ? env[variable] : undefined) || undefined;
  const dir = path.join(env.HOME || os.homedir(), '.postgresql');
  const ifExists = (file: string): string | undefined => (existsSync(file) ? file : undefined);

  const rootCert = param('sslrootcert', 'PGSSLROOTCERT') ?? ifExists(path.join(dir, 'root.crt'));
  const given = param('sslmode', 'PGSSLMODE');
  if (given !== undefined && !isSslMode(given)) {
    const message = sslModeProblem(given, query.has('sslmode') ? 'sslmode' : 'PGSSLMODE');
    throw new ConfigError('CONFIG_INVALID', message, { issues: [{ key: 'storage.postgres.url', message }] });
  }
  const mode = given ?? (rootCert === 'system' ? 'verify-full' : 'prefer');
  if (rootCert === 'system' && mode !== 'verify-full') {
    const message = `sslrootcert=system needs sslmode=verify-full, not ${mode}: the system's roots vouch for any host they signed a certificate for`;
    throw new ConfigError('CONFIG_INVALID', message, {
      issues: [{ key: 'storage.postgres.url', message }],
      hint: 'Use sslmode=verify-full (the default with sslrootcert=system), or give sslrootcert the file of your own CA.',
    });
  }
  const cert = param('sslcert', 'PGSSLCERT') ?? ifExists(path.join(dir, 'postgresql.crt'));
  const key = param('sslkey', 'PGSSLKEY') ?? (cert ? path.join(dir, 'postgresql.key') : undefined);
  const password = query.get('sslpassword') ?? undefined;
  return {
    mode,
    ...(rootCert ? { rootCert } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(password ? { password } : {}),
  };
}

/**
 * `url` without the TLS query parameters ({@link TLS_PARAMETERS}), byte for byte otherwise. They
 * must not reach `pg`: pg-connection-string would read the files itself and give `sslmode` its own
 * meaning, and what it parses from a connection string overrides the `ssl` option given beside it
 * (`ConnectionParameters` does `Object.assign(config, parse(connectionString))`).
 */
export function stripTlsParameters(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return url;
  const kept = url
    .slice(queryAt + 1)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=')[0] ?? '';
      return !(TLS_PARAMETERS as readonly string[]).includes(safeDecode(name));
    });
  return kept.length > 0 ? `${url.slice(0, queryAt)}?${kept.join('&')}` : url.slice(0, queryAt);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Whether a connection attempt is encrypted. */
export type Encryption = 'tls' | 'plain';

/** How the connections of one pool negotiate encryption, from {@link tlsPlan}. */
export interface TlsPlan {
  readonly mode: SslMode;
  /** The encryption tried first. */
  readonly first: Encryption;
  /** The other encryption, when the mode accepts it too (`prefer`, `allow`). */
  readonly fallback?: Encryption;
  /** `pg`'s `ssl` option for a TLS attempt; absent when no attempt uses TLS. */
  readonly options?: ConnectionOptions;
  /** What the server's certificate is checked against (a file or `system`); absent when it is not checked. */
  readonly rootCert?: string;
  /** Whether the host name is checked against the certificate (`verify-full`). */
  readonly checksHost: boolean;
}

/** Whether `plan` lets a connection use `encryption`. */
export function allows(plan: TlsPlan, encryption: Encryption): boolean {
  return plan.first === encryption || plan.fallback === encryption;
}

/**
 * Turns resolved parameters into `pg`'s `ssl` option and the order of attempts:
 *
 * | mode | attempts | server certificate |
 * |---|---|---|
 * | disable | plaintext | — |
 * | allow | plaintext, then TLS | not checked |
 * | prefer | TLS, then plaintext | not checked |
 * | require | TLS | checked like verify-ca when there is a root certificate, else not |
 * | verify-ca | TLS | chain checked against the root, host name not |
 * | verify-full | TLS | chain and host name |
 *
 * A client certificate goes with every TLS attempt. Over a Unix socket there is never TLS (the
 * server offers none there; libpq ignores sslmode). The files are read now, so that a missing or
 * unreadable file, a key that does not decrypt or does not belong to the certificate is reported
 * before any connection: a {@link DatabaseError} `DB_UNREACHABLE` naming `target`, the file and
 * what to change. Files are read once per pool: reopen the database after rotating them.
 */
export function tlsPlan(params: TlsParameters, target: string, socket = false): TlsPlan {
  const { mode } = params;
  if (socket || mode === 'disable') return { mode, first: 'plain', checksHost: false };
  const verifies = mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && !!params.rootCert);
  const options: ConnectionOptions = { rejectUnauthorized: verifies, ...clientCertificate(params, target) };
  if (verifies) {
    if (!params.rootCert) {
      throw fileError(
        target,
        mode,
        'no root certificate to check the server against: sslrootcert is not set and ~/.postgresql/root.crt does not exist',
        'Set sslrootcert to the CA certificate that signed the server certificate (or sslrootcert=system for public CAs, with verify-full), or use sslmode=require to encrypt without checking.',
      );
    }
    if (params.rootCert !== 'system') options.ca = readPem(params.rootCert, 'sslrootcert', target, mode);
    if (mode !== 'verify-full') options.checkServerIdentity = () => undefined;
  }
  return {
    mode,
    first: mode === 'allow' ? 'plain' : 'tls',
    ...(mode === 'allow' ? { fallback: 'tls' as const } : mode === 'prefer' ? { fallback: 'plain' as const } : {}),
    options,
    ...(verifies ? { rootCert: params.rootCert! } : {}),
    checksHost: mode === 'verify-full',
  };
}

function fileError(target: string, mode: SslMode, why: string, hint: string, cause?: unknown): DatabaseError {
  return new DatabaseError('DB_UNREACHABLE', `cannot connect to ${target} with sslmode=${mode}: ${why}`, {
    hint,
    ...(cause ? { cause } : {}),
  });
}

/** The text of a PEM file, checked to hold at least one certificate. */
function readPem(file: string, parameter: 'sslrootcert' | 'sslcert', target: string, mode: SslMode): string {
  const text = readParameterFile(file, parameter, target, mode);
  try {
    new X509Certificate(text);
  } catch (error) {
    throw fileError(
      target,
      mode,
      `${parameter} ${file} holds no PEM certificate`,
      `Point ${parameter} at a PEM file (-----BEGIN CERTIFICATE-----).`,
      error,
    );
  }
  return text;
}

function readParameterFile(file: string, parameter: string, target: string, mode: SslMode): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : String(code);
    throw fileError(
      target,
      mode,
      `${parameter} ${file} ${why}`,
      `Fix ${parameter} (or its PG* variable) or the file's permissions.`,
      error,
    );
  }
}

const PASSPHRASE_HINT = 'Give the passphrase of the key as sslpassword in the URL, or point sslkey at the right key.';

/** `cert`, `key` and `passphrase` of the client certificate, checked to belong together. */
function clientCertificate(
  params: TlsParameters,
  target: string,
): Pick<ConnectionOptions, 'cert' | 'key' | 'passphrase'> {
  if (!params.cert) return {};
  const { mode } = params;
  const cert = readPem(params.cert, 'sslcert', target, mode);
  const keyFile = params.key!;
  if (!existsSync(keyFile)) {
    throw fileError(
      target,
      mode,
      `the client certificate ${params.cert} has no private key: ${keyFile} does not exist`,
      'Set sslkey to the key of sslcert.',
    );
  }
  const key = readParameterFile(keyFile, 'sslkey', target, mode);
  if (!params.password && /BEGIN ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(key)) {
    throw fileError(target, mode, `sslkey ${keyFile} is encrypted and no sslpassword was given`, PASSPHRASE_HINT);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key, ...(params.password ? { passphrase: params.password } : {}) });
  } catch (error) {
    const why = /bad decrypt/i.test(String((error as Error).message))
      ? `sslpassword does not decrypt sslkey ${keyFile} (wrong passphrase)`
      : `sslkey ${keyFile} is not a private key`;
    throw fileError(target, mode, why, PASSPHRASE_HINT, error);
  }
  if (!new X509Certificate(cert).checkPrivateKey(keyObject)) {
    throw fileError(
      target,
      mode,
      `sslkey ${keyFile} is not the key of sslcert ${params.cert}`,
      'Set sslkey to the private key the client certificate was issued for.',
    );
  }
  return { cert, key, ...(params.password ? { passphrase: params.password } : {}) };
}

/**
 * What a failed connection attempt says the server wants instead, when the failure was only about
 * encryption: `plain` when it answered the SSLRequest with "no TLS here" (a server without
 * `ssl = on`, PgBouncer without `client_tls_sslmode`) or its pg_hba.conf has no line for this
 * user with TLS (`hostnossl`); `tls` when pg_hba.conf has a line only for TLS (`hostssl`).
 * `undefined` for any other failure.
 *
 * This is what `prefer` and `allow` fall back on (src/db/postgres-source.ts): `pg` cannot change
 * TLS settings within one connection, so the attempt fails and the pool connects again the other
 * way, and keeps to it for later connections. Unlike libpq, other startup errors (a wrong
 * password) are not retried with the other encryption: that would double failed logins for no
 * gain unless pg_hba.conf gives hostssl and hostnossl different methods for the same user.
 */
export function encryptionWanted(error: unknown): Encryption | undefined {
  const { message, code } = (typeof error === 'object' && error !== null ? error : {}) as {
    message?: unknown;
    code?: unknown;
  };
  const text = String(message ?? '');
  if (text === 'The server does not support SSL connections') return 'plain';
  return code === '28000' ? hbaWantsEncryption(text) : undefined;
}
