import { arrayOf, check, func } from './check.ts'

/**
 * A `fetch`-compatible function: the one interface every middleware consumes
 * and produces, so any of them can wrap `globalThis.fetch`, ofetch, undici or
 * another middleware.
 */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * Wraps the next fetch in the chain. A middleware may call `next` zero, one or
 * several times (e.g. to replay a request after a token refresh).
 */
export type Middleware = (next: FetchLike) => FetchLike

/**
 * The global `fetch`, looked up on every call (not captured at import time) so
 * that test doubles and polyfills installed later are honoured.
 */
export const globalFetch: FetchLike = (input, init) => globalThis.fetch(input, init)

/**
 * Composes middlewares around a terminal fetch.
 *
 * Order rule: the first middleware listed is the outermost. It sees the
 * request first and the response last (koa/wretch order).
 *
 * @example
 * ```ts
 * const fetch = pipeline([logger, refreshOnExpired({ session }), authHeader({ session })])
 * ```
 */
export function pipeline(middlewares: readonly Middleware[], terminal: FetchLike = globalFetch): FetchLike {
  check('pipeline', 'middlewares', middlewares, arrayOf(func))
  check('pipeline', 'terminal', terminal, func)
  return middlewares.reduceRight<FetchLike>((next, mw) => mw(next), terminal)
}
