#!/usr/bin/env node
import { interruptionNote } from './interrupt.js';
import { runCli } from './program.js';

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

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; should a dropped connection still hold the event loop, do not hang.
// eslint-disable-next-line no-restricted-properties -- the entry point is the one place that may exit
setTimeout(() => process.exit(code), 2000).unref();
