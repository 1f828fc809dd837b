import pg from 'pg';
import { DatabaseError, isDriverError, toDatabaseError } from './errors.js';
import { APP_ROLE, TENANT_SETTING } from './tenant.js';
import type { Database, DriverKind, PoolStats, Queryable } from './types.js';

/** A connection lent by a {@link ConnectionSource}; `release(true)` discards a broken one. */
export interface Lease {
  client: pg.ClientBase;
  release(discard?: boolean): void;
}

/** What a driver provides: connections on loan, counts, and shutdown. Everything else is shared. */
export interface ConnectionSource {
  readonly kind: DriverKind;
  readonly target: string;
  acquire(): Promise<Lease>;
  stats(): PoolStats;
  close(): Promise<void>;
}

/** Tenant rules a database applies in `withTenant`. */
export interface TenantPolicy {
  /** Returns the id if valid, throws `TENANT_INVALID` otherwise. */
  validate: (tenantId: unknown) => string;
  /** Switch to the application role when the login role is another one. */
  enforceAppRole: boolean;
}

/**
 * The one implementation of {@link Database}, over any {@link ConnectionSource}: transactions,
 * tenant scoping and error mapping are written once for all three drivers.
 */
export class SourceDatabase implements Database {
  /** Per physical client: is its login role already the application role? */
  private readonly loginIsAppRole = new WeakMap<pg.ClientBase, boolean>();

  constructor(
    private readonly source: ConnectionSource,
    private readonly tenants: TenantPolicy,
  ) {}

  get kind(): DriverKind {
    return this.source.kind;
  }

  get target(): string {
    return this.source.target;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: readonly unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.withClient((client) => client.query<R>(text, values));
  }

  withClient<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    return this.borrow((client) => fn(client));
  }

  withTransaction<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    return this.borrow(async (client, discard) => {
      await client.query('BEGIN');
      try {
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // BEGIN succeeded, so a ROLLBACK is due; a connection that cannot roll back is not reused.
        await client.query('ROLLBACK').catch(discard);
        throw error;
      }
    });
  }

  async withTenant<T>(tenantId: string, fn: (client: Queryable) => Promise<T>): Promise<T> {
    const id = this.tenants.validate(tenantId);
    return this.withTransaction(async (client) => {
      // Separate statements, not one multi-statement string: Citus forwards each parsed SET LOCAL (DESIGN.md §5).
      if (this.tenants.enforceAppRole && !(await this.isAppRole(client))) {
        await client.query(`SET LOCAL ROLE ${pg.escapeIdentifier(APP_ROLE)}`);
      }
      await client.query(`SET LOCAL ${TENANT_SETTING} = ${pg.escapeLiteral(id)}`);
      return fn(client);
    });
  }

  stats(): PoolStats {
    return this.source.stats();
  }

  close(): Promise<void> {
    return this.source.close();
  }

  /** Lends a connection to `fn`; it goes back to the source afterwards, or is discarded if broken. */
  private async borrow<T>(fn: (client: Queryable, discard: () => void) => Promise<T>): Promise<T> {
    let lease: Lease;
    try {
      lease = await this.source.acquire();
    } catch (error) {
      const { total, max } = this.source.stats();
      if (total >= max && /timeout/i.test(String((error as Error).message))) {
        throw new DatabaseError(
          'DB_POOL_TIMEOUT',
          `no connection came free within storage.postgres.pool_timeout_secs: all ${max} pooled connections stayed in use`,
          {
            hint: "Raise storage.postgres.pool_size (and the server's max_connections), or hold connections for less time.",
            cause: error,
          },
        );
      }
      throw toDatabaseError(error, this.target);
    }
    let broken = false;
    try {
      return await fn(lease.client as Queryable, () => {
        broken = true;
      });
    } catch (error) {
      broken ||= isConnectionFailure(error);
      // The caller's own errors pass through untouched; only the driver's are translated.
      throw isDriverError(error) ? toDatabaseError(error, this.target) : error;
    } finally {
      lease.release(broken);
    }
  }

  private async isAppRole(client: Queryable): Promise<boolean> {
    const key = client as pg.ClientBase;
    let known = this.loginIsAppRole.get(key);
    if (known === undefined) {
      const { rows } = await client.query<{ is_app: boolean }>('SELECT session_user = $1 AS is_app', [APP_ROLE]);
      known = rows[0]?.is_app === true;
      this.loginIsAppRole.set(key, known);
    }
    return known;
  }
}

/** A failure after which the connection must not go back to the pool. */
function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(08|57P)/.test(code)) return true;
  const message = String((error as { message?: unknown } | null)?.message ?? '');
  return /Connection terminated|not queryable|ECONNRESET/.test(message);
}
