import type { Middleware } from '../lib/core/fetch.ts'
import { canParseUrl } from '../lib/core/parse-url.ts'
import { inputUrl, pinInput, routePath } from '../lib/core/request.ts'
import type { SessionSource } from '../lib/core/session-holder.ts'
import { checkSessionOptions, stepMiddleware, currentFor, peekSession, type Next } from './options.ts'

/** The options of {@link routeToPds}. */
export type RouteToPdsOptions = {
  /** The session whose PDS (from its DID document) and service receive the requests. */
  session: SessionSource
}

/**
 * Turns lex-client paths (`/xrpc/<nsid>?…`) into absolute URLs: session
 * methods (create/refresh/get/deleteSession) go to the session's `service`,
 * everything else to its PDS (`pdsUrl`, else `service`). The current session
 * is read on every call, so a replay after a refresh follows a PDS move.
 * Absolute URLs pass through untouched; other relative URLs are refused.
 */
export function routeToPds(options: RouteToPdsOptions): Middleware {
  const { session } = checkSessionOptions('routeToPds', options)
  return stepMiddleware({ session }, routeToPdsStep)
}

/** {@link routeToPds}'s work for one request, shared by every chain (`c.session` the session). */
export function routeToPdsStep<C extends { readonly session: SessionSource }>(
  c: C,
  next: Next<C>,
  given: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  try {
    // What is routed (or passed on) is what was looked at: see pinInput.
    const input = pinInput(given)
    const raw = inputUrl(input)
    if (raw === undefined) return Promise.resolve(next(c, input, init)) // a foreign Request: not ours to route
    // A path ("/…") never parses without a base: skip the parse attempt for it.
    if (raw[0] !== '/' && canParseUrl(raw)) return Promise.resolve(next(c, input, init)) // already absolute
    const current = peekSession(c.session)
    if (current !== undefined) return Promise.resolve(next(c, routePath(current, raw), init))
    return currentFor(c.session, input, init).then((s) => next(c, routePath(s, raw), init))
  } catch (err) {
    return Promise.reject(err)
  }
}
