#!/usr/bin/env node
// What scripts and CI gates pay on every call: the start-up of the built `llmspell` binary, paired
// against `node -e 0` in the same run (these machines are shared and noisy, so compare ratios).
// Each command runs ROUNDS times, interleaved with the baseline; the medians of wall time and of
// CPU time (user + system, to the millisecond from bash's `times` when the machine has bash;
// /usr/bin/time prints hundredths of a second, a sixth of node -e 0) are printed as a table and
// one JSON line per figure. The embedded-backend commands run on a database made by a first
// `migrate` in a fresh HOME, whose own time is printed too.
//
// Run: npm run build && node bench/cli-start.mjs   (or: npm run bench:cli)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../dist/bin/llmspell.js', import.meta.url).pathname;
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const SHELL = existsSync('/bin/bash') ? '/bin/bash' : undefined;
/** Runs the command given as arguments, then prints the CPU time of the shell and of its children. */
const TIMED = '"$@"; status=$?; times >&2; exit $status';
const home = mkdtempSync(join(tmpdir(), 'llmspell-bench-cli-'));
const env = { PATH: process.env.PATH, HOME: home, NO_COLOR: '1' };

/** One run: wall ms, and CPU ms when bash can tell. */
function run(args) {
  const started = performance.now();
  const result = SHELL
    ? spawnSync(SHELL, ['-c', TIMED, 'bench', process.execPath, ...args], { env, encoding: 'utf8' })
    : spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const wallMs = performance.now() - started;
  if (result.status !== 0 && result.status !== 6) {
    throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  // The last line of `times` is the children's (here: node's) user and system time, e.g. `0m0.052s 0m0.011s`.
  const children = SHELL ? /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(result.stderr.trim().split('\n').at(-1)) : null;
  const seconds = children
    ? Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4])
    : undefined;
  return { wallMs, cpuMs: seconds === undefined ? undefined : seconds * 1000 };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const commands = [
  ['--version', [BIN, '--version']],
  ['config get', [BIN, 'config', 'get']],
  ['database migration-status (embedded)', [BIN, 'database', 'migration-status']],
  ['database health-check (embedded)', [BIN, 'database', 'health-check']],
];

try {
  const first = run([BIN, 'database', 'migrate']);
  const samples = new Map([['node -e 0', []], ...commands.map(([name]) => [name, []])]);
  for (let round = 0; round < ROUNDS; round++) {
    samples.get('node -e 0').push(run(['-e', '0']));
    for (const [name, args] of commands) samples.get(name).push(run(args));
  }
  const base = samples.get('node -e 0');
  const baseWall = median(base.map((s) => s.wallMs));
  const baseCpu = SHELL ? median(base.map((s) => s.cpuMs)) : undefined;
  const rows = [['first database migrate (fresh embedded)', first.wallMs, first.cpuMs, undefined, undefined]];
  for (const [name, runs] of samples) {
    const wall = median(runs.map((s) => s.wallMs));
    const cpu = SHELL ? median(runs.map((s) => s.cpuMs)) : undefined;
    rows.push([name, wall, cpu, wall / baseWall, cpu !== undefined ? cpu / baseCpu : undefined]);
  }
  const fmt = (ms) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(3)} s`);
  const ratio = (r) => (r === undefined ? '—' : `${r.toFixed(2)}x`);
  console.log(`CLI start-up, median of ${ROUNDS} interleaved runs (${new Date().toISOString().slice(0, 10)}):`);
  console.log('| command | wall | CPU | wall / node -e 0 | CPU / node -e 0 |');
  console.log('|---|---|---|---|---|');
  for (const [name, wall, cpu, wr, cr] of rows)
    console.log(`| ${name} | ${fmt(wall)} | ${fmt(cpu)} | ${ratio(wr)} | ${ratio(cr)} |`);
  for (const [name, wall, cpu, wr, cr] of rows) {
    console.log(
      JSON.stringify({
        bench: 'cli-start',
        command: name,
        wallMs: Math.round(wall),
        cpuMs: cpu && Math.round(cpu),
        wallRatio: wr,
        cpuRatio: cr,
      }),
    );
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
