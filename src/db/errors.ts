import type { SslMode } from '../config/urls.js';
import { LlmspellError, type ErrorCode } from '../errors.js';
import { isErasureRefusal } from './tenant.js';

/** `TENANT_ERASING`: a write of a tenant that `forgetTenant` is erasing. */
export function tenantErasingError(options: { fields?: PostgresErrorFields; cause?: unknown } = {}): DatabaseError {
  return new DatabaseError(
    'TENANT_ERASING',
    'the tenant is being forgotten: its writes are refused until the erasure finishes',
    {
      hint: 'Wait for `llmspell database forget-tenant` (storage.forgetTenant) to finish, then write again.',
      ...options,
    },
  );
}

/** Fields PostgreSQL reports with an error, kept as they came. */
export interface PostgresErrorFields {
  /** SQLSTATE, e.g. `42P01`. */
  sqlstate?: string;
  detail?: string;
  /** The server's own hint (llmspell's advice is in `hint`). */
  serverHint?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  /** 1-based character position in the statement. */
  position?: number;
  /** Where inside a function the error arose (PL/pgSQL context). */
  where?: string;
}

/** A database failure: connection, authentication, a missing extension, or a statement that failed. */
export class DatabaseError extends LlmspellError {
  readonly fields: PostgresErrorFields;

  constructor(
    code: ErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; fields?: PostgresErrorFields } = {},
  ) {
    super(code, message, options);
    this.fields = options.fields ?? {};
  }

  /** SQLSTATE of the server error, when there was one. */
  get sqlstate(): string | undefined {
    return this.fields.sqlstate;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), ...this.fields };
  }
}

const CONNECTION_REFUSED_HINT = [
  'Is PostgreSQL running and listening there?',
  '  - Docker: docker ps | grep llmspell_postgres_dev',
  '  - Linux: sudo systemctl status postgresql@18-main',
  '  - macOS: brew services list | grep postgresql',
  '  - check the port: nc -zv HOST PORT',
  "  - postgresql.conf: listen_addresses = '*' (or 'localhost'); open the port in the firewall",
].join('\n');

/** The refused-connection advice, with the address that refused when the socket error names it. */
function refusedHint(raw: RawError): string {
  const host = str(raw.address);
  const port = typeof raw.port === 'number' ? String(raw.port) : str(raw.port);
  return host && port
    ? CONNECTION_REFUSED_HINT.replace('nc -zv HOST PORT', `nc -zv ${host} ${port}`)
    : CONNECTION_REFUSED_HINT;
}

/**
 * What a connection error message can say about the connection beyond its target: the
 * configuration key the URL came from (and where that value was set), the TLS mode and root
 * certificate, and the timeouts. Every field is optional; without them the messages name
 * `storage.postgres.url`.
 */
export interface ConnectionContext {
  /** The configuration key of the URL, e.g. `storage.postgres.migration_url`. Default `storage.postgres.url`. */
  urlKey?: string;
  /** Where that value came from, as users name it: `LLMSPELL_STORAGE_POSTGRES_URL`, `DATABASE_URL`, a file. */
  urlOrigin?: string;
  /** The `sslmode` in force. */
  sslmode?: SslMode;
  /** What the server certificate was checked against (a file or `system`), when it was. */
  sslrootcert?: string;
  /** `connect_timeout` of the URL in seconds, when it bounds the attempt. */
  connectTimeoutSecs?: number;
  /** `storage.postgres.pool_timeout_secs`. */
  poolTimeoutSecs?: number;
  /**
   * The configuration key that set the `statement_timeout` of the failed statement, named when the
   * server cancels it for running too long (`storage.postgres.statement_timeout_secs` in an
   * application transaction); without it the message names `statement_timeout` and where it may
   * have come from.
   */
  statementTimeoutKey?: string;
  /** That key's value in seconds, when known. */
  statementTimeoutSecs?: number;
}

/** The key of the `statement_timeout` every application transaction sets (`SET LOCAL`). */
export const STATEMENT_TIMEOUT_KEY = 'storage.postgres.statement_timeout_secs';

/** `storage.postgres.url (from DATABASE_URL)`, or `storage.postgres.url (or LLMSPELL_STORAGE_POSTGRES_URL)`. */
function urlSource(context: ConnectionContext): string {
  const key = context.urlKey ?? 'storage.postgres.url';
  const variable = `LLMSPELL_${key.toUpperCase().replace(/\./g, '_')}`;
  return context.urlOrigin ? `${key} (from ${context.urlOrigin})` : `${key} (or ${variable})`;
}

