import { describe, expect, it } from 'vitest';
import { Output, type CliIO, type OutputOptions } from '../../../src/cli/output.js';
import { ConfigError } from '../../../src/errors.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;

/** An Output writing to strings, with the given terminals. */
function capture(tty: { stdout: boolean; stderr: boolean }, options: Partial<OutputOptions> = {}) {
  const written = { stdout: '', stderr: '' };
  const io: CliIO = {
    stdout: (text) => {
      written.stdout += text;
    },
    stderr: (text) => {
      written.stderr += text;
    },
    env: {},
    stdoutIsTTY: tty.stdout,
    stderrIsTTY: tty.stderr,
  };
  const out = new Output(io, { json: false, verbose: false, color: true, ...options });
  return { out, written };
}

describe('Output.scrub', () => {
  it('masks connection-string passwords even when none was registered', () => {
    const { out } = capture({ stdout: false, stderr: false });
    expect(out.scrub('got "postgresql://u:pw@h/db" and host=h password=pw')).toBe(
      'got "postgresql://u:***@h/db" and host=h password=***',
    );
  });

  it('keeps words that equal a password of 8 characters or fewer', () => {
    const { out } = capture({ stdout: false, stderr: false });
    out.addSecrets(['pg', 'postgres', 'llmspell']);
    expect(out.scrub('storage.backend = postgres; llmspell; postgresql://postgres:postgres@h/db')).toBe(
      'storage.backend = postgres; llmspell; postgresql://postgres:***@h/db',
    );
  });

  it('replaces a longer registered password wherever it appears', () => {
    const { out } = capture({ stdout: false, stderr: false });
    out.addSecrets(['Tr0ub4dor&3']);
    expect(out.scrub('authentication failed (Tr0ub4dor&3)')).toBe('authentication failed (***)');
  });

  it('masks results on stdout, unless the secrets are revealed', () => {
    const { out, written } = capture({ stdout: false, stderr: false });
    out.line('postgresql://u:pw@h/db');
    out.revealSecrets();
    out.line('postgresql://u:pw@h/db');
    expect(written.stdout).toBe('postgresql://u:***@h/db\npostgresql://u:pw@h/db\n');
  });
});

describe('Output colours', () => {
  it('colours stderr when stderr is a terminal and stdout is not', () => {
    const { out, written } = capture({ stdout: false, stderr: true });
    out.line(out.style.green('ok'));
    out.warn('careful');
    out.error(new ConfigError('CONFIG_INVALID', 'bad'));
    expect(written.stdout).not.toMatch(ANSI);
    expect(written.stderr).toMatch(ANSI);
  });

  it('does not colour stderr when only stdout is a terminal', () => {
    const { out, written } = capture({ stdout: true, stderr: false });
    out.line(out.style.green('ok'));
    out.warn('careful');
    out.error(new ConfigError('CONFIG_INVALID', 'bad'));
    expect(written.stdout).toMatch(ANSI);
    expect(written.stderr).not.toMatch(ANSI);
  });
});

describe('Output.progress', () => {
  it.each([false, true])('writes a plain line on stderr when stderr is not a terminal (--json %s)', (json) => {
    const { out, written } = capture({ stdout: false, stderr: false }, { json });
    out.progress('[1/12] applying 0001_extensions_and_schema… postgresql://u:pw@h/db');
    expect(written.stderr).toBe('[1/12] applying 0001_extensions_and_schema… postgresql://u:***@h/db\n');
    expect(written.stdout).toBe('');
  });

  it('dims it on a terminal', () => {
    const { out, written } = capture({ stdout: true, stderr: true });
    out.progress('working');
    expect(written.stderr).toMatch(ANSI);
    expect(written.stdout).toBe('');
  });
});
