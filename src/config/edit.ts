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

  tomlEditReady ??= initTomlEdit();
  await tomlEditReady;
  let after: string;
  try {
    after = edit(before, spec.key, value);
  } catch (error) {
    throw new ConfigError('CONFIG_INVALID', `cannot edit ${path} at ${spec.key}: ${(error as Error).message}`, {
      hint: 'The file is unchanged. Check that the table holding the key is a plain table.',
      cause: error,
    });
  }
  if (!after.endsWith('\n')) after += '\n';
  validateConfigDocument(parseConfigText(after, path), path);
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
