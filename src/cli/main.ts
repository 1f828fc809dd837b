#!/usr/bin/env node
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import { interruptionNote } from './interrupt.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // What scripts call most often: answered before the program (and its dependencies) is loaded.
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  process.stdout.write(`${version}\n`);
} else {
  // The embedded backend is PostgreSQL compiled to WebAssembly. V8 compiles it twice: quickly
  // (Liftoff), then again optimised in background threads, which a short command never profits
  // from and waits for at exit. Liftoff alone took embedded commands from 1.2 s to 0.8 s and made
  // a first initdb no slower (bench/cli-start.mjs). Only the CLI sets this: a long-running
  // process that uses the library keeps V8's default.
  v8.setFlagsFromString('--liftoff-only');
  let interrupted = false;
  process.on('SIGINT', () => {
    // eslint-disable-next-line no-restricted-properties -- the entry point is the one place that may exit
    if (interrupted) process.exit(130);
    interrupted = true;
    const note = interruptionNote();
    process.stderr.write(`\ninterrupted${note ? `: ${note}` : ''}\n`);
    // eslint-disable-next-line no-restricted-properties -- the entry point is the one place that may exit
    process.exit(130);
  });

  const { runCli } = await import('./program.js');
  const code = await runCli(argv);
  process.exitCode = code;
  // Everything is closed by now; should a dropped connection still hold the event loop, do not hang.
  // eslint-disable-next-line no-restricted-properties -- the entry point is the one place that may exit
  setTimeout(() => process.exit(code), 2000).unref();
}
