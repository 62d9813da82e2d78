import type { Session } from './session.ts'

/** What the middlewares need from a session: read it, and ask for a newer one. */
export interface SessionSource {
  /**
   * The current session. Waits while a refresh or logout is in progress
   * (including its hooks); rejects with `LoggedOutError` once destroyed.
   */
  current(): Promise<Session>
  /**
   * A session newer than `seen`. Refreshes only if `seen` still holds the
   * newest tokens (single flight: concurrent callers share one refreshSession);
   * rejects if no newer session can be had.
   */
  refresh(seen?: Session): Promise<Session>
  /**
   * Optional fast path: the session `current()` would resolve to at once (no
   * refresh or logout running), else `undefined`. Middlewares use it to skip
   * a microtask per request and fall back to `current()`.
   */
  peek?(): Session | undefined
}
