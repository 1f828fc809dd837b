import { describe, expect, it } from 'vitest';
import { Output, type CliIO } from '../../../src/cli/output.js';
import { ConfigError } from '../../../src/errors.js';
import { useCliSandbox } from '../../helpers/cli.js';

// Every byte the CLI writes goes through Output: no output mode (human, --json, --verbose) may
// print a password, whatever form holds it.

const { run, writeConfig } = useCliSandbox('llmspell-cli-secrets-');

function capture(options: { json?: boolean; verbose?: boolean } = {}) {
  const written = { stdout: '', stderr: '' };
  const io: CliIO = {
    stdout: (text) => void (written.stdout += text),
    stderr: (text) => void (written.stderr += text),
    env: {},
    stdoutIsTTY: false,
    stderrIsTTY: false,
  };
  return { out: new Output(io, { json: false, verbose: false, color: false, ...options }), written };
}

describe('config get masks every password-bearing form, in every output mode', () => {
  it.each([
    ['a percent-encoded ?pass%77ord=', 'postgresql://u@h/db?pass%77ord=hunter2x', 'postgresql://u@h/db?pass%77ord=***'],
    ['?PASSWORD=', 'postgresql://u@h/db?PASSWORD=hunter2x', 'postgresql://u@h/db?PASSWORD=***'],
    [
      '?sslpassword= (the key passphrase)',
      'postgresql://u@h/db?sslpassword=hunter2x',
      'postgresql://u@h/db?sslpassword=***',
    ],
    ['a userinfo password with a space', 'postgresql://u:hun ter2@h/db', 'postgresql://u:***@h/db'],
  ])('%s', async (_name, url, masked) => {
    for (const [argv, env] of [
      [['config', 'get', 'storage.postgres.url'], { LLMSPELL_STORAGE_POSTGRES_URL: url }],
      [['--database-url', url, 'config', 'get', 'storage.postgres.url'], {}],
      [['--set', `storage.postgres.url=${url}`, 'config', 'get', 'storage.postgres.url'], {}],
    ] as const) {
      const human = await run([...argv], env);
      expect(human, argv.join(' ')).toEqual({ code: 0, stdout: `${masked}\n`, stderr: '' });
      const json = await run(['--json', ...argv], env);
      expect(json.code, argv.join(' ')).toBe(0);
      expect(json.stderr, argv.join(' ')).toBe('');
      expect(JSON.parse(json.stdout), argv.join(' ')).toEqual({
        format_version: 1,
        key: 'storage.postgres.url',
        value: masked,
      });
    }
  });

  it('--json: a password whose quote JSON escapes is masked whole', async () => {
    const result = await run(['--json', 'config', 'get', 'storage.postgres'], {
      LLMSPELL_STORAGE_POSTGRES_URL: 'postgresql://u@h/db?password=ab"cd',
    });
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { url: string }).url).toBe('postgresql://u@h/db?password=***');
    expect(result.stdout).not.toContain('cd');
  });
});

describe('errors never echo a password', () => {
  it('a keyword-form value with a doubled quote, in an environment variable of the wrong type', async () => {
    const result = await run(['--json', 'config', 'get'], {
      LLMSPELL_STORAGE_POSTGRES_POOL_SIZE: "host=h password='it''s-secret'",
    });
    expect(result.code).toBe(2);
    const { error } = JSON.parse(result.stdout) as { error: { issues: { message: string }[] } };
    expect(error.issues.map((i) => i.message)).toEqual([
      'expected an integer from 1 to 10000, got "host=h password=***"',
    ]);
  });

  it("commander's own message (an invalid --backend) is masked by structure", async () => {
    const argv = ['--backend', 'postgresql://u@h/db?pass%77ord=hunter2x', 'config', 'get'];
    const human = await run(argv);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain("argument 'postgresql://u@h/db?pass%77ord=*** is invalid");
    const json = await run(['--json', ...argv]);
    expect(json.stdout).toContain("argument 'postgresql://u@h/db?pass%77ord=*** is invalid");
    expect(human.stderr + json.stdout).not.toContain('hunter2x');
  });

  it('--verbose on a TOML syntax error: neither the excerpt nor any stack shows the password', async () => {
    await writeConfig('[storage.postgres]\nurl = "postgresql://u:qqsec ret7@h/db"\npool_size = = 3\n');
    const result = await run(['--verbose', 'config', 'get']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('2:  url = ***\n');
    expect(result.stderr).toMatch(/^\s+at /m);
    expect(result.stderr).not.toMatch(/qqsec|ret7/);
  });

  it('a hint keeps the placeholder of its example URL readable', async () => {
    const result = await run(['config', 'set', 'storage.postgres.url', 'x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('for example postgresql://user:password@host:port/database?params.');
  });
});

describe('Output', () => {
  it('json() masks string by string, so JSON escapes never hide a password', () => {
    const { out, written } = capture({ json: true });
    out.json({ dsn: 'host=h password=ab"cd', url: 'postgresql://u@h/db?Password=x"y' });
    expect(JSON.parse(written.stdout)).toEqual({
      format_version: 1,
      dsn: 'host=h password=***',
      url: 'postgresql://u@h/db?Password=***',
    });
  });

  it('error() in --json mode masks the message, the hint and the issues', () => {
    const { out, written } = capture({ json: true });
    const message = 'bad: postgresql://u@h/db?sslpassword=k"ey';
    out.error(new ConfigError('CONFIG_INVALID', message, { hint: message, issues: [{ key: 'k', message }] }));
    const masked = 'bad: postgresql://u@h/db?sslpassword=***';
    expect(JSON.parse(written.stdout)).toEqual({
      format_version: 1,
      error: { code: 'CONFIG_INVALID', message: masked, hint: masked, issues: [{ key: 'k', message: masked }] },
    });
  });

  it('--verbose prints each stack with the masked message, not the raw header V8 kept', () => {
    const { out, written } = capture({ verbose: true });
    const cause = new Error('connect postgresql://u:qqsec ret7@h/db failed');
    cause.message = 'connect postgresql://u:***@h/db failed';
    out.error(new ConfigError('CONFIG_INVALID', 'outer', { cause }));
    expect(written.stderr).toContain('Error: connect postgresql://u:***@h/db failed\n    at ');
    expect(written.stderr).not.toMatch(/qqsec|ret7/);
  });

  it('a registered password is masked wherever it appears, but only 64 of them are kept', () => {
    const { out } = capture();
    const secrets = Array.from({ length: 100 }, (_, i) => `secret-${i}-number`);
    out.addSecrets(secrets);
    expect(out.scrub('secret-0-number and secret-63-number')).toBe('*** and ***');
    expect(out.scrub('secret-64-number')).toBe('secret-64-number');
  });
});