function authFailedHint(context: ConnectionContext): string {
  return [
    `Check the user and password in ${urlSource(context)}.`,
    '  - a URL without a password takes it from PGPASSWORD, else from ~/.pgpass (PGPASSFILE)',
    '  - try them with: psql -h HOST -p PORT -U USER -d DATABASE -W',
    '  - pg_hba.conf needs a scram-sha-256 line for this user and address; reload PostgreSQL after changing it',
  ].join('\n');
}

/** Troubleshooting for a missing extension (the spec's "Extension Not Found"). */
export const EXTENSION_HINT = [
  'The server lacks an extension llmspell needs.',
  '  - Docker: use the image ghcr.io/tensorchord/vchord-postgres:pg18-v0.5.3',
  '  - manual install: ls /usr/share/postgresql/18/extension/ | grep -E "vchord|vector"',
  "  - VectorChord needs shared_preload_libraries = 'vchord' (SHOW shared_preload_libraries;)",
].join('\n');

interface RawError {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
  severity?: unknown;
  detail?: unknown;
  hint?: unknown;
  schema?: unknown;
  table?: unknown;
  column?: unknown;
  constraint?: unknown;
  position?: unknown;
  where?: unknown;
  address?: unknown;
  port?: unknown;
  hostname?: unknown;
  errors?: unknown;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function serverFields(raw: RawError): PostgresErrorFields {
  const fields: PostgresErrorFields = {};
  const set = <K extends keyof PostgresErrorFields>(key: K, value: PostgresErrorFields[K] | undefined) => {
    if (value !== undefined) fields[key] = value;
  };
  set('sqlstate', str(raw.code));
  set('detail', str(raw.detail));
  set('serverHint', str(raw.hint));
  set('schema', str(raw.schema));
  set('table', str(raw.table));
  set('column', str(raw.column));
  set('constraint', str(raw.constraint));
  set('where', str(raw.where));
  const position = Number(raw.position);
  if (Number.isFinite(position) && position > 0) set('position', position);
  return fields;
}

/** Whether `error` came from the PostgreSQL server (it carries a SQLSTATE and a severity). */
function isServerError(raw: RawError): boolean {
  return typeof raw.code === 'string' && /^[0-9A-Z]{5}$/.test(raw.code) && typeof raw.severity === 'string';
}

/**
 * Whether `error` came from the database or the connection (a server error with a SQLSTATE, a
 * socket error, or pg's own connection messages), as opposed to an error of the caller's code.
 */
export function isDriverError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || error instanceof LlmspellError) return false;
  const raw = error as RawError & { syscall?: unknown };
  if (isServerError(raw) || typeof raw.syscall === 'string') return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    String(raw.message ?? ''),
  );
}

/** SQLSTATEs of the FATAL errors with which a server ends a session, and what each means. */
const SESSION_ENDED: Readonly<Record<string, string>> = {
  '57P01': 'the server ended the session (pg_terminate_backend, or a shutdown)',
  '57P02': 'the server crashed',
  '57P05': 'the session was idle longer than idle_session_timeout',
  '25P03': 'the transaction was idle longer than idle_in_transaction_session_timeout',
  '25P04': 'the transaction ran longer than transaction_timeout',
};

/**
 * Whether an error means the connection itself is gone (the server ended the session, the
 * socket broke, or the client saw that earlier), so that it must not be reused.
 */
export function isConnectionFailure(error: unknown): boolean {
  const raw = (typeof error === 'object' && error !== null ? error : {}) as RawError;
  const code = str(raw.code);
  if (code && (/^08/.test(code) || code in SESSION_ENDED || code === 'ECONNRESET' || code === 'EPIPE')) return true;
  return /Connection terminated|not queryable|ECONNRESET|EPIPE|server conn crashed/i.test(String(raw.message ?? ''));
}

/** Where a call was when its connection broke: it decides what may have been committed. */
export type LostDuring = 'transaction' | 'commit' | 'autocommit';

