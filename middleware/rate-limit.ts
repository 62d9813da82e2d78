import PQueue from 'p-queue'
import { checkOptions, number, type Rule } from '../lib/core/check.ts'
import type { FetchLike, Middleware } from '../lib/core/fetch.ts'
import { inputSignal, isReplayable, pinInput } from '../lib/core/request.ts'
import { headerCount, rateLimitResetAt, retryWaitMs } from '../lib/core/retry-timing.ts'
import { sleep } from '../lib/core/sleep.ts'
import { discard, requestNsid } from './shared.ts'

/** The options of {@link rateLimit}. */
export type RateLimitOptions = {
  /**
   * Most requests in flight at once (default 8; `Infinity` for no cap). A
   * request holds its slot until its response headers arrive, not while its
   * body is read; the rest wait in arrival order.
   */
  concurrency?: number
  /**
   * Longest wait for a closed window to reopen before the one retry of a 429
   * (default 60 s). When the server asks for more, the 429 is returned.
   */
  maxWaitMs?: number
}

/** The `RateLimit-*` figures of one answer. Limits differ per route, hence `nsid`. */
export type RateLimitInfo = {
  /** `RateLimit-Limit`: requests (points) allowed per window. */
  readonly limit: number | undefined
  /** `RateLimit-Remaining`: what is left of them. */
  readonly remaining: number | undefined
  /**
   * `RateLimit-Reset`: when the window reopens, by the server's clock (atproto
   * sends epoch seconds, rounded down; a small number is read as seconds from now).
   */
  readonly reset: Date | undefined
  /** `RateLimit-Policy` as sent, e.g. `3000;w=300`. */
  readonly policy: string | undefined
  /** The window length from the policy's `w=`, in seconds. */
  readonly windowSeconds: number | undefined
  /** The XRPC method that answered, if the request was one. */
  readonly nsid: string | undefined
  /** The answer's HTTP status (429 when the window was closed). */
  readonly status: number
  /** When the answer arrived, by our clock. */
  readonly receivedAt: Date
}

/** A rate-limit middleware, with the latest figures it saw. */
export type RateLimitMiddleware = Middleware & {
  /** The figures of the latest answer that had `RateLimit-*` headers; `undefined` before any. */
  readonly limits: RateLimitInfo | undefined
}

/** Its limit is tight (30 per 5 min) and failures count towards lockouts: never spent twice. */
const NEVER_RETRIED = new Set(['com.atproto.server.createSession'])

const RULES: Record<keyof RateLimitOptions, Rule> = {
  concurrency: [
    (v) => v === Infinity || (Number.isSafeInteger(v) && (v as number) >= 1),
    'be a positive integer or Infinity',
  ],
  maxWaitMs: number(),
}

/**
 * Caps concurrency, records the server's `RateLimit-*` figures (on the
 * returned middleware's `limits`) and, on a 429 that says when its window
 * reopens, waits until then and retries once. It never retries early (the
 * wait is measured by the server's clock and rounded up), never when the wait
 * would exceed `maxWaitMs`, never `createSession`, never a stream body (which
 * cannot be sent again) and never an aborted request; an abort while queued
 * or waiting rejects with the signal's reason, as `fetch` does.
 *
 * One instance is one queue: put the same instance wherever requests should
 * share the cap.
 *
 * @example
 * ```ts
 * const limited = rateLimit({ concurrency: 4 })
 * const fetch = pipeline([limited], agent.fetch)
 * // later: limited.limits?.remaining
 * ```
 */
export function rateLimit(options: RateLimitOptions = {}): RateLimitMiddleware {
  checkOptions('rateLimit', options, RULES)
  const { concurrency = 8, maxWaitMs = 60_000 } = options
  const queue = new PQueue({ concurrency })
  let limits: RateLimitInfo | undefined

  const send = (next: FetchLike, input: string | URL | Request, init: RequestInit | undefined) =>
    queue.add(
      async () => {
        const res = await next(input, init)
        limits = readRateLimit(res, requestNsid(input)) ?? limits
        return res
      },
      { signal: inputSignal(input, init) ?? undefined },
    )

  const middleware: Middleware = (next) => async (given, init) => {
    // The retry goes where the createSession check looked.
    const input = pinInput(given)
    const res = await send(next, input, init)
    if (res.status !== 429) return res
    const signal = inputSignal(input, init)
    if (signal?.aborted || !isReplayable(input, init)) return res
    if (NEVER_RETRIED.has(requestNsid(input) ?? '')) return res
    // The later of RateLimit-Reset and Retry-After; a 429 that says neither is
    // returned, as guessing could retry into a closed window.
    const wait = retryWaitMs(res.headers)
    if (wait === undefined || wait > maxWaitMs) return res
    await discard(res)
    await sleep(wait, signal ?? undefined)
    return send(next, input, init)
  }
  return Object.defineProperty(middleware, 'limits', { get: () => limits, enumerable: true }) as RateLimitMiddleware
}

/** The `RateLimit-*` figures of an answer, or `undefined` when it has none. */
export function readRateLimit(res: Response, nsid?: string): RateLimitInfo | undefined {
  const h = res.headers
  const limit = headerCount(h, 'ratelimit-limit')
  const remaining = headerCount(h, 'ratelimit-remaining')
  const reset = headerCount(h, 'ratelimit-reset')
  const policy = h.get('ratelimit-policy')?.trim() || undefined
  if (limit === undefined && remaining === undefined && reset === undefined && policy === undefined) {
    return undefined
  }
  const now = Date.now()
  const w = policy && /(?:^|;)\s*w=(\d+)/.exec(policy)?.[1]
  return Object.freeze({
    limit,
    remaining,
    reset: rateLimitResetAt(h, now),
    policy,
    windowSeconds: w ? Number(w) : undefined,
    nsid,
    status: res.status,
    receivedAt: new Date(now),
  })
}
