import { describeValue } from '../config/redact.js';
import { tenantIdPatternProblem, tenantIdProblem } from '../config/schema.js';
import { ConfigError, LlmspellError } from '../errors.js';

/** The application role: NOSUPERUSER, NOBYPASSRLS, owns nothing. Row-level security applies to it. */
export const APP_ROLE = 'llmspell_app';

/** The setting every RLS policy compares `tenant_id` with. */
export const TENANT_SETTING = 'app.current_tenant_id';

/** The first key of a tenant's erasure lock (`'llme'`); the second is `hashtext(tenant)` (migration 0012). */
export const ERASURE_LOCK = 1819045221;

/**
 * Whether a server error is the refusal of a write of a tenant being forgotten: the CHECK
 * `<table>_tenant_writable` of every tenant table (migration 0013) failed (23514), because it could
 * not take the tenant's erasure lock in shared mode, which an erasure holds exclusively.
 */
export function isErasureRefusal(error: { code?: unknown; constraint?: unknown }): boolean {
  return (
    error.code === '23514' && typeof error.constraint === 'string' && error.constraint.endsWith('_tenant_writable')
  );
}

const PATTERN_KEY = 'storage.postgres.tenant_id_pattern';

/**
 * Characters that change how an id displays without showing themselves, refused in tenant ids
 * (whatever the pattern admits) and in the ids of the storage modules (`identifier()` in
 * `src/storage/values/fields.ts`): the bidirectional formatting characters (U+061C, U+200E,
 * U+200F, U+202A–U+202E, U+2066–U+2069), with which one id can display as another
 * (`"abc\u202Efed"` shows as `abcdef`), and the zero-width ones that have no part in any script
 * (U+200B, U+2060–U+2064, U+FEFF), with which an id looks like the id without them. ZWNJ and ZWJ
 * (U+200C, U+200D) are allowed: Persian, Indic scripts and emoji sequences need them.
 */
export const INVISIBLE_FORMAT = /[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
const INVISIBLE_FORMAT_ALL = new RegExp(INVISIBLE_FORMAT.source, 'g');

/** `U+202E`: a code point as Unicode names it. */
const codePoint = (char: string): string => `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** The problem of a tenant id that holds an {@link INVISIBLE_FORMAT} character, or `undefined`. */
function invisibleProblem(tenantId: string): string | undefined {
  const found = INVISIBLE_FORMAT.exec(tenantId)?.[0];
  if (found === undefined) return undefined;
  return `holds ${codePoint(found)}, a character that changes how text displays without showing itself: no tenant id may hold a bidirectional formatting character (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or a zero-width space (U+200B, U+2060–U+2064, U+FEFF), whatever ${PATTERN_KEY} admits`;
}

/**
 * Builds the check every tenant id passes before any SQL runs. The pattern comes from
 * `storage.postgres.tenant_id_pattern`; it is analysed again here (memoised, so a loaded config
 * costs nothing) since settings may be built by hand: one that could backtrack catastrophically
 * is refused with `CONFIG_INVALID` instead of run. A tenant id is at most 255 bytes, checked
 * before the pattern runs, and holds no bidirectional-formatting or zero-width character
 * ({@link INVISIBLE_FORMAT}), whatever the pattern admits.
 */
export function tenantIdValidator(pattern: string): (tenantId: unknown) => string {
  const problem = tenantIdPatternProblem(pattern);
  if (problem) {
    throw new ConfigError('CONFIG_INVALID', `${PATTERN_KEY}: ${problem}`, {
      issues: [{ key: PATTERN_KEY, message: problem }],
      hint: `Fix it with \`llmspell config set ${PATTERN_KEY} PATTERN\`, or \`llmspell config unset ${PATTERN_KEY}\` for the default.`,
    });
  }
  const regex = new RegExp(pattern);
  return (tenantId) => {
    const why =
      typeof tenantId === 'string'
        ? (tenantIdProblem(tenantId, regex) ?? invisibleProblem(tenantId))
        : 'is not a string';
    if (why) {
      // Shown escaped, so that the message itself does not display reordered.
      const shown =
        typeof tenantId === 'string'
          ? describeValue(tenantId).replace(INVISIBLE_FORMAT_ALL, (c) => `\\u${c.charCodeAt(0).toString(16)}`)
          : `of type ${typeof tenantId}`;
      throw new LlmspellError('TENANT_INVALID', `invalid tenant id ${shown}: it ${why}`, {
        hint: `Tenant ids are checked against ${PATTERN_KEY} before any SQL runs.`,
      });
    }
    return tenantId as string;
  };
}
