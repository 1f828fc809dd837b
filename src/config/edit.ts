import { mkdir, readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname } from 'node:path';
import type * as TomlEdit from '@rainbowatcher/toml-edit-js';
import { lockPath, type PathLock } from '../pid-lock.js';
import { ConfigError, formatConfigIssue, LlmspellError, type ConfigIssue } from '../errors.js';
import { parseConfigText, readConfigFile, tomlLiteral } from './file.js';
import { isPlainTable, parseKeyValue, requireKnownKey, valueAtPath, type KeySpec } from './keys.js';
import { configDocumentIssues, invalidConfigError } from './load.js';
import { resolveConfigFile, type Env } from './paths.js';
import { redactConnectionStringsIn } from './redact.js';
import { SLED_DEPRECATED } from './schema.js';

/** Inputs shared by {@link setConfigValue} and {@link unsetConfigValue}. */
export interface EditOptions {
  env?: Env;
  /** `--config PATH`. */
  configPath?: string;
}

/** What `config set` / `config unset` did. */
export interface EditResult {
  path: string;
  key: string;
  /** The new value (`undefined` after unset). */
  value: unknown;
  /** The value the file held before (`undefined` if it held none). */
  previous: unknown;
  /** Whether the file changed at all. */
  changed: boolean;
  /** Whether the file was created. */
  created: boolean;
  /** An environment variable that overrides the file for this key, if one is set. */
  overriddenBy?: string;
  secret: boolean;
  /**
   * Problems the file had before this edit and still has (in other keys): an edit is refused only
   * for problems it introduces, so that they can be fixed one `config set` at a time.
   */
  remainingIssues: ConfigIssue[];
  /** Non-fatal notes about the new value, e.g. the deprecated `sled` backend name. */
  warnings: string[];
}

/**
 * toml_edit (WASM), loaded and initialised on first use: most commands only read the config, so
 * it, and write-file-atomic below, are imported when an edit needs them.
 */
let tomlEditReady: Promise<typeof TomlEdit> | undefined;

/**
 * Adds a key to a table that holds only sub-tables (or nothing), e.g. `storage.backend` to a file
 * with just `[storage.postgres]`: the one case toml_edit 0.6 cannot handle (it panics). The key goes
 * right under the table's own header, or under a new `[table]` header at the end of the file
 * (TOML allows a super-table after its sub-tables).
 */
function insertIntoKeylessTable(text: string, spec: KeySpec, value: unknown): string {
  const table = spec.path.slice(0, -1);
  const line = `${spec.path.at(-1)} = ${tomlLiteral(value)}`;
  const header = new RegExp(`^[ \\t]*\\[[ \\t]*${table.join('[ \\t]*\\.[ \\t]*')}[ \\t]*\\][ \\t]*(#.*)?$`, 'm');
  const match = header.exec(text);
  if (match) {
    const end = match.index + match[0].length;
    return `${text.slice(0, end)}\n${line}${text.slice(end)}`;
  }
  const body = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return `${body}${body === '' ? '' : '\n'}[${table.join('.')}]\n${line}\n`;
}

/** Runs toml_edit, keeping its panic hook from printing a Rust backtrace on stderr. */
async function tomlEdit(text: string, spec: KeySpec, value: unknown): Promise<string> {
  tomlEditReady ??= import('@rainbowatcher/toml-edit-js').then(async (toml) => {
    await toml.default();
    return toml;
  });
  const { edit } = await tomlEditReady;
  /* eslint-disable no-console -- silencing, not printing: toml_edit's panic hook writes a backtrace there */
  const consoleError = console.error;
  console.error = () => undefined;
  /* eslint-enable no-console */
  try {
    return edit(text, spec.key, value);
  } catch (error) {
    // toml_edit throws strings (and WASM traps for panics): keep its words.
    const reason = redactConnectionStringsIn(error instanceof Error ? error.message : String(error));
    throw new ConfigError('CONFIG_INVALID', `cannot edit ${spec.key} in this file: ${reason}`, {
      hint: 'The file is unchanged. `config set` edits keys inside [table] sections; a table written inline (storage = { … }) or as a plain value must be edited by hand.',
      cause: error,
    });
  } finally {
    // eslint-disable-next-line no-console -- restoring what was silenced above
    console.error = consoleError;
  }
}

