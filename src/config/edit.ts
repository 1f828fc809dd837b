import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import initTomlEdit, { edit } from '@rainbowatcher/toml-edit-js';
import writeFileAtomic from 'write-file-atomic';
import { ConfigError, formatConfigIssue, type ConfigIssue } from '../errors.js';
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

let tomlEditReady: Promise<unknown> | undefined;

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
  tomlEditReady ??= initTomlEdit();
  await tomlEditReady;
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

/**
 * Applies one edit to the config file: a targeted change that keeps comments, order and layout,
 * validated as a whole before anything is written, written atomically (temp file + rename), a new
 * file created with its directory and mode 0600. On any error the file is unchanged.
 *
 * The edit is refused only for problems it introduces: those the file already had (compared by
 * key and message) are returned as `remainingIssues`.
 */
async function applyEdit(
  options: EditOptions,
  spec: KeySpec,
  value: unknown,
  warnings: string[] = [],
): Promise<EditResult> {
  const env = options.env ?? process.env;
  const { path } = resolveConfigFile(env, options.configPath);
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
  if (value === undefined && previous === undefined)
    return { ...base, changed: false, created: false, remainingIssues: issuesBefore };

  const crlf = before.includes('\r\n');
  let after = await editText(crlf ? before.replace(/\r\n/g, '\n') : before, data, spec, value);
  if (!after.endsWith('\n')) after += '\n';
  const issues = configDocumentIssues(parseConfigText(after, path), path);
  const known = new Set(issuesBefore.map(issueId));
  const introduced = issues.filter((issue) => !known.has(issueId(issue)));
  if (introduced.length > 0) throw invalidConfigError(introduced);
  const result = { ...base, remainingIssues: issues };
  if (crlf) after = after.replace(/\r?\n/g, '\r\n');
  if (after === before) return { ...result, changed: false, created: false };

  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const existing = await stat(path).catch(() => undefined);
    // write-file-atomic keeps an existing file's mode and owner; a new file is private (it may hold a URL with a password).
    await writeFileAtomic(path, after, existing ? {} : { mode: 0o600 });
  } catch (error) {
    throw new ConfigError('CONFIG_WRITE_FAILED', `cannot write ${path}: ${(error as Error).message}`, {
      hint: 'The file is unchanged. Check the permissions of the file and its directory.',
      cause: error,
    });
  }
  return { ...result, changed: true, created: !file.exists };
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
