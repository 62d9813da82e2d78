import type { SessionSource } from '../lib/session-holder.ts'

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
