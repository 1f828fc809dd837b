/** Sessions: status, metadata, last access and expiry (component `state`). */
import { defineModule } from '../../mechanism/module.js';
import * as sql from './sql.js';
import { DefaultSessionStore, type SessionStore } from './store.js';

export type { SessionStore };
export { SESSION_STATUSES, SESSION_TRANSITIONS } from './types.js';
export type { ListOptions as SessionListOptions, NewSession, Session, SessionStatus, SessionUpdate } from './types.js';

export const sessionsModule = defineModule({
  id: 'sessions',
  component: 'state',
  statements: sql,
  owner: { tables: [{ name: 'sessions', key: ['session_id'] }] },
  create: (context): SessionStore => new DefaultSessionStore(context),
});
