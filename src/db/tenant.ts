import { describeValue } from '../config/redact.js';
import { tenantIdPatternProblem, tenantIdProblem } from '../config/schema.js';
import { ConfigError, LlmspellError } from '../errors.js';

/** The application role: NOSUPERUSER, NOBYPASSRLS, owns nothing. Row-level security applies to it. */
export const APP_ROLE = 'llmspell_app';

/** The setting every RLS policy compares `tenant_id` with. */
export const TENANT_SETTING = 'app.current_tenant_id';

const PATTERN_KEY = 'storage.postgres.tenant_id_pattern';

/**
 * Builds the check every tenant id passes before any SQL runs. The pattern comes from
 * `storage.postgres.tenant_id_pattern`; it is analysed again here (memoised, so a loaded config
 * costs nothing) since settings may be built by hand: one that could backtrack catastrophically
 * is refused with `CONFIG_INVALID` instead of run. A tenant id is at most 255 bytes, checked
 * before the pattern runs.
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
    const why = typeof tenantId === 'string' ? tenantIdProblem(tenantId, regex) : 'is not a string';
    if (why) {
      const shown = typeof tenantId === 'string' ? describeValue(tenantId) : `of type ${typeof tenantId}`;
      throw new LlmspellError('TENANT_INVALID', `invalid tenant id ${shown}: it ${why}`, {
        hint: `Tenant ids are checked against ${PATTERN_KEY} before any SQL runs.`,
      });
    }
    return tenantId as string;
  };
}
