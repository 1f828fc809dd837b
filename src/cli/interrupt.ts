/**
 * What to tell a user who presses Ctrl-C: the command that runs registers what it is doing, and the
 * entry point (main.ts) prints it on SIGINT before exiting with 130. A second Ctrl-C exits at once.
 */
let describe: (() => string) | undefined;

/** Registers what an interruption now would mean (or clears it with `undefined`). */
export function whenInterrupted(describer: (() => string) | undefined): void {
  describe = describer;
}

/** What an interruption now means, in a line or two; undefined when nothing is registered. */
export function interruptionNote(): string | undefined {
  return describe?.();
}
