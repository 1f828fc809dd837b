import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { CliIO } from '../../src/cli/output.js';
import { runCli } from '../../src/cli/program.js';

/** What one in-process run of the CLI printed, and its exit status. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCliInProcess}. */
export interface CliRunOptions {
  /** A private directory: HOME is `<dir>/home`, XDG_CONFIG_HOME `<dir>/xdg`. */
  dir: string;
  env?: Record<string, string>;
  /** Whether stdout/stderr look like terminals (colour, progress). */
  tty?: boolean | { stdout: boolean; stderr: boolean };
  /** Answers the CLI's yes/no questions (as a terminal user would); without it, there is no terminal to ask. */
  confirm?: (question: string) => Promise<boolean>;
}

/** Runs the CLI in process (no child process), with a private HOME and XDG_CONFIG_HOME plus `env`. */
export async function runCliInProcess(argv: string[], options: CliRunOptions): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const tty = options.tty ?? false;
  const io: CliIO = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: { HOME: join(options.dir, 'home'), XDG_CONFIG_HOME: join(options.dir, 'xdg'), ...options.env },
    stdoutIsTTY: typeof tty === 'boolean' ? tty : tty.stdout,
    stderrIsTTY: typeof tty === 'boolean' ? tty : tty.stderr,
    ...(options.confirm ? { confirm: options.confirm } : {}),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** The built `llmspell` binary, as `bin` installs it: the bundle (`npm test` builds it first). */
export const CLI_BIN = new URL('../../dist/bin/llmspell.js', import.meta.url).pathname;

/** One run of the binary as a child process. */
export interface CliProcessRun extends CliRun {
  /** Wall time, ms. */
  ms: number;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
}

/**
 * Runs the built `llmspell` binary as a child process with a clean environment (`PATH`,
 * `NO_COLOR=1` and `env`). `onSpawn` gets the child, e.g. to send it a signal at the right moment.
 */
export function runCliProcess(
  args: string[],
  env: Record<string, string> = {},
  onSpawn?: (child: ChildProcess) => void,
): Promise<CliProcessRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    onSpawn?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? -1, signal, stdout, stderr, ms: Date.now() - started }),
    );
  });
}

/** A private directory for in-process CLI runs: see {@link useCliSandbox}. */
export interface CliSandbox {
  /** The directory (HOME is `<dir>/home`, XDG_CONFIG_HOME `<dir>/xdg`). */
  readonly dir: string;
  /** Where the CLI reads and writes its config file by default: `$XDG_CONFIG_HOME/llmspell/config.toml`. */
  readonly configPath: string;
  /** Runs the CLI in process in the sandbox, with `env` added. */
  run(argv: string[], env?: Record<string, string>): Promise<CliRun>;
  /** Writes the default config file. */
  writeConfig(text: string): Promise<void>;
}

/** A fresh {@link CliSandbox} for each test of the calling file (made before, removed after). */
export function useCliSandbox(prefix: string): CliSandbox {
  let dir = '';
  const configPath = () => join(dir, 'xdg', 'llmspell', 'config.toml');
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get configPath() {
      return configPath();
    },
    run: (argv, env = {}) => runCliInProcess(argv, { dir, env }),
    async writeConfig(text) {
      await mkdir(dirname(configPath()), { recursive: true });
      await writeFile(configPath(), text);
    },
  };
}
