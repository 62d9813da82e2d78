import type { BackoffOptions } from './backoff.ts'
import type { FetchLike } from './fetch.ts'
import type { SessionHooks } from './hooks.ts'
import type { SessionApi } from './session-api.ts'
import type { SessionLock, SessionStore } from './session-store.ts'

/** The options of a `SessionHolder`. */
export type SessionHolderOptions = {
  /** Terminal fetch for refreshSession / getSession / deleteSession (default: global fetch). */
  fetch?: FetchLike
  /** Session lifecycle callbacks, called with `thisArg` as `this`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- `this` is whatever thisArg is
  hooks?: SessionHooks<any>
  /** `this` for the hooks (the agent). */
  thisArg?: unknown
  /** Give up on a refresh or logout after this many ms (default 30 000). */
  timeoutMs?: number
  /** Most bytes read from one session answer (default 1 MiB, `MAX_SESSION_ANSWER_BYTES`). */
  maxAnswerBytes?: number
  /**
   * After a transient refresh failure, automatic refreshes (from requests) wait
   * (see `Backoff`); `refresh()` without `seen` (`agent.refresh()`) always tries.
   */
  backoff?: BackoffOptions
  /**
   * Shared storage for the session. Under `lock`, a refresh first re-reads it
   * and adopts a session another process already rotated; new sessions are
   * written before they are used.
   */
  store?: SessionStore
  /** Cross-process lock (default: `store.lock`, else none). */
  lock?: SessionLock
  /** The server calls (default: `HttpSessionApi` on the session's service, with `fetch`). */
  api?: SessionApi
}