async function editText(text: string, data: Record<string, unknown>, spec: KeySpec, value: unknown): Promise<string> {
  const parent = valueAtPath(data, spec.path.slice(0, -1));
  if (value !== undefined && isPlainTable(parent) && Object.values(parent).every(isPlainTable)) {
    const inserted = insertIntoKeylessTable(text, spec, value);
    try {
      parseConfigText(inserted, 'edit');
      return inserted;
    } catch {
      // The table was defined by dotted keys, where a header may not follow: let toml_edit try.
    }
  }
  return tomlEdit(text, spec, value);
}

const issueId = (issue: ConfigIssue) => `${issue.key}\0${issue.message}`;

/** The edit worked out against the file as it is now; nothing written yet. */
interface PlannedEdit {
  result: Omit<EditResult, 'changed' | 'created'>;
  /** The file's new text, or undefined when it does not change. */
  after: string | undefined;
  exists: boolean;
}

/**
 * Works out one edit against the file as it is: a targeted change that keeps comments, order and
 * layout, validated as a whole. Refused only for problems it introduces: those the file already
 * had (compared by key and message) are returned as `remainingIssues`. Reads only.
 */
async function planEdit(
  path: string,
  env: Env,
  spec: KeySpec,
  value: unknown,
  warnings: string[],
): Promise<PlannedEdit> {
  await assertUtf8(path);
  const file = await readConfigFile(path);
  const before = file.exists ? file.text : '';
  const data = file.exists ? file.data : {};
  const previous = valueAtPath(data, spec.path);
  const overriddenBy = env[spec.env] ? spec.env : undefined;
  const issuesBefore = configDocumentIssues(data, path);
  const base = {
    path,
    key: spec.key,
    value,
    previous,
    secret: spec.secret,
    ...(overriddenBy ? { overriddenBy } : {}),
    warnings,
  };
  if (value === undefined && previous === undefined) {
    return { result: { ...base, remainingIssues: issuesBefore }, after: undefined, exists: file.exists };
  }
  // The editor sees LF line ends and no byte-order mark; the file keeps whichever it had.
  const crlf = before.includes('\r\n');
  const bom = before.startsWith('\uFEFF') ? '\uFEFF' : '';
  const body = bom ? before.slice(1) : before;
  let after = await editText(crlf ? body.replace(/\r\n/g, '\n') : body, data, spec, value);
  if (!after.endsWith('\n')) after += '\n';
  const issues = configDocumentIssues(parseConfigText(after, path), path);
  const known = new Set(issuesBefore.map(issueId));
  const introduced = issues.filter((issue) => !known.has(issueId(issue)));
  if (introduced.length > 0) throw invalidConfigError(introduced);
  if (crlf) after = after.replace(/\r?\n/g, '\r\n');
  after = bom + after;
  return {
    result: { ...base, remainingIssues: issues },
    after: after === before ? undefined : after,
    exists: file.exists,
  };
}

/**
 * Refuses to edit a file that is not valid UTF-8: an edit would turn the bad bytes into U+FFFD
 * elsewhere in the file. Names the line and byte.
 */
async function assertUtf8(path: string): Promise<void> {
  const bytes = await readFile(path).catch(() => undefined);
  if (!bytes) return;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // The first bad byte: the longest prefix that decodes.
    let good = 0;
    for (let step = bytes.length; step > 0; step = Math.floor(step / 2)) {
      while (good + step <= bytes.length && isUtf8Prefix(bytes.subarray(0, good + step))) good += step;
    }
    const line = 1 + bytes.subarray(0, good).filter((b) => b === 0x0a).length;
    throw new ConfigError(
      'CONFIG_SYNTAX',
      `${path} is not valid UTF-8 (line ${line}, byte ${good + 1}); refusing to edit it`,
      {
        hint: 'The file is unchanged. TOML files are UTF-8: fix or remove the bytes there (an editor can re-save the file as UTF-8), then run the command again.',
      },
    );
  }
}

