import { dirname, isAbsolute, resolve } from 'node:path';
import type * as z from 'zod/mini';
import { ConfigError, formatConfigIssue, type ConfigIssue, type Origin } from '../errors.js';
import { readConfigFile, type ConfigFile } from './file.js';
import {
  describeExpected,
  findKey,
  findKeyByEnv,
  isPlainTable,
  isTable,
  parseKeyValue,
  suggestKey,
  CONFIG_KEYS,
} from './keys.js';
import { resolveConfigFile, type ConfigFileLocation, type Env } from './paths.js';
import { describeValue, shorten } from './redact.js';
import { connectionUrlProblem, settingsSchema, SLED_DEPRECATED, type Settings, type StorageBackend } from './schema.js';

/** A value given on the command line for one key (`--set KEY=VALUE`, `--backend`, …). */
export interface KeyOverride {
  key: string;
  value: string;
  /** The flag as the user typed it, for messages: `--backend`, `--set storage.backend`. */
  flag: string;
}

/** Inputs of {@link loadSettings}. Everything is explicit so tests need no global state. */
export interface LoadOptions {
  /** Environment; default `process.env`. */
  env?: Env;
  /** `--config PATH`. */
  configPath?: string;
  /** Flag values, the highest precedence. */
  overrides?: readonly KeyOverride[];
  /** Accept a missing file even when it was named explicitly (for `config set`, which creates it). */
  allowMissingFile?: boolean;
}

/** Settings with where each value came from. */
export interface ResolvedConfig {
  settings: Settings;
  /** Origin of every key's value, by dotted key. */
  origins: ReadonlyMap<string, Origin>;
  file: ConfigFileLocation & { exists: boolean };
  /** Non-fatal notes, e.g. the deprecated `sled` backend name. */
  warnings: string[];
}

/** One source of values, flattened to dotted keys. */
interface Layer {
  values: Map<string, unknown>;
  origin: (key: string) => Origin;
}

const DEFAULT_ORIGIN: Origin = { kind: 'default' };
const ENV_PREFIX = 'LLMSPELL_STORAGE_';

/**
 * A relative `storage.embedded.path` in a config file, taken from the file's directory: the
 * database must not depend on where a command happens to run. `~` is expanded later, for every
 * source alike; other values are left for the schema to judge.
 */
function fromFileDirectory(value: unknown, file: string): unknown {
  if (typeof value !== 'string' || value.trim() === '' || isAbsolute(value) || value.startsWith('~')) return value;
  return resolve(dirname(file), value);
}

/** Flattens a parsed TOML document to known keys, reporting unknown keys and misplaced tables. */
function fileLayer(file: ConfigFile, issues: ConfigIssue[]): Layer {
  const values = new Map<string, unknown>();
  const origin: Origin = { kind: 'file', path: file.path };
  const visit = (table: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(table)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (isTable(key)) {
        if (isPlainTable(value)) visit(value, key);
        else issues.push({ key, origin, message: `expected a table ([${key}]), got ${describeValue(value)}` });
      } else if (findKey(key)) {
        values.set(key, key === 'storage.embedded.path' ? fromFileDirectory(value, file.path) : value);
      } else {
        const suggestion = suggestKey(key);
        issues.push({ key: shorten(key), origin, message: 'unknown key', ...(suggestion ? { suggestion } : {}) });
      }
    }
  };
  if (file.exists) visit(file.data, '');
  return { values, origin: () => origin };
}

/** Reads `LLMSPELL_*` overrides; an unknown `LLMSPELL_STORAGE_*` variable is an error, not ignored. */
function envLayer(env: Env, issues: ConfigIssue[]): Layer {
  const values = new Map<string, unknown>();
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('LLMSPELL_') || text === undefined || text === '') continue;
    const spec = findKeyByEnv(name);
    const origin: Origin = { kind: 'env', name: shorten(name) };
    if (!spec) {
      if (name.startsWith(ENV_PREFIX)) {
        const near = suggestKey(
          name,
          CONFIG_KEYS.map((k) => k.env),
        );
        issues.push({
          key: shorten(name),
          origin,
          message: 'unknown environment variable',
          ...(near ? { suggestion: near } : {}),
        });
      }
      continue;
    }
    const parsed = parseKeyValue(spec, text);
    if (parsed.ok) values.set(spec.key, parsed.value);
    else issues.push({ key: spec.key, origin, message: parsed.message });
  }
  return { values, origin: (key) => ({ kind: 'env', name: findKey(key)!.env }) };
}

