export { healthCheck, type HealthReport, type HealthStatus, type HealthCheckOptions } from './health-check.js';
export {
  HEALTH_CHECKS,
  PGVECTOR_MIN_SAFE,
  compareVersions,
  type Check,
  type CheckResult,
  type CheckStatus,
  type CheckContext,
} from './checks.js';
