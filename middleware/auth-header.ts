import type { Middleware } from '../lib/fetch.ts'
import { accessTokenAllowed, inputHeaders, inputUrl } from '../lib/request.ts'
import type { SessionSource } from '../lib/session-holder.ts'
import { assertSessionSource } from './options.ts'

export type AuthHeaderOptions = {
  /** The session whose access token is attached. */
  session: SessionSource
}

/**
 * Adds `Authorization: Bearer <accessJwt>`, but only to absolute URLs on the
 * session's own origins (the PDS; the service for session methods). A request
 * that already has an `Authorization` header keeps the caller's and gets none
 * of ours. Place it after `routeToPds` so paths are already absolute.
 */
export function authHeader(options: AuthHeaderOptions): Middleware {
  const { session } = assertSessionSource(options, 'authHeader')
  return (next) => async (input, init) => {
    const current = await session.current()
    const headers = inputHeaders(input, init)
    if (headers.has('authorization')) return next(input, init)
    const url = URL.parse(inputUrl(input))
    if (!url || !accessTokenAllowed(current, url)) return next(input, init)
    headers.set('authorization', `Bearer ${current.data.accessJwt}`)
    return next(input, { ...init, headers })
  }
}
