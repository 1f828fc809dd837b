import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import type { Env } from './paths.js';
import { redactConnectionString } from './redact.js';

/** libpq's `sslmode` values, from no TLS to a fully verified one. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/** One of {@link SSL_MODES}. */
export type SslMode = (typeof SSL_MODES)[number];

/** Whether `value` is one of libpq's six `sslmode` values. */
export function isSslMode(value: string): value is SslMode {
  return (SSL_MODES as readonly string[]).includes(value);
}

/** Why a value is not an `sslmode`, naming the six that are. */
export function sslModeProblem(value: string, source = 'sslmode'): string {
  const pgOnly = value === 'no-verify' ? ' (no-verify is node-postgres’s own; libpq’s equivalent is require)' : '';
  return `${source} must be one of ${SSL_MODES.join(', ')}, not ${JSON.stringify(value)}${pgOnly}`;
}

/** TLS query parameters that llmspell implements itself (src/db/tls.ts) and never hands to `pg`. */
export const TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'sslcompression'] as const;

/**
 * TLS parameters of libpq or node-postgres that llmspell does not implement: refused rather than
 * silently ignored, since each would weaken or change what the connection checks.
 */
const UNSUPPORTED_TLS_PARAMETERS: Readonly<Record<string, string>> = {
  ssl: 'use sslmode instead (ssl=true is node-postgres’s own parameter)',
  uselibpqcompat: 'not needed: sslmode already has libpq’s meaning here',
  sslnegotiation: 'not supported: llmspell always negotiates TLS with an SSLRequest',
  sslcrl: 'certificate revocation lists are not supported',
  sslcrldir: 'certificate revocation lists are not supported',
  sslcertmode: 'not supported: a client certificate is sent when sslcert (or ~/.postgresql/postgresql.crt) is there',
  sslsni: 'not supported: SNI is always sent for host names',
  ssl_min_protocol_version: 'not supported: Node allows TLS 1.2 and 1.3',
  ssl_max_protocol_version: 'not supported: Node allows TLS 1.2 and 1.3',
  requiressl: 'use sslmode=require instead',
  gssencmode: 'GSSAPI encryption is not supported',
};

/** Percent-encodings of the characters that end the credentials part of a URL early. */
const ENCODED: Readonly<Record<string, string>> = { '@': '%40', '/': '%2F', '#': '%23', '?': '%3F' };

/**
 * A character of the user name or password that was not percent-encoded and makes the URL parse
 * wrongly: a second `@` in the authority (libpq splits at the first one, WHATWG at the last), or a
 * `/`, `?` or `#` before the `@` (the host would end there: "host not found" for a host that looks
 * right). `rest` is the URL after `scheme://`.
 */
