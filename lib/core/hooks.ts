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

export type HookName = 'onRefreshed' | 'onRefreshFailure' | 'onDeleted' | 'onDeleteFailure' | 'onWarning'

const HOOK_NAMES = [
  'onRefreshed',
  'onRefreshFailure',
  'onDeleted',
  'onDeleteFailure',
  'onWarning',
  'onHookError',
] as const

/** Throws a TypeError naming the first hook that is not a function. */
export function assertHooks(hooks: unknown, name = 'hooks'): asserts hooks is SessionHooks | undefined {
  if (hooks === undefined) return
  if (typeof hooks !== 'object' || hooks === null) {
    throw new TypeError(`"${name}" must be an object`)
  }
  for (const key of HOOK_NAMES) {
    const fn = (hooks as Record<string, unknown>)[key]
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TypeError(`"${name}.${key}" must be a function`)
    }
  }
}
