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
  /** The saved session, or `undefined` if there is none. */
  get(): Promise<Session | undefined>
  set(session: Session): Promise<void>
  delete(): Promise<void>
  /** A lock across everyone sharing this store; used unless the `lock` option is given. */
  lock?: SessionLock
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

/** A `store` option: an object with the {@link SessionStore} methods (the first missing one is named; `lock` is optional). */
export const sessionStore: Rule = [
  (store, where, field) =>
    isObject(store) &&
    ['get', 'set', 'delete', 'lock'].every(
      (key) => (key === 'lock' && store[key] === undefined) || check(where, `${field}.${key}`, store[key], func),
    ),
  'be a SessionStore',
]
