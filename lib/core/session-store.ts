import type { DidString } from '@atproto/lex-schema'
import { check, func, isObject, type Rule } from './check.ts'
import { jwtExpiry } from './jwt.ts'
import { assertSession, type Session } from './session.ts'

/**
 * Where one account's session lives between processes (a file, Redis, a
 * database row). The agent re-reads it under the lock before refreshing, so a
 * session another process already rotated is adopted instead of refreshed
 * again, and writes each new session before using it.
 */
export interface SessionStore {
  /** The saved session, or `undefined` if there is none (or a {@link LoggedOutMarker}: see `read`). */
  get(): Promise<Session | undefined>
  /** Saves `session`, replacing the one saved before. */
  set(session: Session): Promise<void>
  /** Removes the saved session (no error if there is none). */
  delete(): Promise<void>
  /** A lock across everyone sharing this store; used unless the `lock` option is given. */
  lock?: SessionLock
  /**
   * Optional: records that the account's session ended for good (logout, or
   * the server refused it) as a {@link LoggedOutMarker}, so that every agent
   * sharing the store ends its session too. Without it the session is
   * `delete()`d, and a missing entry ends no one's session.
   */
  markLoggedOut?(did: DidString): Promise<void>
  /** Optional, with `markLoggedOut`: what `get()` reads, but a {@link LoggedOutMarker} as itself (the agent uses it). */
  read?(): Promise<Session | LoggedOutMarker | undefined>
  /**
   * Optional: calls `listener` whenever another party (a browser tab) changed
   * the stored session, so an agent adopts it (or its logout) at once instead
   * of at its next refresh. Returns a function that stops the calls.
   */
  subscribe?(listener: () => void): () => void
}

/** What `read()` gives after `markLoggedOut(did)`: that account's session ended for good (definitive, unlike a missing entry). */
export type LoggedOutMarker = {
  /** The account whose session ended. */
  loggedOut: DidString
}

/**
 * Runs `fn` while holding the lock named `key`, across every process (or
 * host) that shares the store. Must release on throw, and must survive a
 * holder that died (stale-lock timeout).
 */
export type SessionLock = <T>(key: string, fn: () => Promise<T>) => Promise<T>

/**
 * Token-generation order: a later access-token `exp` (set by the server) is
 * newer; `refreshedAt` breaks ties and covers tokens without a readable `exp`.
 * A generation is its refresh token: two refreshes within one second can
 * return byte-identical access JWTs (the reference PDS signs them
 * deterministically, without a jti), never the same refresh JWT.
 */
export function isNewerSession(a: Session, b: Session): boolean {
  if (a.data.refreshJwt === b.data.refreshJwt) return false
  const ea = jwtExpiry(a.data.accessJwt)
  const eb = jwtExpiry(b.data.accessJwt)
  if (ea !== undefined && eb !== undefined && ea !== eb) return ea > eb
  return Date.parse(a.refreshedAt) > Date.parse(b.refreshedAt)
}

/** A store in memory: for tests, and to share one session between agents of one process. */
export class MemorySessionStore implements SessionStore {
  #session: Session | undefined
  #tail: Promise<unknown> = Promise.resolve()
  constructor(session?: Session) {
    this.#session = session
  }
  async get() {
    return this.#session && structuredClone(this.#session)
  }
  async set(session: Session) {
    this.#session = structuredClone(session)
  }
  async delete() {
    this.#session = undefined
  }
  /** In-process mutual exclusion (FIFO). */
  lock: SessionLock = (_key, fn) => {
    const run = this.#tail.then(fn, fn)
    this.#tail = run.catch(() => {})
    return run
  }
}

/**
 * Parses a stored session (`where` names the file or key). A SyntaxError from
 * `JSON.parse` quotes the text around the fault, which may be a token: it is
 * replaced by one that names `where` and the position only.
 */
export function parseStoredSession(text: string, where: string): Session {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    const at = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1]
    // No cause on purpose: the SyntaxError quotes the text around the fault, a token maybe.
    // eslint-disable-next-line preserve-caught-error
    throw new SyntaxError(`the stored session in ${where} is not valid JSON${at ? ` (at position ${at})` : ''}`)
  }
  assertSession(value, 'store', 'stored session')
  return value
}

/** A `store` option: an object with the {@link SessionStore} methods (`get`, `set` and `delete` required; a wrong one is named). */
export const sessionStore: Rule = [
  (store, where, field) =>
    isObject(store) &&
    ['get', 'set', 'delete', 'lock', 'markLoggedOut', 'read', 'subscribe'].every(
      (key, i) => (i > 2 && store[key] === undefined) || check(where, `${field}.${key}`, store[key], func),
    ),
  'be a SessionStore',
]
