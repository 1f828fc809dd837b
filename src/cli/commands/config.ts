import type { Command } from 'commander';
import { setConfigValue, unsetConfigValue, type EditResult } from '../../config/edit.js';
import { tomlLiteral } from '../../config/file.js';
import { requireKnownKey } from '../../config/keys.js';
import { redactConnectionString } from '../../config/redact.js';
import { defaultEmbeddedDataDir, resolveConfigFile } from '../../config/paths.js';
import { validateConfig } from '../../config/validate.js';
import { describeOrigin, formatConfigIssue } from '../../errors.js';
import { renderToml, toNestedJson, viewKeys } from '../config-view.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { Handler } from '../program.js';

async function get(
  ctx: CommandContext,
  key: string | undefined,
  opts: { showSecrets?: boolean; showOrigin?: boolean },
): Promise<number> {
  const prefix = key ?? '';
  const leaf = requireKnownKey(prefix, { allowTable: true }) !== undefined;
  const resolved = await ctx.loadConfig();
  if (opts.showSecrets) ctx.out.revealSecrets();
  // The schema's fallback names the directory generically; this environment's is more useful.
  const fallbacks = { 'storage.embedded.path': `default: ${defaultEmbeddedDataDir(ctx.io.env)}` };
  const views = viewKeys(resolved, prefix, { showSecrets: opts.showSecrets === true, fallbacks });

  if (opts.showOrigin) {
    ctx.out.json(Object.fromEntries(views.map((v) => [v.spec.key, { value: v.value ?? null, origin: v.origin }])));
  } else if (leaf) {
    ctx.out.json({ key: views[0]!.spec.key, value: views[0]!.value ?? null });
  } else {
    ctx.out.json(toNestedJson(views, prefix) as object);
  }
  if (leaf) {
    const view = views[0]!;
    if (opts.showOrigin)
      ctx.out.line(
        `${view.spec.key} = ${view.value === undefined ? '(not set)' : tomlLiteral(view.value)}  # from ${view.origin}`,
      );
    else ctx.out.line(view.value === undefined ? '' : String(view.value));
    if (view.value === undefined && !ctx.out.options.json) ctx.out.note(`${view.spec.key} is not set`);
  } else {
    ctx.out.line(renderToml(views, opts.showOrigin === true));
  }
  return EXIT.OK;
}

function reportEdit(ctx: CommandContext, result: EditResult, verb: 'set' | 'unset'): number {
  // A secret is masked as the whole value it is (a password may hold a space), before it is quoted.
  const masked = (value: unknown) =>
    result.secret && typeof value === 'string' ? redactConnectionString(value) : value;
  const shown = (value: unknown) => (value === undefined ? '(not set)' : tomlLiteral(masked(value)));
  const remainingIssues = result.remainingIssues.map((issue) => ({
    ...issue,
    origin: issue.origin ? describeOrigin(issue.origin) : undefined,
  }));
  ctx.out.json({
    ...result,
    value: masked(result.value) ?? null,
    previous: masked(result.previous) ?? null,
    remainingIssues,
  });
  if (!result.changed) {
    ctx.out.line(
      verb === 'set'
        ? `${result.key} is already ${shown(result.value)} in ${result.path}`
        : `${result.key} is not set in ${result.path}; nothing to do`,
    );
  } else if (verb === 'set') {
    const was = result.previous === undefined ? '' : ` (was ${shown(result.previous)})`;
    ctx.out.line(
      `${result.created ? 'created' : 'updated'} ${result.path}: ${result.key} = ${shown(result.value)}${was}`,
    );
  } else {
    ctx.out.line(`updated ${result.path}: removed ${result.key} (was ${shown(result.previous)}); the default applies`);
  }
  for (const warning of result.warnings) ctx.out.warn(warning);
  if (result.overriddenBy) ctx.out.warn(`${result.overriddenBy} is set in the environment and overrides this value`);
  const remaining = result.remainingIssues.length;
  if (remaining > 0) {
    const count = remaining === 1 ? '1 problem' : `${remaining} problems`;
    ctx.out.warn(
      `${result.path} still has ${count} that this edit did not introduce:\n${result.remainingIssues.map((i) => `  ${formatConfigIssue(i)}`).join('\n')}`,
    );
  }
  return EXIT.OK;
}

async function validate(ctx: CommandContext): Promise<number> {
  const report = await validateConfig({
    env: ctx.io.env,
    overrides: ctx.overrides,
    ...(ctx.globals.config ? { configPath: ctx.globals.config } : {}),
  });
  ctx.out.json({
    ...report,
    issues: report.issues.map((issue) => ({
      ...issue,
      origin: issue.origin ? describeOrigin(issue.origin) : undefined,
    })),
  });
  for (const warning of report.warnings) ctx.out.warn(warning);
  const where = report.file.exists ? report.file.path : `${report.file.path} (not present: defaults apply)`;
  if (report.valid) {
    ctx.out.line(`${ctx.out.style.green('✓')} configuration is valid (${where})`);
    return EXIT.OK;
  }
  ctx.out.line(
    `${ctx.out.style.red('✗')} configuration has ${report.issues.length === 1 ? '1 problem' : `${report.issues.length} problems`} (${where}):`,
  );
  for (const issue of report.issues) ctx.out.line(`  ${formatConfigIssue(issue)}`);
  return EXIT.USAGE;
}

function path(ctx: CommandContext): number {
  const location = resolveConfigFile(ctx.io.env, ctx.globals.config);
  ctx.out.json(location);
  ctx.out.line(location.path);
  return EXIT.OK;
}

/** `llmspell config …`: get, set, unset, path, validate. */
export function registerConfigCommands(
  program: Command,
  run: (handler: Handler) => (...args: unknown[]) => Promise<void>,
): void {
  const config = program
    .command('config')
    .description('read and change the configuration (~/.config/llmspell/config.toml)');

  config
    .command('get')
    .description('print a value, a table, or the whole effective configuration (TOML; --json for scripts)')
    .argument('[key]', 'a key (storage.postgres.pool_size) or a table (storage.postgres)')
    .option('--show-secrets', 'print passwords in connection URLs instead of ***')
    .option('--show-origin', 'say where each value came from (default, the file, an environment variable, a flag)')
    .action(
      run((ctx, key, opts) =>
        get(ctx, key as string | undefined, opts as { showSecrets?: boolean; showOrigin?: boolean }),
      ),
    );

  config
    .command('set')
    .description('set a key in the config file (type-checked, validated, comments kept, written atomically)')
    .argument('<key>', 'e.g. storage.backend')
    .argument('<value>', 'parsed for the key\'s type: 25, true, postgres, "postgresql://…"')
    .action(
      run(async (ctx, key, value) =>
        reportEdit(
          ctx,
          await setConfigValue(key as string, value as string, {
            env: ctx.io.env,
            ...(ctx.globals.config ? { configPath: ctx.globals.config } : {}),
          }),
          'set',
        ),
      ),
    );

  config
    .command('unset')
    .description('remove a key from the config file so its default applies again')
    .argument('<key>')
    .action(
      run(async (ctx, key) =>
        reportEdit(
          ctx,
          await unsetConfigValue(key as string, {
            env: ctx.io.env,
            ...(ctx.globals.config ? { configPath: ctx.globals.config } : {}),
          }),
          'unset',
        ),
      ),
    );

  config
    .command('path')
    .description('print the config file path llmspell uses')
    .action(run((ctx) => path(ctx)));

  config
    .command('validate')
    .description('check the configuration (file, environment, flags) and list every problem; non-zero exit if any')
    .action(run((ctx) => validate(ctx)));
}
