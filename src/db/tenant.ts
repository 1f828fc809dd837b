import { LlmspellError } from '../errors.js';

/** The application role: NOSUPERUSER, NOBYPASSRLS, owns nothing. Row-level security applies to it. */
export const APP_ROLE = 'llmspell_app';

/** The setting every RLS policy compares `tenant_id` with. */
export const TENANT_SETTING = 'app.current_tenant_id';

/**
 * Builds the check every tenant id passes before any SQL runs. The pattern comes from
 * `storage.postgres.tenant_id_pattern` (already validated as a regular expression by the schema).
 */
export function tenantIdValidator(pattern: string): (tenantId: unknown) => string {
  const regex = new RegExp(pattern);
  return (tenantId) => {
    if (typeof tenantId !== 'string' || !regex.test(tenantId) || tenantId.includes('\0')) {
      const shown =
        typeof tenantId === 'string'
          ? JSON.stringify(tenantId.length > 80 ? `${tenantId.slice(0, 80)}…` : tenantId)
          : String(tenantId);
      throw new LlmspellError('TENANT_INVALID', `invalid tenant id ${shown}: it must match ${pattern}`, {
        hint: 'Tenant ids are checked against storage.postgres.tenant_id_pattern before any SQL runs.',
      });
    }
    return tenantId;
  };
}