function isUtf8Prefix(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** How long `config set` waits for another `config set` of the same file. */
const CONFIG_LOCK_WAIT_MS = 10_000;

/**
 * Runs `fn` holding the config file's lock (a file beside it with the owner's pid, taken over
 * when that process is gone), waiting a bounded time for another writer: read-modify-write cycles
 * of concurrent `config set`s follow each other, so every one that succeeds is in the file.
 */
async function withConfigLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + CONFIG_LOCK_WAIT_MS;
  let lock: PathLock | undefined;
  for (let delay = 10; !lock; delay = Math.min(delay * 2, 200)) {
    try {
      lock = await lockPath(path, undefined, `the config file ${path}`);
    } catch (error) {
      if (!(error instanceof LlmspellError) || error.code !== 'LOCK_HELD' || Date.now() > deadline) throw error;
      await sleep(delay + Math.random() * delay);
    }
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * Applies one edit to the config file: planned and validated first (a refused edit touches
 * nothing, not even the directory), then planned again under the file's lock and written
 * atomically (temp file + rename); a new file is created with its directory and mode 0600.
 */
async function applyEdit(
  options: EditOptions,
  spec: KeySpec,
  value: unknown,
  warnings: string[] = [],
): Promise<EditResult> {
  const env = options.env ?? process.env;
  const { path } = resolveConfigFile(env, options.configPath);
  const first = await planEdit(path, env, spec, value, warnings);
  if (first.after === undefined) return { ...first.result, changed: false, created: false };
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw writeFailed(path, error);
  }
  return withConfigLock(path, async () => {
    // Another writer may have changed the file meanwhile: plan again on what is there now.
    const planned = await planEdit(path, env, spec, value, [...warnings]);
    if (planned.after === undefined) return { ...planned.result, changed: false, created: false };
    const existing = await stat(path).catch(() => undefined);
    const { default: writeFileAtomic } = await import('write-file-atomic');
    try {
      // write-file-atomic keeps an existing file's mode and owner; a new file is private (it may hold a URL with a password).
      await writeFileAtomic(path, planned.after, existing ? {} : { mode: 0o600 });
    } catch (error) {
      throw writeFailed(path, error);
    }
    if (spec.secret && value !== undefined && existing && (existing.mode & 0o077) !== 0) {
      planned.result.warnings.push(
        `${path} is readable by other users (mode ${(existing.mode & 0o777).toString(8)}) and now holds ${spec.key}, which may contain a password: chmod 600 ${path}`,
      );
    }
    return { ...planned.result, changed: true, created: !planned.exists };
  });
}

function writeFailed(path: string, error: unknown): ConfigError {
  return new ConfigError('CONFIG_WRITE_FAILED', `cannot write ${path}: ${(error as Error).message}`, {
    hint: 'The file is unchanged. Check the permissions of the file and its directory.',
    cause: error,
  });
}

/**
 * `config set KEY VALUE`: parses `text` for the key's type, edits the file in place and writes it
 * atomically. Throws a {@link ConfigError} (file untouched) for an unknown key, a wrong type or a
 * problem the edit would introduce; problems the file already had are returned as `remainingIssues`.
 */
export async function setConfigValue(key: string, text: string, options: EditOptions = {}): Promise<EditResult> {
  const spec = requireKnownKey(key);
  const parsed = parseKeyValue(spec, text);
  if (!parsed.ok) {
    throw new ConfigError('CONFIG_INVALID', `${spec.key}: ${parsed.message}`, {
      issues: [{ key: spec.key, message: parsed.message }],
      hint: `${spec.key}: ${spec.description}`,
    });
  }
  // Only the backend keys accept "sled": no other enum lists it, and string keys are not enums.
  const warnings =
    spec.kind === 'enum' && parsed.value === 'sled'
      ? [formatConfigIssue({ key: spec.key, message: SLED_DEPRECATED })]
      : [];
  return applyEdit(options, spec, parsed.value, warnings);
}

/** `config unset KEY`: removes the key from the file so its default applies again. */
export async function unsetConfigValue(key: string, options: EditOptions = {}): Promise<EditResult> {
  return applyEdit(options, requireKnownKey(key), undefined);
}
