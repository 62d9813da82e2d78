/**
 * The one reader of a server's "come back later" headers, for the rate-limit
 * and retry middlewares, `RateLimitedError.resetAt` and the session holder's
 * backoff:
 *
 * - `Retry-After`: delay-seconds (`120`) or an HTTP date. Anything else
 *   (`1.5`, `-3`, `soon`) is unreadable, never a date: `Date.parse` alone
 *   reads "1.5" or "-3" as a day in 2001, i.e. no wait.
 * - `RateLimit-Reset`: whole seconds. atproto servers send an epoch timestamp
 *   (rounded down); the IETF draft sends seconds from now. A value below
 *   {@link EPOCH_SECONDS} (September 2001) is read as seconds from now.
 *
 * Absolute times are measured against the answer's `Date` header (the
 * server's clock), so waits stay right when the two clocks disagree.
 */

/** A `RateLimit-Reset` below this is delta-seconds (IETF draft), from it on an epoch (atproto). */
const EPOCH_SECONDS = 1e9

/**
 * The server's clock when it answered (the `Date` header, whole seconds,
 * rounded down), else ours.
 */
export function serverNow(headers: Headers): number {
  const date = Date.parse(headers.get('date') ?? '')
  return Number.isFinite(date) ? date : Date.now()
}

/**
 * How long `Retry-After` asks to wait, in ms: delay-seconds or an HTTP date
 * (measured against the answer's `Date`). `undefined` when absent or unreadable.
 */
export function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after')?.trim()
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  // An HTTP date names its month; Date.parse alone reads "1.5" or "-3" as 2001.
  if (!/[a-z]{3}/i.test(value)) return undefined
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - serverNow(headers)) : undefined
}

/**
 * When `RateLimit-Reset` says the window reopens: an epoch as sent (by the
 * server's clock), seconds from now counted from `receivedAt` (default: now).
 * `undefined` when absent or not a whole number.
 */
export function rateLimitResetAt(headers: Headers, receivedAt = Date.now()): Date | undefined {
  const reset = resetSeconds(headers)
  if (reset === undefined) return undefined
  return new Date(reset >= EPOCH_SECONDS ? reset * 1000 : receivedAt + reset * 1000)
}

/**
 * How long to wait before trying again, in ms: the later of `RateLimit-Reset`
 * and `Retry-After`; `undefined` when the answer says neither (guessing could
 * retry into a closed window). An epoch reset is measured against the
 * server's clock and rounded up by a second: atproto rounds it (and its
 * `Date`) down, so the window may reopen up to a second after the figure.
 */
export function retryWaitMs(headers: Headers): number | undefined {
  const waits: number[] = []
  const reset = resetSeconds(headers)
  if (reset !== undefined) waits.push(reset >= EPOCH_SECONDS ? (reset + 1) * 1000 - serverNow(headers) : reset * 1000)
  const after = retryAfterMs(headers)
  if (after !== undefined) waits.push(after)
  return waits.length > 0 ? Math.max(0, ...waits) : undefined
}

/** A header holding a whole number (at most 15 digits), else `undefined`. */
export function headerCount(headers: Headers, name: string): number | undefined {
  const v = headers.get(name)?.trim()
  return v && /^\d{1,15}$/.test(v) ? Number(v) : undefined
}

const resetSeconds = (headers: Headers) => headerCount(headers, 'ratelimit-reset')
