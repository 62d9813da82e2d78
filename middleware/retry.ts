import { arrayOf, checkOptions, fail, number, type Rule } from '../lib/core/check.ts'
import { codeOf } from '../lib/core/errors.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { inputSignal, isReplayable, pinInput } from '../lib/core/request.ts'
import { retryAfterMs } from '../lib/core/retry-timing.ts'
import { sleep } from '../lib/core/sleep.ts'
import { discard, requestMethod, requestNsid } from './shared.ts'

/** The options of {@link retry}. */
export type RetryOptions = {
  /** Retries after the first attempt (default 2). */
  maxRetries?: number
  /** First backoff delay (default 500 ms); doubles per retry, each drawn between half and all of it. */
  minDelayMs?: number
  /** Largest backoff delay (default 10 s). A longer `Retry-After` is still honoured within the budget. */
  maxDelayMs?: number
  /** No retry starts later than this after the first attempt did (default 30 s). */
  budgetMs?: number
  /**
   * XRPC procedures (POST) that are safe to send twice, by NSID, e.g.
   * `com.atproto.repo.putRecord` with `swapRecord`. GET and HEAD always are.
   */
  procedures?: readonly string[]
}

/** Gateway answers that mean "not handled, try again". 500 and 429 are not (see `rateLimit`). */
const RETRIED_STATUSES = new Set([502, 503, 504])
/** Error codes (on the error or its `cause`) of connections that failed before an answer. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CLOSED',
])
/** What fetch implementations reject with on a network failure (undici, Chromium, Firefox, Safari). */
const NETWORK_MESSAGE =
  /^(fetch failed|failed to fetch|networkerror when attempting to fetch resource\.?|load failed)$/i
const NSID = /^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+\.[a-zA-Z][a-zA-Z0-9]*$/
/**
 * Procedures no allow-list may name: a replayed refresh (the first one may have
 * been processed before the connection broke) spends a rotated refresh token,
 * which single-use servers answer by ending the session; a replayed login
 * counts against createSession's 30 per 5 minutes.
 */
const NEVER_REPLAYED = new Set(['com.atproto.server.refreshSession', 'com.atproto.server.createSession'])

const RULES: Record<keyof RetryOptions, Rule> = {
  maxRetries: number({ integer: true, max: Number.MAX_SAFE_INTEGER, unit: 'retries' }),
  minDelayMs: number(),
  maxDelayMs: number(),
  budgetMs: number(),
  procedures: arrayOf(
    [(v) => typeof v === 'string' && NSID.test(v), 'be an NSID (e.g. "com.atproto.repo.putRecord")'],
    'be an array of NSIDs',
  ),
}

/**
 * Retries idempotent requests (GET, HEAD and the `procedures` allow-list) on
 * network errors and 502/503/504, with exponential backoff and jitter. A
 * `Retry-After` (seconds or HTTP date) replaces the backoff delay. It stops at
 * `maxRetries`, when the next attempt would start after `budgetMs`, when the
 * request is aborted (an abort while waiting rejects with the signal's
 * reason), and never replays a stream body. Bodies of discarded answers are
 * cancelled. The last answer (or error) is what the caller gets.
 */
export function retry(options: RetryOptions = {}): Middleware {
  checkOptions('retry', options, RULES)
  const { maxRetries = 2, minDelayMs = 500, maxDelayMs = 10_000, budgetMs = 30_000, procedures = [] } = options
  procedures.forEach((nsid, i) => {
    if (NEVER_REPLAYED.has(nsid)) fail('retry', `procedures[${i}]`, `not be ${nsid}: never safe to send twice`)
  })
  const allowed = new Set<string>(procedures)

  const idempotent = (input: string | URL | Request, init?: RequestInit) => {
    const method = requestMethod(input, init)
    if (method === 'GET' || method === 'HEAD') return true
    return method === 'POST' && allowed.has(requestNsid(input) ?? '')
  }
  /** Backoff before retry `n` (0-based): between half and all of min·2ⁿ, capped. */
  const backoff = (n: number) => {
    const cap = Math.min(maxDelayMs, minDelayMs * 2 ** n)
    return cap / 2 + (Math.random() * cap) / 2
  }

  return (next) => async (given, init) => {
    // Every attempt goes where the idempotency check looked.
    const input = pinInput(given)
    if (!idempotent(input, init) || !isReplayable(input, init)) return next(input, init)
    const signal = inputSignal(input, init) ?? undefined
    const deadline = Date.now() + budgetMs
    for (let n = 0; ; n++) {
      let res: Response
      try {
        res = await next(input, init)
      } catch (error) {
        if (n >= maxRetries || signal?.aborted || !isNetworkError(error)) throw error
        const delay = backoff(n)
        if (Date.now() + delay > deadline) throw error
        await sleep(delay, signal)
        continue
      }
      if (!RETRIED_STATUSES.has(res.status) || n >= maxRetries || signal?.aborted) return res
      const delay = retryAfterMs(res.headers) ?? backoff(n)
      if (Date.now() + delay > deadline) return res
      await discard(res)
      await sleep(delay, signal)
    }
  }
}

/**
 * A failure to get any answer, as opposed to an abort or a bug. Judged by
 * name, code and message, not `instanceof`: fetch's errors may come from
 * another realm (a VM context, a polyfill).
 */
export function isNetworkError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const { name, message, cause } = error as { name?: unknown; message?: unknown; cause?: unknown }
  if (name === 'AbortError' || name === 'TimeoutError') return false
  const code = codeOf(error) ?? codeOf(cause)
  if (code !== undefined) return NETWORK_CODES.has(code)
  return name === 'TypeError' && typeof message === 'string' && NETWORK_MESSAGE.test(message)
}
