/**
 * Typed errors. The core never prints and never exits: it throws one of these, and the CLI maps
 * `code` to an exit status in one place (`src/cli/exit-codes.ts`).
 */

/** Every error code llmspell throws. Stable: scripts may match on them (`--json` prints them). */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'CONFIG_SYNTAX'
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_WRITE_FAILED'
  | 'TENANT_INVALID'
  | 'TENANT_ERASING'
  | 'DB_UNREACHABLE'
  | 'DB_AUTH_FAILED'
  | 'DB_NOT_FOUND'
  | 'DB_EXTENSION_MISSING'
  | 'DB_ROLE_MISSING'
  | 'DB_POOL_TIMEOUT'
  | 'DB_CONNECTION_LOST'
  | 'DB_VERSION_UNSUPPORTED'
  | 'DB_DATA_DIR_INVALID'
  | 'SCOPE_CLOSED'
  | 'SCOPE_NESTED'
  | 'TRANSACTION_ENDED'
  | 'DB_QUERY_FAILED'
  | 'LOCK_HELD'
  | 'MIGRATION_INVALID'
  | 'MIGRATION_FAILED'
  | 'MIGRATION_DRIFT'
  | 'MIGRATION_ORDER'
  | 'MIGRATION_PENDING'
  | 'MIGRATION_PLAN_CHANGED'
  | 'POOLER_NOT_SUPPORTED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INVALID_INPUT'
  | 'INVALID_TRANSITION'
  | 'TRANSACTION_SPANS_BACKENDS'
  | 'ABORTED'
  | 'INTERNAL';

/** Base class of every error llmspell throws on purpose. */
export class LlmspellError extends Error {
  /** Machine-readable code, stable across releases. */
  readonly code: ErrorCode;
  /** What to do next, in one or a few lines. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }

  /** A plain object for `--json` output; never includes the stack or the cause. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

/** Where a configuration value came from. */
export type Origin =
  { kind: 'default' } | { kind: 'file'; path: string } | { kind: 'env'; name: string } | { kind: 'flag'; name: string };

/** Renders an origin the way users name it: `default`, a file path, `$VAR`, `--flag`. */
export function describeOrigin(origin: Origin): string {
  switch (origin.kind) {
    case 'default':
      return 'default';
    case 'file':
      return origin.path;
    case 'env':
      return origin.name;
    case 'flag':
      return origin.name;
  }
}

/** One problem in the configuration, tied to its key and where the value came from. */
export interface ConfigIssue {
  /** Dotted key, e.g. `storage.postgres.pool_size`; empty for the document as a whole. */
  key: string;
  origin?: Origin;
  message: string;
  /** The nearest known key, for an unknown one. */
  suggestion?: string;
}

/** Formats an issue as `key (from ORIGIN): message`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.origin ? ` (from ${describeOrigin(issue.origin)})` : '';
  const subject = issue.key === '' ? 'config' : issue.key;
  const suggestion = issue.suggestion ? `; did you mean ${issue.suggestion}?` : '';
  return `${subject}${where}: ${issue.message}${suggestion}`;
}

/** The configuration could not be read or is invalid. Carries every problem found, not only the first. */
export class ConfigError extends LlmspellError {
  readonly issues: ConfigIssue[];

  constructor(
    code: 'CONFIG_INVALID' | 'CONFIG_SYNTAX' | 'CONFIG_NOT_FOUND' | 'CONFIG_WRITE_FAILED' | 'USAGE',
    message: string,
    options: { issues?: ConfigIssue[]; hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.issues = options.issues ?? [];
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      ...(this.issues.length > 0
        ? { issues: this.issues.map((i) => ({ ...i, origin: i.origin ? describeOrigin(i.origin) : undefined })) }
        : {}),
    };
  }
}