/**
 * A failed statement's error as llmspell reports it: an {@link LlmspellError} as it is, a lost
 * connection as `DB_CONNECTION_LOST` (saying, by `during`, what was committed), any other driver or
 * server error through {@link toDatabaseError}; anything else (a caller's own error) untouched.
 * Inside a transaction (`during` is not `autocommit`) a statement cancelled by `statement_timeout`
 * names {@link STATEMENT_TIMEOUT_KEY}, which set it there (with its value when `context` has it).
 */
export function typedFailure(
  error: unknown,
  target: string,
  during: LostDuring,
  context: ConnectionContext = {},
): unknown {
  if (error instanceof LlmspellError) return error;
  if (isConnectionFailure(error)) return connectionLostError(error, target, during);
  if (!isDriverError(error)) return error;
  return toDatabaseError(
    error,
    target,
    during === 'autocommit' ? context : { statementTimeoutKey: STATEMENT_TIMEOUT_KEY, ...context },
  );
}

/**
 * PostgreSQL's message for a statement that `statement_timeout` cancelled (SQLSTATE 57014, which a
 * cancel request — "canceling statement due to user request" — shares). Servers with a translated
 * `lc_messages` say it otherwise: theirs stay plain `DB_QUERY_FAILED`.
 */
const STATEMENT_TIMEOUT_MESSAGE = /^canceling statement due to statement timeout$/;

/** The error of a statement that ran past `statement_timeout`: which setting, and what to do. */
function statementTimeoutError(
  message: string,
  fields: PostgresErrorFields,
  context: ConnectionContext,
  cause: unknown,
): DatabaseError {
  const key = context.statementTimeoutKey;
  const secs = context.statementTimeoutSecs;
  const limit = key ? `${key}${secs !== undefined ? ` (${secs} s)` : ''}` : 'statement_timeout';
  const raise = key
    ? `Raise ${key} (0 = no limit) if the work needs longer`
    : `Raise statement_timeout if the work needs longer: in llmspell's transactions it is ${STATEMENT_TIMEOUT_KEY}, in a migration storage.postgres.migration_timeout_secs, elsewhere the server's own (SHOW statement_timeout; ALTER ROLE … SET statement_timeout)`;
  return new DatabaseError('DB_QUERY_FAILED', `the statement ran longer than ${limit} and was cancelled (${message})`, {
    hint: `${raise}, or make the statement cheaper: an index that serves it, a narrower scope or filter, fewer rows per call. Nothing of the transaction it ran in was committed.`,
    fields,
    cause,
  });
}

/**
 * The error for a connection lost while lent: `cause` is what the driver reported first (the
 * server's FATAL message when there was one). The hint says what was committed and what to do.
 */
export function connectionLostError(cause: unknown, target: string, during: LostDuring): DatabaseError {
  const raw = (typeof cause === 'object' && cause !== null ? cause : { message: String(cause) }) as RawError;
  const code = str(raw.code);
  const why = code ? SESSION_ENDED[code] : undefined;
  const said = str(raw.message) ?? 'connection closed';
  const outcome = {
    transaction: 'Nothing of the transaction was committed.',
    commit: 'It broke while committing: the transaction may or may not have been committed; check before you retry.',
    autocommit: 'Statements that had completed before it broke are committed; the one running was not.',
  }[during];
  const advice =
    code === '25P03'
      ? 'Do not keep a transaction open while waiting for something else (an LLM call, a file), or raise storage.postgres.idle_in_transaction_timeout_secs.'
      : 'The broken connection was discarded; the next call opens a new one, so the call can be retried.';
  return new DatabaseError('DB_CONNECTION_LOST', `lost the connection to ${target}${why ? `: ${why}` : ''} (${said})`, {
    hint: `${outcome}\n${advice}`,
    fields: isServerError(raw) ? serverFields(raw) : {},
    cause,
  });
}

/** The codes Node's TLS layer gives a server certificate that does not verify, and what each means. */
const CERTIFICATE_PROBLEMS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed, and it is not the root certificate given',
  SELF_SIGNED_CERT_IN_CHAIN:
    'the server certificate is not signed by the root certificate given (its chain ends in another self-signed root)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not signed by the root certificate given',
  UNABLE_TO_GET_ISSUER_CERT: 'the server certificate is not signed by the root certificate given',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server certificate is not signed by the root certificate given',
  CERT_SIGNATURE_FAILURE: 'the signature of the server certificate is invalid',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  CERT_NOT_YET_VALID: 'the server certificate is not valid yet (check the clocks)',
  CERT_REVOKED: 'the server certificate has been revoked',
};

