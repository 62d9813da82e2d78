/**
 * A `fetch`-compatible function: the one interface every middleware consumes
 * and produces, so any of them can wrap `globalThis.fetch`, ofetch, undici or
 * another middleware.
 */
export type FetchLike = (
  input: string | URL | Request,
  init?: RequestInit,
) => Promise<Response>

/**
 * Wraps the next fetch in the chain. A middleware may call `next` zero, one or
 * several times (e.g. to replay a request after a token refresh).
 */
export type Middleware = (next: FetchLike) => FetchLike

/** Longest delay `setTimeout` honours; anything above fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1

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
export function pipeline(
  middlewares: readonly Middleware[],
  terminal: FetchLike = globalFetch,
): FetchLike {
  if (!Array.isArray(middlewares)) {
    throw new TypeError('pipeline: "middlewares" must be an array')
  }
  middlewares.forEach((mw, i) => {
    if (typeof mw !== 'function') {
      throw new TypeError(`pipeline: "middlewares[${i}]" must be a function`)
    }
  })
  if (typeof terminal !== 'function') {
    throw new TypeError('pipeline: "terminal" must be a fetch function')
  }
  return middlewares.reduceRight<FetchLike>((next, mw) => mw(next), terminal)
}
