import { LlmspellError } from '../errors.js';
import type { Queryable } from './types.js';

/** The oldest PostgreSQL major the schema and every check run on (`server_version_num`). */
export const SERVER_VERSION_MIN = 150000;
/** The major the production image and VectorChord 0.5 are built for; older supported ones get a warning. */
export const SERVER_VERSION_RECOMMENDED = 180000;

/** A server's version, and where it stands. */
export interface ServerVersion {
  /** `server_version`, e.g. `17.6` or `18.4 (Debian 18.4-1)`. */
  version: string;
  /** `server_version_num`, e.g. `170006`. */
  num: number;
  /** `recommended` (18+), `supported` (15–17, with a warning), or `unsupported` (below 15). */
  support: 'recommended' | 'supported' | 'unsupported';
}

/** Reads the server's version and classifies it. */
export async function serverVersion(client: Queryable): Promise<ServerVersion> {
  const { rows } = await client.query<{ version: string; num: number }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num",
  );
  const { version, num } = rows[0]!;
  const support =
    num >= SERVER_VERSION_RECOMMENDED ? 'recommended' : num >= SERVER_VERSION_MIN ? 'supported' : 'unsupported';
  return { version: version.split(' ')[0]!, num, support };
}

/** The warning for a supported server older than the recommended one. */
export function olderServerWarning(server: ServerVersion): string {
  return `PostgreSQL ${server.version} is supported, but 18 is recommended: the production image and VectorChord 0.5 are built for it.`;
}

/** Refuses a server below {@link SERVER_VERSION_MIN} (`DB_VERSION_UNSUPPORTED`). */
export function assertSupportedServer(server: ServerVersion, target: string): void {
  if (server.support !== 'unsupported') return;
  throw new LlmspellError(
    'DB_VERSION_UNSUPPORTED',
    `${target} runs PostgreSQL ${server.version}; llmspell needs PostgreSQL 15 or later (18 recommended)`,
    {
      hint: "Nothing was changed. Upgrade the server (pg_upgrade, or a managed service's major-version upgrade), or point storage.postgres.url at a PostgreSQL 15–18 server.",
    },
  );
}