/**
 * The {@link DatabaseError} of a failed TLS negotiation, or `undefined` when `raw` is not one:
 * a server without TLS where the mode needs it, a certificate that does not verify, a host name
 * the certificate is not for, a handshake the server refused. Names the mode and what to change.
 */
function tlsFailure(
  raw: RawError & { reason?: unknown; host?: unknown; cert?: unknown },
  target: string,
  context: ConnectionContext,
  cause: unknown,
): DatabaseError | undefined {
  const mode = context.sslmode;
  const message = str(raw.message) ?? '';
  const code = str(raw.code) ?? '';
  const root =
    context.sslrootcert === 'system'
      ? "the system's trusted roots"
      : context.sslrootcert
        ? `sslrootcert ${context.sslrootcert}`
        : 'the root certificate';
  const unchecked =
    mode === 'require'
      ? 'or drop sslrootcert (with a root certificate, require checks like verify-ca) to encrypt without checking'
      : 'or use sslmode=require to encrypt without checking (no protection against a man in the middle)';
  const fail = (why: string, hint: string) =>
    new DatabaseError(
      'DB_UNREACHABLE',
      `TLS connection to ${target} failed${mode ? ` with sslmode=${mode}` : ''}: ${why}`,
      {
        hint,
        cause,
      },
    );
  if (message === 'The server does not support SSL connections') {
    return fail(
      'the server does not offer TLS, and this sslmode requires it',
      'Turn TLS on at the server (ssl = on, ssl_cert_file, ssl_key_file; behind PgBouncer: client_tls_sslmode), or, on a network you trust, use sslmode=prefer (TLS when offered) or sslmode=disable.',
    );
  }
  if (message === 'There was an error establishing an SSL connection') {
    return fail(
      'the server answered the TLS request with an error',
      'Check the server log; sslmode=disable connects without TLS.',
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const cert = (typeof raw.cert === 'object' && raw.cert !== null ? raw.cert : {}) as {
      subjectaltname?: unknown;
      subject?: { CN?: unknown };
    };
    const names = str(cert.subjectaltname) ?? (str(cert.subject?.CN) ? `CN=${str(cert.subject?.CN)}` : undefined);
    const host = str(raw.host);
    return fail(
      `the host name${host ? ` "${host}"` : ''} does not match the server certificate${names ? `, which is for ${names}` : str(raw.reason) ? ` (${str(raw.reason)})` : ''}`,
      `Connect with a host name the certificate names${names ? ` (${names})` : ''}, or use sslmode=verify-ca to check the certificate's chain but not the host name.`,
    );
  }
  const problem = CERTIFICATE_PROBLEMS[code];
  if (problem) {
    const chain = !/expired|not valid yet|revoked/.test(problem);
    return fail(
      `${problem}${chain ? `, checked against ${root}` : ''}`,
      chain
        ? `Set sslrootcert to the CA certificate that signed the server certificate (for a self-signed one: that certificate), ${unchecked}.`
        : `Renew the server certificate (ssl_cert_file) and reload PostgreSQL, ${unchecked}.`,
    );
  }
  if (/^ERR_SSL_|^ERR_OSSL_/.test(code) || (code === 'EPROTO' && /SSL|TLS/i.test(message))) {
    const certificate = /certificate/i.test(message);
    return fail(
      `the TLS handshake failed (${message})`,
      certificate
        ? 'The server wants a client certificate it trusts: set sslcert and sslkey (or ~/.postgresql/postgresql.crt and .key) to one signed by its ssl_ca_file.'
        : 'Check ssl_min_protocol_version and the ciphers of the server; sslmode=disable connects without TLS.',
    );
  }
  return undefined;
}

/**
 * What encryption a login refused by pg_hba.conf (SQLSTATE 28000) would have been let in with:
 * `tls` when the server found no line for it without TLS (only a `hostssl` one), `plain` when it
 * found none with TLS (only `hostnossl`), `undefined` when the refusal was not about encryption.
 * PostgreSQL's messages end in "no encryption" / "SSL encryption" (16 and later) or "SSL off" /
 * "SSL on" (15).
 */
export function hbaWantsEncryption(message: string): 'tls' | 'plain' | undefined {
  if (!/pg_hba\.conf/.test(message)) return undefined;
  if (/(no encryption|SSL off)$/.test(message)) return 'tls';
  if (/(SSL encryption|SSL on)$/.test(message)) return 'plain';
  return undefined;
}

/** The hint for a login refused because of encryption (pg_hba.conf hostssl / hostnossl) or a client certificate, else `undefined`. */
function encryptionHint(message: string, context: ConnectionContext): string | undefined {
  const mode = context.sslmode ?? 'prefer';
  const wanted = hbaWantsEncryption(message);
  if (wanted === 'tls') {
    return `pg_hba.conf has no line for this connection without TLS (sslmode=${mode}): if it has a hostssl line for it, use sslmode=require (or prefer, or verify-full).`;
  }
  if (wanted === 'plain') {
    return `pg_hba.conf has no line for this connection with TLS (sslmode=${mode}): add a hostssl line, or, if it has a hostnossl line, use sslmode=prefer or disable.`;
  }
  if (/certificate/i.test(message)) {
    return 'pg_hba.conf asks this user for a client certificate (cert, or clientcert=verify-full): set sslcert and sslkey to a certificate signed by the server’s ssl_ca_file whose CN is the user name.';
  }
  return undefined;
}

/** A socket path error (`connect ENOENT /run/postgresql/.s.PGSQL.5432`): no server listens on that socket. */
function socketFailure(raw: RawError, target: string, cause: unknown): DatabaseError | undefined {
  const socket = str(raw.address);
  if (!socket?.startsWith('/') || !['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(str(raw.code) ?? '')) return undefined;
  const dir = socket.replace(/\/[^/]*$/, '') || '/';
  const why = {
    ENOENT: 'there is no socket',
    ECONNREFUSED: 'nothing accepts connections on the socket',
    EACCES: 'this user may not open the socket',
  }[str(raw.code) as 'ENOENT'];
  return new DatabaseError('DB_UNREACHABLE', `cannot connect to ${target}: ${why} ${socket}`, {
    hint: [
      `Is PostgreSQL running with ${dir} in unix_socket_directories, on this port (the socket is .s.PGSQL.PORT)?`,
      '  - SHOW unix_socket_directories; on the server, or: ls -la ' + dir,
      '  - the host= parameter (or a percent-encoded host) names the socket directory; a host name connects over TCP instead',
    ].join('\n'),
    cause,
  });
}

/**
 * Turns whatever a driver threw into a {@link DatabaseError} that keeps SQLSTATE, detail and hint,
 * and adds the troubleshooting advice users expect for refused connections, failed
 * authentication, TLS failures, missing sockets, timeouts and missing extensions. `target`
 * (already redacted) names where we connected; `context` says which configuration key the URL
 * came from and how TLS and timeouts were set, for the hints. An {@link LlmspellError} passes
 * through unchanged.
 */
export function toDatabaseError(error: unknown, target: string, context: ConnectionContext = {}): LlmspellError {
  if (error instanceof LlmspellError) return error;
  const raw = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as RawError;
  // AggregateError (IPv4 + IPv6 attempts): classify by the first inner error.
  if (Array.isArray(raw.errors) && raw.errors.length > 0 && raw.code === undefined)
    return toDatabaseError(raw.errors[0], target, context);
  const message = str(raw.message) ?? 'unknown database error';
  const code = str(raw.code);
  const source = urlSource(context);

  if (isServerError(raw)) {
    const fields = serverFields(raw);
    if (isErasureRefusal(raw)) return tenantErasingError({ fields, cause: error });
    switch (code) {
      case '28P01':
      case '28000':
        return new DatabaseError('DB_AUTH_FAILED', `authentication failed connecting to ${target}: ${message}`, {
          hint: encryptionHint(message, context) ?? authFailedHint(context),
          fields,
          cause: error,
        });
      case '3D000':
        return new DatabaseError('DB_NOT_FOUND', `${message} (at ${target})`, {
          hint: `Create the database (createdb NAME, or CREATE DATABASE) or fix the database name in ${source}.`,
          fields,
          cause: error,
        });
      case '57P03':
      case '53300':
        return new DatabaseError('DB_UNREACHABLE', `${target} is not accepting connections: ${message}`, {
          hint:
            code === '53300'
              ? 'The server has no free connection slots: lower pool_size, or raise max_connections.'
              : 'The server is starting up or shutting down; try again shortly.',
          fields,
          cause: error,
        });
      default:
        if (
          /extension ".*" (is not available|does not exist)|could not open extension control file/.test(message) ||
          code === '58P01'
        ) {
          return new DatabaseError('DB_EXTENSION_MISSING', message, { hint: EXTENSION_HINT, fields, cause: error });
        }
        if (code === '42501' && /row-level security/.test(message)) {
          return new DatabaseError('DB_QUERY_FAILED', message, {
            hint: [
              'The row belongs to another tenant than the transaction, or no tenant is set.',
              '  - write through withTenant(tenantId, …), with the same tenant_id as the row',
              "  - check the policies: SELECT tablename, policyname, cmd, qual FROM pg_policies WHERE schemaname = 'llmspell';",
            ].join('\n'),
            fields,
            cause: error,
          });
        }
        // SET ROLE of a missing role is 22023 (invalid_parameter_value); GRANT and the like say 42704.
        if ((code === '42704' || code === '22023') && /role "llmspell_app" does not exist/.test(message)) {
          return new DatabaseError('DB_ROLE_MISSING', message, {
            hint: 'The application role is created by `llmspell database migrate` when the migrating user has CREATEROLE. Otherwise an administrator runs: CREATE ROLE llmspell_app NOLOGIN NOSUPERUSER NOBYPASSRLS; GRANT llmspell_app TO <migrating user>; and then `llmspell database migrate` again.',
            fields,
            cause: error,
          });
        }
        if (code === '57014' && STATEMENT_TIMEOUT_MESSAGE.test(message)) {
          return statementTimeoutError(message, fields, context, error);
        }
        return new DatabaseError('DB_QUERY_FAILED', message, {
          fields,
          cause: error,
          ...(fields.serverHint ? { hint: fields.serverHint } : {}),
        });
    }
  }

  const special = socketFailure(raw, target, error) ?? tlsFailure(raw, target, context, error);
  if (special) return special;
  switch (code) {
    case 'ECONNREFUSED':
      return new DatabaseError('DB_UNREACHABLE', `connection refused by ${target}`, {
        hint: refusedHint(raw),
        cause: error,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new DatabaseError('DB_UNREACHABLE', `host not found for ${target}`, {
        hint: `Check the host name in ${source} and your DNS (a password holding @ / # ? must be percent-encoded, or the URL names another host).`,
        cause: error,
      });
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new DatabaseError('DB_UNREACHABLE', `cannot reach ${target} (${code})`, {
        hint: refusedHint(raw),
        cause: error,
      });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'ENOSPC':
      return new DatabaseError('DB_UNREACHABLE', `cannot use ${target}: ${message}`, {
        hint:
          code === 'ENOSPC'
            ? 'The disk is full: free space, or move the data with storage.embedded.path.'
            : 'Choose a directory you can write: llmspell config set storage.embedded.path /path/to/pgdata',
        cause: error,
      });
    default:
      break;
  }
  if (message === 'timeout expired' && context.connectTimeoutSecs) {
    return new DatabaseError(
      'DB_UNREACHABLE',
      `timed out connecting to ${target}: no answer within connect_timeout (${context.connectTimeoutSecs} s)`,
      {
        hint: `The server accepted the connection but did not answer, or did not accept it at all: is it PostgreSQL, and is it overloaded or stopped (SIGSTOP, a hung VM)? Raise connect_timeout in ${source} if it is only slow.\n${CONNECTION_REFUSED_HINT}`,
        cause: error,
      },
    );
  }
  if (
    /timeout exceeded when trying to connect|Connection terminated due to connection timeout|^timeout expired$/i.test(
      message,
    )
  ) {
    const within = context.poolTimeoutSecs ? ` (${context.poolTimeoutSecs} s)` : '';
    return new DatabaseError('DB_UNREACHABLE', `timed out connecting to ${target}`, {
      hint:
        `The server did not answer within storage.postgres.pool_timeout_secs${within}, or every pooled connection stayed busy that long; connect_timeout in the URL bounds the connection attempt alone.\n` +
        CONNECTION_REFUSED_HINT,
      cause: error,
    });
  }
  if (/Connection terminated unexpectedly|server closed the connection/i.test(message)) {
    return new DatabaseError('DB_UNREACHABLE', `${target} closed the connection: ${message}`, {
      hint: CONNECTION_REFUSED_HINT,
      cause: error,
    });
  }
  return new DatabaseError('DB_QUERY_FAILED', message, { cause: error });
}