/**
 * `DATABASE_URL`: used for the URL only when neither the file nor `LLMSPELL_STORAGE_POSTGRES_URL`
 * sets it, and only when it is a usable PostgreSQL URL: one meant for another program
 * (`mysql://…`) is ignored rather than an error of every command. Why it was ignored is returned,
 * for a warning when a backend needs the URL.
 */
function databaseUrlLayer(env: Env): Layer & { ignored?: string } {
  const values = new Map<string, unknown>();
  const url = env.DATABASE_URL;
  const problem = url ? connectionUrlProblem(url) : undefined;
  if (url && !problem) values.set('storage.postgres.url', url);
  return { values, origin: () => ({ kind: 'env', name: 'DATABASE_URL' }), ...(problem ? { ignored: problem } : {}) };
}

function flagLayer(overrides: readonly KeyOverride[], issues: ConfigIssue[]): Layer {
  const values = new Map<string, unknown>();
  const flags = new Map<string, string>();
  for (const override of overrides) {
    const origin: Origin = { kind: 'flag', name: override.flag };
    const spec = findKey(override.key);
    if (!spec) {
      const suggestion = suggestKey(override.key);
      const message = isTable(override.key) ? 'is a table; set one of its keys' : 'unknown key';
      issues.push({
        key: shorten(override.key),
        origin,
        message,
        ...(suggestion && !isTable(override.key) ? { suggestion } : {}),
      });
      continue;
    }
    const parsed = parseKeyValue(spec, override.value);
    if (parsed.ok) {
      values.set(spec.key, parsed.value);
      flags.set(spec.key, override.flag);
    } else {
      issues.push({ key: spec.key, origin, message: parsed.message });
    }
  }
  return { values, origin: (key) => ({ kind: 'flag', name: flags.get(key) ?? '--set' }) };
}

function nest(values: ReadonlyMap<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of values) {
    const path = key.split('.');
    let table = root;
    for (const part of path.slice(0, -1)) {
      table = (table[part] ??= {}) as Record<string, unknown>;
    }
    table[path.at(-1)!] = value;
  }
  return root;
}

interface Merged {
  settings?: Settings;
  origins: Map<string, Origin>;
  warnings: string[];
}

/**
 * Merges layers (lowest precedence first), validates the result against the schema and
 * resolves the `sled` alias. Every problem is appended to `issues`.
 */
function merge(layers: readonly Layer[], issues: ConfigIssue[]): Merged {
  const values = new Map<string, unknown>();
  const origins = new Map<string, Origin>(CONFIG_KEYS.map((spec) => [spec.key, DEFAULT_ORIGIN]));
  for (const layer of layers) {
    for (const [key, value] of layer.values) {
      values.set(key, value);
      origins.set(key, layer.origin(key));
    }
  }
  const result = settingsSchema.safeParse(nest(values));
  if (!result.success) {
    const report = (issue: z.core.$ZodIssue) => {
      const key = issue.path.join('.');
      const spec = findKey(key);
      const message =
        spec && issue.code !== 'custom'
          ? `expected ${describeExpected(spec)}, got ${describeValue(values.get(key), { secret: spec.secret })}`
          : issue.message;
      issues.push({ key, origin: origins.get(key) ?? DEFAULT_ORIGIN, message });
    };
    result.error.issues.forEach(report);
    // Cross-key rules run only on values of the right type: check them again without the bad ones,
    // so that every problem is reported at once.
    const bad = new Set(result.error.issues.filter((i) => i.code !== 'custom').map((i) => i.path.join('.')));
    if (bad.size > 0) {
      const rest = new Map([...values].filter(([key]) => !bad.has(key)));
      const again = settingsSchema.safeParse(nest(rest));
      const seen = new Set(issues.map((i) => `${i.key}\0${i.message}`));
      if (!again.success)
        again.error.issues
          .filter((i) => i.code === 'custom' && !seen.has(`${i.path.join('.')}\0${i.message}`))
          .forEach(report);
    }
    return { origins, warnings: [] };
  }
  const warnings: string[] = [];
  const resolveAlias = (key: string, backend: string | undefined): StorageBackend | undefined => {
    if (backend !== 'sled') return backend as StorageBackend | undefined;
    warnings.push(formatConfigIssue({ key, origin: origins.get(key)!, message: SLED_DEPRECATED }));
    return 'embedded';
  };
  const parsed = result.data;
  const storage = parsed.storage;
  const settings: Settings = {
    ...parsed,
    storage: {
      ...storage,
      backend: resolveAlias('storage.backend', storage.backend)!,
      memory: { backend: resolveAlias('storage.memory.backend', storage.memory.backend) },
      state: { backend: resolveAlias('storage.state.backend', storage.state.backend) },
    },
  };
  return { settings, origins, warnings };
}

