import { createInterface } from 'node:readline/promises';
import { Chalk, type ChalkInstance } from 'chalk';
import { LlmspellError } from '../errors.js';
import { redactConnectionStringsIn, redactValue, scrubSecrets } from '../config/redact.js';

/** Where the CLI writes and what it knows of its terminal. Injected so tests run the CLI in process. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (colour, tables). */
  stdoutIsTTY: boolean;
  /** Whether stderr is a terminal (progress). */
  stderrIsTTY: boolean;
  /** Asks a yes/no question on the terminal; absent when there is no terminal to ask on. */
  confirm?: (question: string) => Promise<boolean>;
}

/** The process's own streams. */
export function processIO(): CliIO {
  return {
    stdout: writerFor(process.stdout),
    stderr: writerFor(process.stderr),
    env: process.env,
    stdoutIsTTY: process.stdout.isTTY === true,
    stderrIsTTY: process.stderr.isTTY === true,
    ...(process.stdin.isTTY && process.stderr.isTTY ? { confirm: askOnTerminal } : {}),
  };
}

/**
 * Writes to a stream until its reader goes away (`llmspell … | head`): then the rest is dropped
 * instead of crashing with EPIPE, and the command still finishes what it started (a migration
 * must not stop halfway because nobody reads its report).
 */
