import type { FetchLike } from '../lib/fetch.ts'
import type { SessionSource } from '../lib/session-holder.ts'
import type { Session } from '../lib/session.ts'

/**
 * The session `source.current()` would resolve to at once, read synchronously
 * when the source can tell (`peek`), else `undefined`: the caller then awaits
 * `current()`. Saves a microtask per middleware per request.
 */
export const peekSession = (source: SessionSource): Session | undefined =>
  typeof source.peek === 'function' ? source.peek() : undefined

/** Checks a middleware's `{ session }` option, naming the factory in the TypeError. */
export function assertSessionSource<T extends { session: SessionSource }>(options: T, factory: string): T {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${factory}: options must be an object`)
  }
  const { session } = options
  if (
    typeof session !== 'object' ||
    session === null ||
    typeof session.current !== 'function' ||
    typeof session.refresh !== 'function'
  ) {
    throw new TypeError(`${factory}: "session" must be a SessionSource (e.g. agent.sessionHolder)`)
  }
  return options
}

/**
 * Makes a middleware's fetch behave like an async function without being one:
 * a synchronous throw becomes a rejected promise. The middlewares keep their
 * common path synchronous (no async frame, no extra microtasks per request).
 */
export function settled(fetch: FetchLike): FetchLike {
  return (input, init) => {
    try {
      return fetch(input, init)
    } catch (err) {
      return Promise.reject(err)
    }
  }
}
