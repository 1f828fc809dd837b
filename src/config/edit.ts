import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import initTomlEdit, { edit } from '@rainbowatcher/toml-edit-js';
import writeFileAtomic from 'write-file-atomic';
import { ConfigError } from '../errors.js';
import { parseConfigText, readConfigFile } from './file.js';
import { findKey, isTable, parseKeyValue, suggestKey, type KeySpec } from './keys.js';
import { validateConfigDocument } from './load.js';
import { resolveConfigFile, type Env } from './paths.js';

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
}

function knownKey(key: string): KeySpec {
  const spec = findKey(key);
  if (spec) return spec;
  if (isTable(key)) {
    throw new ConfigError('USAGE', `${key} is a table, not a value`, {
      hint: `Name one of its keys, e.g. \`llmspell config get ${key}\` lists them.`,
    });
  }
  const suggestion = suggestKey(key);
  throw new ConfigError('CONFIG_INVALID', `unknown config key ${key}`, {
    issues: [{ key, message: 'unknown key', ...(suggestion ? { suggestion } : {}) }],
    hint: suggestion ? `Did you mean ${suggestion}?` : '`llmspell config get` lists every key.',
  });
}

function lookup(data: Record<string, unknown>, path: readonly string[]): unknown {
  let node: unknown = data;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

let tomlEditReady: Promise<unknown> | undefined;

const isTableValue = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/** A TOML literal: basic strings escape what JSON escapes, plus DEL, which TOML forbids raw. */
function tomlValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value).replace(/\x7f/g, '\\u007f') : String(value);
}

/**
 * Adds a key to a table that holds only sub-tables (or nothing), e.g. `storage.backend` to a file
 * with just `[storage.postgres]`: the one case toml_edit 0.6 cannot handle (it panics). The key goes
 * right under the table's own header, or under a new `[table]` header at the end of the file
 * (TOML allows a super-table after its sub-tables).
 */
function insertIntoKeylessTable(text: string, spec: KeySpec, value: unknown): string {
  const table = spec.path.slice(0, -1);
  const line = `${spec.path.at(-1)} = ${tomlValue(value)}`;
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
    const reason = error instanceof Error ? error.message : String(error);
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
  const parent = lookup(data, spec.path.slice(0, -1));
  if (value !== undefined && isTableValue(parent) && Object.values(parent).every(isTableValue)) {
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

/**
 * Applies one edit to the config file: a targeted change that keeps comments, order and layout,
 * validated as a whole before anything is written, written atomically (temp file + rename), a new
 * file created with its directory and mode 0600. On any error the file is unchanged.
 */
async function applyEdit(options: EditOptions, spec: KeySpec, value: unknown): Promise<EditResult> {
  const env = options.env ?? process.env;
  const { path } = resolveConfigFile(env, options.configPath);
  const file = await readConfigFile(path);
  const before = file.exists ? file.text : '';
  const previous = file.exists ? lookup(file.data, spec.path) : undefined;
  const overriddenBy = env[spec.env] ? spec.env : undefined;
  const base = { path, key: spec.key, value, previous, secret: spec.secret, ...(overriddenBy ? { overriddenBy } : {}) };
  if (value === undefined && previous === undefined) return { ...base, changed: false, created: false };

  const crlf = before.includes('\r\n');
  let after = await editText(crlf ? before.replace(/\r\n/g, '\n') : before, file.exists ? file.data : {}, spec, value);
  if (!after.endsWith('\n')) after += '\n';
  validateConfigDocument(parseConfigText(after, path), path);
  if (crlf) after = after.replace(/\r?\n/g, '\r\n');
  if (after === before) return { ...base, changed: false, created: false };

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
  return { ...base, changed: true, created: !file.exists };
}

/**
 * `config set KEY VALUE`: parses `text` for the key's type, edits the file in place and writes it
 * atomically. Throws a {@link ConfigError} (file untouched) for an unknown key, a wrong type or a
 * result that would not validate.
 */
export async function setConfigValue(key: string, text: string, options: EditOptions = {}): Promise<EditResult> {
  const spec = knownKey(key);
  const parsed = parseKeyValue(spec, text);
  if (!parsed.ok) {
    throw new ConfigError('CONFIG_INVALID', `${spec.key}: ${parsed.message}`, {
      issues: [{ key: spec.key, message: parsed.message }],
      hint: `${spec.key}: ${spec.description}`,
    });
  }
  return applyEdit(options, spec, parsed.value);
}

/** `config unset KEY`: removes the key from the file so its default applies again. */
export async function unsetConfigValue(key: string, options: EditOptions = {}): Promise<EditResult> {
  return applyEdit(options, knownKey(key), undefined);
}
