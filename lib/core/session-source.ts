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
  /**
   * Optional: lets requests keep using `session` while the refresh running
   * now goes on, as long as its access token has not expired (`peek` and
   * `current` then hand it out instead of waiting). Ignored unless `session`
   * is the current one and a refresh is running. `refreshAhead` calls it when
   * a due token's refresh takes longer than its bounded wait (an entryway
   * outage), so requests with a valid token are not held up by it.
   */
  useDuringRefresh?(session: Session): void
}