function unencodedCredential(rest: string): { char: string; part: 'user name' | 'password' } | undefined {
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const extra = userinfo.indexOf('@');
    if (extra < 0) return undefined;
    const colon = userinfo.indexOf(':');
    return { char: '@', part: colon >= 0 && colon < extra ? 'password' : 'user name' };
  }
  // No `@` in the authority but one further on, not inside a `key=value` query: the authority
  // ended at a `/`, `?` or `#` of the password (`user:pa/ss@host/db`).
  if (end < 0 || !authority.includes(':')) return undefined;
  const later = rest.indexOf('@', end);
  if (later < 0 || rest.slice(end, later).includes('=') || !/^[^@/?#]+/.test(rest.slice(later + 1))) return undefined;
  return { char: rest[end]!, part: 'password' };
}

const HOST_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/;

function portProblem(port: string, source: string): string | undefined {
  const value = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  return value >= 1 && value <= 65535 ? undefined : `${source} ${JSON.stringify(port)} is not a port (1 to 65535)`;
}

/** Where the host of `url` would start when credentials precede an empty one (`app@/db`), or -1. */
function emptyHostAt(url: string): number {
  const sep = url.indexOf('://') + 3;
  if (sep < 3) return -1;
  const authorityEnd = url.slice(sep).search(/[/?#]|$/) + sep;
  return authorityEnd > sep && url[authorityEnd - 1] === '@' ? authorityEnd : -1;
}

/**
 * A connection URL parsed by the WHATWG parser, for its query: credentials before an empty host
 * (`postgresql://app@/db?host=/var/run/postgresql`, a Unix socket), which libpq accepts and the
 * parser alone refuses, are read with the placeholder host `localhost` (the `host` parameter is
 * then what names the server). Throws for anything else the parser refuses.
 */
export function parsePostgresUrl(url: string): URL {
  const at = emptyHostAt(url);
  return new URL(at < 0 ? url : `${url.slice(0, at)}localhost${url.slice(at)}`);
}

/**
 * What is wrong with `url` as a PostgreSQL connection URL, in words (never the password), or
 * `undefined` when it is usable: a `postgres://` or `postgresql://` URL with a host (or a socket
 * directory in `?host=`, as libpq allows), a port from 1 to 65535, credentials whose `@ / # ?`
 * are percent-encoded, a valid `sslmode` and `connect_timeout`, and no TLS parameter llmspell
 * does not implement. Pure: the config schema calls it for every URL key.
 *
 * @example
 * postgresUrlProblem('postgresql://me@corp@db/llmspell') // 'the user name contains an unencoded "@", …'
 * postgresUrlProblem('postgresql://app@db:5432/llmspell') // undefined
 */
export function postgresUrlProblem(url: string): string | undefined {
  const scheme = /^postgres(?:ql)?:\/\//i.exec(url);
  if (!scheme) return 'it must start with postgresql:// (or postgres://)';
  const rest = url.slice(scheme[0].length);
  const unencoded = unencodedCredential(rest);
  if (unencoded) {
    return `the ${unencoded.part} contains an unencoded "${unencoded.char}", which must be percent-encoded as ${ENCODED[unencoded.char]} (otherwise the URL names another host)`;
  }
  let parsed: URL;
  try {
    parsed = parsePostgresUrl(url);
  } catch {
    const hostPort = (rest.split(/[/?#]/)[0] ?? '').split('@').pop() ?? '';
    const port = /^(?:\[[^\]]*\]|[^:[\]]*):(.*)$/.exec(hostPort)?.[1];
    const why = port === undefined ? undefined : portProblem(port, 'port');
    return why ?? 'it is not a valid URL (check the host name, and percent-encode special characters)';
  }
  const query = parsed.searchParams;
  let host: string;
  try {
    host = query.get('host') ?? (emptyHostAt(url) < 0 ? decodeURIComponent(parsed.hostname) : '');
  } catch {
    return `the host ${JSON.stringify(parsed.hostname)} is not valid percent-encoding`;
  }
  if (host === '')
    return 'it has no host: give one (postgresql://USER@HOST/DATABASE) or a socket directory (?host=/var/run/postgresql)';
  if (!host.startsWith('/')) {
    if (host.includes(',')) return `several hosts (${host}) are not supported: give one`;
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (!HOST_NAME.test(bare) && isIP(bare) === 0)
      return `the host ${JSON.stringify(host)} is not a host name or address`;
  }
  const port = query.get('port') ?? (parsed.port === '' ? undefined : parsed.port);
  if (port !== undefined) {
    const problem = portProblem(port, 'port');
    if (problem) return problem;
  }
  const sslmode = query.get('sslmode');
  if (sslmode !== null && !isSslMode(sslmode)) return sslModeProblem(sslmode);
  if (query.get('sslrootcert') === 'system' && sslmode !== null && sslmode !== 'verify-full') {
    return `sslrootcert=system needs sslmode=verify-full, not ${sslmode}`;
  }
  const timeout = query.get('connect_timeout');
  if (timeout !== null && !/^-?\d+$/.test(timeout)) {
    return `connect_timeout must be a whole number of seconds, not ${JSON.stringify(timeout)}`;
  }
  for (const name of query.keys()) {
    const why = UNSUPPORTED_TLS_PARAMETERS[name];
    if (why) return `the parameter ${name} is not supported: ${why}`;
  }
  return undefined;
}

/**
 * `connect_timeout` of a URL in seconds as libpq reads it: absent, 0 or negative means no limit
 * of its own (`undefined`), and values below 2 are raised to 2.
 *
 * @example
 * connectTimeoutSecs('postgresql://db/x?connect_timeout=1') // 2
 */
export function connectTimeoutSecs(url: string): number | undefined {
  const value = Number.parseInt(parsePostgresUrl(url).searchParams.get('connect_timeout') ?? '', 10);
  return Number.isFinite(value) && value > 0 ? Math.max(2, value) : undefined;
}

/** Options of {@link checkPostgresUrl}. */
export interface CheckPostgresUrlOptions {
  /** Environment to read `PGSSLMODE` from; default `process.env`. */
  env?: Env;
  /** Where the value came from, as users name it (`LLMSPELL_STORAGE_POSTGRES_URL`, a file path). */
  origin?: string;
}

/** `key (from ORIGIN)`, or `key` alone. */
function keyLabel(key: string, origin: string | undefined): string {
  return origin ? `${key} (from ${origin})` : key;
}

/**
 * Checks that a URL is one llmspell can connect with ({@link postgresUrlProblem}), and that
 * `PGSSLMODE`, when the URL has no `sslmode`, is a valid one. Throws a `ConfigError` naming the key
 * (and where it came from) before any connection is tried, never with the password. Returns the
 * URL unchanged.
 */
export function checkPostgresUrl(
  url: string | undefined,
  key = 'storage.postgres.url',
  options: CheckPostgresUrlOptions = {},
): string {
  const label = keyLabel(key, options.origin);
  if (!url) {
    throw new ConfigError('CONFIG_INVALID', `${label} is not set, and storage.backend is postgres`, {
      issues: [{ key, message: 'required when storage.backend = postgres' }],
      hint: `Set it, for example: llmspell config set ${key} "postgresql://USER:PASSWORD@HOST:5432/DATABASE" (or export LLMSPELL_STORAGE_POSTGRES_URL).`,
    });
  }
  const problem = postgresUrlProblem(url);
  if (problem) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `${label} is not a usable connection URL (${problem}): ${redactConnectionString(url)}`,
      {
        issues: [{ key, message: problem }],
        hint: problem.includes('percent-encoded')
          ? 'Percent-encode special characters of the user name and password: @ → %40, / → %2F, # → %23, ? → %3F, % → %25 (encodeURIComponent does it).'
          : `Expected a URL like this example: postgresql://USER:PASSWORD@HOST:PORT/DATABASE?PARAMS, with sslmode one of ${SSL_MODES.join(', ')}.`,
      },
    );
  }
  const envMode = (options.env ?? process.env).PGSSLMODE;
  if (envMode && !parsePostgresUrl(url).searchParams.has('sslmode') && !isSslMode(envMode)) {
    const message = sslModeProblem(envMode, 'the environment variable PGSSLMODE');
    throw new ConfigError('CONFIG_INVALID', message, {
      issues: [{ key, message }],
      hint: 'Fix or unset PGSSLMODE, or give sslmode in the URL (it wins over PGSSLMODE).',
    });
  }
  return url;
}
