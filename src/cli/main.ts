#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; should a dropped connection still hold the event loop, do not hang.
// eslint-disable-next-line no-restricted-properties -- the entry point is the one place that may exit
setTimeout(() => process.exit(code), 2000).unref();