/** The `CONFIG_INVALID` error listing `issues`, each on its own line. */
export function invalidConfigError(issues: ConfigIssue[]): ConfigError {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return new ConfigError(
    'CONFIG_INVALID',
    `invalid configuration (${count}):\n${issues.map((i) => `  ${formatConfigIssue(i)}`).join('\n')}`,
    {
      issues,
      hint: 'Fix the values named above (`llmspell config set KEY VALUE`, or unset the environment variable); `llmspell config validate` lists every problem.',
    },
  );
}

/**
 * Loads the configuration: defaults < config file < `LLMSPELL_*` environment < flags
 * (`DATABASE_URL` sits just above the defaults, for the URL only). Returns trusted settings and
 * where each value came from, or throws a {@link ConfigError} listing every problem at once.
 */
export async function loadSettings(options: LoadOptions = {}): Promise<ResolvedConfig> {
  const env = options.env ?? process.env;
  const location = resolveConfigFile(env, options.configPath);
  const file = await readConfigFile(location.path);
  if (!file.exists && location.explicit && !options.allowMissingFile) {
    throw new ConfigError('CONFIG_NOT_FOUND', `config file ${location.path} (from ${location.source}) does not exist`, {
      hint: `Create it with \`llmspell config set KEY VALUE --config ${location.path}\`, or point ${location.source} at an existing file.`,
    });
  }
  const issues: ConfigIssue[] = [];
  const databaseUrl = databaseUrlLayer(env);
  const layers = [
    databaseUrl,
    fileLayer(file, issues),
    envLayer(env, issues),
    flagLayer(options.overrides ?? [], issues),
  ];
  const merged = merge(layers, issues);
  if (issues.length > 0 || !merged.settings) throw invalidConfigError(issues);
  const storage = merged.settings.storage;
  const usesPostgres = [storage.backend, storage.memory.backend, storage.state.backend].includes('postgres');
  if (databaseUrl.ignored && usesPostgres && storage.postgres.url === undefined) {
    merged.warnings.push(`DATABASE_URL is ignored: it is not a usable PostgreSQL URL (${databaseUrl.ignored})`);
  }
  return {
    settings: merged.settings,
    origins: merged.origins,
    file: { ...location, exists: file.exists },
    warnings: merged.warnings,
  };
}

/**
 * Every problem of a config document on its own (file values over defaults, no environment), as
 * `config set` compares them before and after an edit. An empty list means the document is valid.
 */
export function configDocumentIssues(data: Record<string, unknown>, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  merge([fileLayer({ exists: true, path, text: '', data }, issues)], issues);
  return issues;
}

/**
 * Validates a config document on its own (file values over defaults, no environment). Throws a
 * {@link ConfigError} listing every problem.
 */
export function validateConfigDocument(data: Record<string, unknown>, path: string): void {
  const issues = configDocumentIssues(data, path);
  if (issues.length > 0) throw invalidConfigError(issues);
}
