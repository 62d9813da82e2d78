import { XrpcResponseError } from '@atproto/lex-client'
import { retryWaitMs } from './retry-timing.ts'

/** How long automatic refreshes wait after transient failures (ms). */
export type BackoffOptions = { minMs?: number; maxMs?: number }

/**
 * When automatic refreshes may try again after transient failures: the wait
 * doubles per consecutive failure from `minMs` up to `maxMs` (default
 * `{ minMs: 1000, maxMs: 60_000 }`), ±25 % jitter so that agents sharing an
 * entryway do not retry in step.
 */
export class Backoff {
  readonly #minMs: number
  readonly #maxMs: number
  /** Transient failures in a row, the last one, and when automatic refreshes may try again. */
  #failures = 0
  #lastFailure: Error | null = null
  #retryAt = 0

  constructor(options?: BackoffOptions) {
    // `??`, not a spread: an explicit `undefined` means the default (it passes the option check).
    this.#minMs = options?.minMs ?? 1000
    this.#maxMs = options?.maxMs ?? 60_000
  }

  /** The last failure while the wait after it runs (automatic refreshes get it instead of trying), else `undefined`. */
  get blocking(): Error | undefined {
    return this.#lastFailure && Date.now() < this.#retryAt ? this.#lastFailure : undefined
  }

  /** Counts a transient failure and starts the wait after it. */
  failed(error: Error): void {
    this.#failures++
    const delay = Math.min(this.#maxMs, this.#minMs * 2 ** (this.#failures - 1))
    this.#retryAt = Date.now() + delay * (0.75 + Math.random() * 0.5)
    // A 429 says when the window reopens: never retry into a closed one.
    const wait = error instanceof XrpcResponseError && error.status === 429 ? retryWaitMs(error.headers) : undefined
    if (wait !== undefined) this.#retryAt = Math.max(this.#retryAt, Date.now() + wait)
    this.#lastFailure = error
  }

  /** A refresh worked (or a newer session was adopted): no more waiting. */
  reset(): void {
    this.#failures = 0
    this.#lastFailure = null
  }
}
