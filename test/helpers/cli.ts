import { join } from 'node:path';
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
