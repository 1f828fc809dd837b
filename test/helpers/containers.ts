/**
 * Container-runtime detection for the tests that need images (the VectorChord path). Machines
 * without a container engine skip those tests with a printed reason; GitHub Actions has Docker.
 *
 * testcontainers is imported lazily, so test files that never ask pay nothing for it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';

/** Whether a container runtime answers, and if not, why. */
export type ContainerRuntimeStatus = { available: true } | { available: false; reason: string };

/** Options of {@link detectContainerRuntime}. */
export interface DetectContainerRuntimeOptions {
  /** Give up after this long (the import of testcontainers included). Default 5 000 ms. */
  timeoutMs?: number;
}

let detection: Promise<ContainerRuntimeStatus> | undefined;

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return undefined;
}

/** What is (not) there, to make the reason actionable: DOCKER_HOST, the socket, the CLI. */
function environmentHints(): string {
  const hints: string[] = [];
  const dockerHost = process.env.DOCKER_HOST;
  hints.push(dockerHost ? `DOCKER_HOST=${dockerHost}` : 'DOCKER_HOST unset');
  if (!dockerHost) {
    hints.push(existsSync('/var/run/docker.sock') ? '/var/run/docker.sock exists' : 'no /var/run/docker.sock');
  }
  const cli = onPath('docker');
  hints.push(cli ? `docker CLI at ${cli} but no engine answers` : 'no docker CLI on PATH');
  return hints.join('; ');
}

async function detect(timeoutMs: number): Promise<ContainerRuntimeStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ContainerRuntimeStatus>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          available: false,
          reason: `no container runtime answered within ${timeoutMs} ms (${environmentHints()})`,
        }),
      timeoutMs,
    );
    timer.unref();
  });
  const probe = (async (): Promise<ContainerRuntimeStatus> => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return { available: true };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { available: false, reason: `testcontainers: ${message} (${environmentHints()})` };
    }
  })();
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asks testcontainers for a container runtime (Docker, Podman, …), bounded by a timeout. The
 * answer is computed once per test worker and cached; the `reason` of an unavailable runtime names
 * what is missing (no engine, no socket, …).
 */
export function detectContainerRuntime(options: DetectContainerRuntimeOptions = {}): Promise<ContainerRuntimeStatus> {
  return (detection ??= detect(options.timeoutMs ?? 5_000));
}

let warned = false;

/**
 * `describe(name, fn)` when a container runtime answers; otherwise the same tests are collected
 * under `describe.skip` (in a nested block named after the reason) and the reason is printed once
 * per worker via `console.warn`. The detection runs while the suite is collected, so this is
 * called like `describe`, at the top level of a test file or inside another `describe`.
 */
export function describeWithContainers(name: string, fn: () => void): void {
  describe(name, async () => {
    const status = await detectContainerRuntime();
    if (status.available) {
      fn();
      return;
    }
    if (!warned) {
      warned = true;
      console.warn(
        `skipped: no container runtime (${status.reason}); the VectorChord image tests run on GitHub Actions`,
      );
    }
    describe.skip('skipped: no container runtime', fn);
  });
}