function writerFor(stream: NodeJS.WriteStream): (text: string) => void {
  let closed = false;
  stream.on('error', () => {
    closed = true;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** Output options every command shares. */
export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  color: boolean;
}

/**
 * Registered secrets shorter than this are not replaced wherever they appear: common 8-letter
 * passwords (`postgres`, `password`, `llmspell`) would turn those words of every message into ***.
 * Connection strings are masked by their structure whatever the length of their password.
 */
const MIN_RAW_SECRET_LENGTH = 9;
/**
 * Registered secrets longer than this are not searched for as raw text (a value that long is never
 * echoed whole: messages cut values to 80 characters, and connection strings are masked by their
 * structure).
 */
const MAX_RAW_SECRET_LENGTH = 4096;
/**
 * At most this many secrets are registered (a configuration has a handful): each costs a pass
 * over every line written, so a value holding thousands of `password=…` pairs must not multiply
 * the cost of output.
 */
const MAX_RAW_SECRETS = 64;

/**
 * An error's stack for `--verbose`: its name, its message and the frames, without the header
 * V8 wrote into `stack` at construction (the raw message, before any masking).
 */
function stackOf(error: Error): string {
  const stack = error.stack ?? '';
  const frames = stack.indexOf('\n    at ');
  return `${error.name}: ${error.message}${frames < 0 ? '' : stack.slice(frames)}`;
}

/**
 * The version of the shape of every `--json` document, its `format_version` field. Fields may be
 * added within a version; one that is renamed, removed or changes meaning bumps it.
 */
export const JSON_FORMAT_VERSION = 1;

/**
 * Writes a command's results: human text or one JSON document on stdout; notes, warnings,
 * progress and errors on stderr. Every line passes through the secret scrubber.
 */
export class Output {
  /** Colours for stdout (results); none unless stdout is a terminal (or FORCE_COLOR). */
  readonly style: ChalkInstance;
  /** Colours for stderr (warnings, errors, progress), which may be a terminal when stdout is not. */
  private readonly errStyle: ChalkInstance;
  private readonly secrets = new Set<string>();

  constructor(
    private readonly io: CliIO,
    readonly options: OutputOptions,
  ) {
    const colorAllowed = (isTTY: boolean) =>
      options.color && io.env.NO_COLOR === undefined && (isTTY || io.env.FORCE_COLOR !== undefined);
    this.style = new Chalk({ level: colorAllowed(io.stdoutIsTTY) ? 1 : 0 });
    this.errStyle = new Chalk({ level: colorAllowed(io.stderrIsTTY) ? 1 : 0 });
  }

  private revealing = false;

  /** `--show-secrets`: the user asked to see them, so results on stdout are not scrubbed. */
  revealSecrets(): void {
    this.revealing = true;
  }

  /**
   * Registers secrets (passwords) that must never appear in output. Those of 8 characters or
   * fewer are masked only inside connection strings (see {@link Output.scrub}).
   */
  addSecrets(secrets: readonly string[]): void {
    for (const secret of secrets) {
      if (this.secrets.size >= MAX_RAW_SECRETS) break;
      if (secret.length >= MIN_RAW_SECRET_LENGTH && secret.length <= MAX_RAW_SECRET_LENGTH) this.secrets.add(secret);
    }
  }

  /** A line (or block) of human output on stdout; ignored in `--json` mode. */
  line(text = ''): void {
    if (!this.options.json) this.io.stdout((this.revealing ? text : this.scrub(text)) + '\n');
  }

  /**
   * The JSON result on stdout, with `format_version` first; ignored in human mode. Masked string
   * by string, before serialising.
   */
  json(value: object): void {
    if (this.options.json) this.writeJson(this.revealing ? value : (this.scrubValue(value) as object));
  }

  /** One JSON document on stdout: `format_version`, then the fields of `value`. */
  private writeJson(value: object): void {
    this.io.stdout(JSON.stringify({ format_version: JSON_FORMAT_VERSION, ...value }, null, 2) + '\n');
  }

  /** A note for humans on stderr (also in `--json` mode, where stdout is for the document). */
  note(text: string): void {
    this.io.stderr(this.scrub(text) + '\n');
  }

  /** A warning on stderr. */
  warn(text: string): void {
    this.io.stderr(this.scrub(`${this.errStyle.yellow('warning:')} ${text}`) + '\n');
  }

  /**
   * A line of progress on stderr (dim on a terminal), in every mode: a CI log too shows what a
   * long first run or migration is doing instead of silence. Never on stdout, which holds only
   * the result.
   */
  progress(text: string): void {
    this.io.stderr(this.scrub(this.errStyle.dim(text)) + '\n');
  }

  /** Reports an error: message and hint; the stack only with `--verbose`; JSON on stdout in `--json` mode. */
  error(error: unknown): void {
    const known = error instanceof LlmspellError;
    const message = error instanceof Error ? error.message : String(error);
    if (this.options.json) {
      const body = known ? error.toJSON() : { code: 'INTERNAL', message };
      this.writeJson({ error: this.scrubValue(body) });
    } else {
      this.io.stderr(this.scrub(`${this.errStyle.red('error:')} ${message}`) + '\n');
      if (known && error.hint)
        this.io.stderr(
          this.scrub(
            error.hint
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n'),
          ) + '\n',
        );
    }
    if (this.options.verbose) {
      let current: unknown = error;
      for (let depth = 0; current instanceof Error && depth < 8; depth++) {
        this.io.stderr(this.scrub(stackOf(current)) + '\n');
        current = current.cause;
        if (current) this.io.stderr('caused by: ');
      }
      if (current !== undefined && !(current instanceof Error)) this.io.stderr(this.scrub(String(current)) + '\n');
    } else if (!known) {
      this.io.stderr('  (run with --verbose for the stack trace)\n');
    }
  }

  /**
   * With `--verbose`, what lies behind a failure on stderr: each error of the cause chain with its
   * stack, and the server's fields (SQLSTATE, detail, hint, where); nothing otherwise.
   */
  details(error: unknown): void {
    if (!this.options.verbose) return;
    let current: unknown = error;
    for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
      if (depth > 0) this.io.stderr('caused by: ');
      const fields = (current as { fields?: Record<string, unknown> }).fields;
      const raw = current as { code?: unknown; detail?: unknown; where?: unknown };
      const facts = {
        ...(fields ?? {}),
        ...(typeof raw.code === 'string' && !fields ? { code: raw.code } : {}),
        ...(typeof raw.detail === 'string' && !fields ? { detail: raw.detail } : {}),
      };
      const stack = this.scrub(current instanceof Error ? stackOf(current) : String(current));
      const shown = Object.keys(facts).length > 0 ? `\n  ${JSON.stringify(this.scrubValue(facts))}` : '';
      this.io.stderr(`${stack}${shown}\n`);
      current = current instanceof Error ? current.cause : undefined;
    }
  }

  /** A JSON-like value with every string in it masked (see {@link Output.scrub}). */
  private scrubValue(value: unknown): unknown {
    return redactValue(value, (text) => this.scrub(text));
  }

  /**
   * Masks secrets in text: first the password of every connection string (URL or keyword form),
   * then each registered secret wherever it appears. Linear in the length of the text (for each
   * registered secret). Also for text written elsewhere (commander's own messages).
   */
  scrub(text: string): string {
    const structural = redactConnectionStringsIn(text);
    return this.secrets.size > 0 ? scrubSecrets(structural, [...this.secrets]) : structural;
  }
}
