import { MAX_TIMER_MS } from '../lib/core/fetch.ts'
import { inputUrl, xrpcMethod } from '../lib/core/request.ts'

/**
 * Checks an optional millisecond option, naming the factory and the option in
 * the TypeError. `Infinity` is refused: timers would overflow.
 */
export function checkMs(factory: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value >= 0) || value > MAX_TIMER_MS) {
    throw new TypeError(`${factory}: "${name}" must be a number of milliseconds from 0 to ${MAX_TIMER_MS}`)
  }
  return value
}

/** The request's HTTP method, upper-cased (`GET` when none is given). */
export function requestMethod(input: string | URL | Request, init?: RequestInit): string {
  return (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
}

/**
 * The NSID of an XRPC request (a `/xrpc/<nsid>` path or absolute URL), else
 * `undefined`. `input` as `pinInput` left it: the caller forwards that value.
 */
export function requestNsid(input: string | URL | Request): string | undefined {
  const raw = inputUrl(input)
  if (raw === undefined) return undefined
  if (raw.startsWith('/') && !raw.startsWith('//')) return xrpcMethod(raw)
  const url = URL.parse(raw)
  return url ? xrpcMethod(url.pathname) : undefined
}

/**
 * The server's clock when it answered (the `Date` header, whole seconds,
 * rounded down), else ours. Waits measured against it stay correct when the
 * two clocks disagree.
 */
export function serverNow(res: Response): number {
  const date = Date.parse(res.headers.get('date') ?? '')
  return Number.isFinite(date) ? date : Date.now()
}

/**
 * How long `Retry-After` asks to wait, in ms: delay-seconds or an HTTP date
 * (measured against the answer's `Date`). `undefined` when absent or unreadable.
 */
export function retryAfterMs(res: Response): number | undefined {
  const value = res.headers.get('retry-after')?.trim()
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  // An HTTP date names its month; Date.parse alone reads "1.5" or "-3" as 2001.
  if (!/[a-z]{3}/i.test(value)) return undefined
  const at = Date.parse(value)
  return Number.isFinite(at) ? Math.max(0, at - serverNow(res)) : undefined
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Discards a response we will not return, releasing its connection. */
export async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {})
}
