import { func, type Rule } from './check.ts'
import type { Session } from './session.ts'

/**
 * Session lifecycle callbacks. Each is awaited (for at most the refresh
 * timeout), with `this` bound to the agent (`T`). A hook that throws, rejects
 * or does not settle in time is reported through `onHookError` and never
 * changes the outcome: the session state stays as the server decided.
 */
export interface SessionHooks<T = unknown> {
  /** A new session was issued (login, refresh). Requests wait while it runs. */
  onRefreshed?: (this: T, session: Session) => unknown
  /** A refresh failed for a transient reason (network, 5xx, timeout); the session is kept. */
  onRefreshFailure?: (this: T, session: Session, error: Error) => unknown
  /** The session ended: logout, or the server definitively refused to refresh it. */
  onDeleted?: (this: T, session: Session) => unknown
  /** Logout failed for a transient reason; the session is kept and still valid on the server. */
  onDeleteFailure?: (this: T, session: Session, error: Error) => unknown
  /**
   * Something the agent worked around but you may want to know, e.g. a DID
   * document whose PDS endpoint was refused (requests then go to `service`).
   * Never contains credentials.
   */
  onWarning?: (this: T, message: string) => unknown
  /** A hook threw or rejected. Defaults to `console.error`. */
  onHookError?: (this: T, error: unknown, hook: HookName) => unknown
}

/** The hook `onHookError` names: the one that threw, rejected or timed out. */
export type HookName = 'onRefreshed' | 'onRefreshFailure' | 'onDeleted' | 'onDeleteFailure' | 'onWarning'

/** Every hook, each a function: unknown names are refused (a misspelled hook would never run). */
export const HOOK_RULES: Record<keyof SessionHooks, Rule> = {
  onRefreshed: func,
  onRefreshFailure: func,
  onDeleted: func,
  onDeleteFailure: func,
  onWarning: func,
  onHookError: func,
}
