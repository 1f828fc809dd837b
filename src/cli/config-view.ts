import { tomlLiteral } from '../config/file.js';
import { CONFIG_KEYS, isTable, valueAtPath, type KeySpec } from '../config/keys.js';
import type { ResolvedConfig } from '../config/load.js';
import { redactConnectionString } from '../config/redact.js';
import { describeOrigin } from '../errors.js';

/** One key's effective value, as `config get` shows it. */
export interface KeyView {
  spec: KeySpec;
  /** `undefined` when the key has no value (an optional key left unset). */
  value: unknown;
  origin: string;
  /** What applies when an optional key is unset, in words (e.g. the default data directory). */
  fallback?: string;
}

/** Options of the `config get` view. */
export interface ViewOptions {
  showSecrets: boolean;
  /**
   * What applies instead of unset optional keys, by key, where the CLI knows better than the
   * schema's `fallback` (e.g. the default data directory of this environment).
   */
  fallbacks?: Readonly<Record<string, string>>;
}

/** The keys under `prefix` (a key, a table, or '' for everything) with their values and origins. */
export function viewKeys(resolved: ResolvedConfig, prefix: string, options: ViewOptions): KeyView[] {
  return CONFIG_KEYS.filter((spec) => prefix === '' || spec.key === prefix || spec.key.startsWith(`${prefix}.`)).map(
    (spec) => {
      let value = valueAtPath(resolved.settings, spec.path);
      if (spec.secret && !options.showSecrets && typeof value === 'string') value = redactConnectionString(value);
      const fallback = value === undefined ? (options.fallbacks?.[spec.key] ?? spec.fallback) : undefined;
      return {
        spec,
        value,
        origin: describeOrigin(resolved.origins.get(spec.key) ?? { kind: 'default' }),
        ...(fallback ? { fallback } : {}),
      };
    },
  );
}

/**
 * Renders keys as a TOML document grouped by table. Unset keys appear as comments so every key
 * is discoverable; `showOrigin` appends `# from …` to each line.
 */
export function renderToml(views: readonly KeyView[], showOrigin: boolean): string {
  const lines: string[] = [];
  let table: string | undefined;
  for (const view of views) {
    const parent = view.spec.path.slice(0, -1).join('.');
    if (parent !== table) {
      if (lines.length > 0) lines.push('');
      if (parent !== '') lines.push(`[${parent}]`);
      table = parent;
    }
    const name = view.spec.path.at(-1)!;
    const origin = showOrigin ? `  # from ${view.origin}` : '';
    const unset = `# ${name} is not set${view.fallback ? ` (${view.fallback})` : ''}${origin}`;
    lines.push(view.value === undefined ? unset : `${name} = ${tomlLiteral(view.value)}${origin}`);
  }
  return lines.join('\n');
}

/** Nested plain object of the keys' values (unset keys as `null`), for `--json`. */
export function toNestedJson(views: readonly KeyView[], prefix: string): unknown {
  const strip = prefix === '' || isTable(prefix) ? prefix.split('.').filter(Boolean).length : undefined;
  if (strip === undefined) return views[0]?.value ?? null;
  const root: Record<string, unknown> = {};
  for (const view of views) {
    const path = view.spec.path.slice(strip);
    let node = root;
    for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = view.value ?? null;
  }
  return root;
}
