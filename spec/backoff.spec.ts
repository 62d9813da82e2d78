import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { XrpcResponseError } from '@atproto/lex-client'
import { Backoff } from '../lib/core/backoff.ts'
import { refreshSession } from '../lib/core/lexicons.ts'

const START = Date.parse('2025-06-01T00:00:00Z')
let now = START
let random = 0.5 // jitter factor 0.75 + random * 0.5 = 1

beforeEach(() => {
  now = START
  random = 0.5
  jest.spyOn(Date, 'now').mockImplementation(() => now)
  jest.spyOn(Math, 'random').mockImplementation(() => random)
})
afterEach(() => {
  jest.restoreAllMocks()
})

/** How long after `now` the backoff stops blocking (to the ms). */
function waitOf(backoff: Backoff): number {
  const start = now
  let lo = 0
  let hi = 10_000_000
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)
    now = start + mid
    if (backoff.blocking) lo = mid + 1
    else hi = mid
  }
  now = start
  return lo
}

const tooMany = (resetS?: number) =>
  new XrpcResponseError(
    refreshSession,
    new Response(null, { status: 429, headers: resetS ? { 'ratelimit-reset': String(resetS) } : {} }),
    { encoding: 'application/json', body: { error: 'RateLimitExceeded', message: 'slow down' } },
  )

// After a transient refresh failure, automatic refreshes get the last failure
// instead of calling the entryway again, for a wait that doubles per failure.
describe('Backoff', () => {
  it('an option given as undefined means its default (it passes the option check)', () => {
    const backoff = new Backoff({ minMs: undefined, maxMs: undefined })
    backoff.failed(new Error('502'))
    expect(waitOf(backoff)).toBe(1000)
  })

  it('blocks nothing before the first failure', () => {
    expect(new Backoff().blocking).toBeUndefined()
  })

  it('hands back the last failure while the wait runs, then nothing', () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 1000 })
    const first = new Error('first')
    backoff.failed(first)
    expect(backoff.blocking).toBe(first)
    now += 99
    expect(backoff.blocking).toBe(first)
    now += 1
    expect(backoff.blocking).toBeUndefined()
  })

  it('doubles the wait per consecutive failure from minMs up to maxMs (default 1 s to 60 s)', () => {
    const backoff = new Backoff()
    const waits = Array.from({ length: 9 }, (_, i) => (backoff.failed(new Error(`#${i}`)), waitOf(backoff)))
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000])
    expect(backoff.blocking?.message).toBe('#8')
  })

  it('jitters each wait by ±25 %', () => {
    const waits = [0, 1].map((r) => {
      random = r
      const backoff = new Backoff({ minMs: 1000 })
      backoff.failed(new Error('x'))
      return waitOf(backoff)
    })
    expect(waits).toEqual([750, 1250])
  })

  it('reset(): the next failure starts from minMs again, and nothing blocks meanwhile', () => {
    const backoff = new Backoff({ minMs: 100, maxMs: 10_000 })
    for (let i = 0; i < 4; i++) backoff.failed(new Error('x'))
    backoff.reset()
    expect(backoff.blocking).toBeUndefined()
    backoff.failed(new Error('y'))
    expect(waitOf(backoff)).toBe(100)
  })

  it('a 429 with RateLimit-Reset (atproto: an epoch) is never retried into: the wait lasts at least until the reset', () => {
    const backoff = new Backoff({ minMs: 100 })
    const resetS = now / 1000 + 30
    const error = tooMany(resetS)
    backoff.failed(error)
    expect(backoff.blocking).toBe(error)
    // (atproto rounds the reset down: up to a second more is fine, less is not)
    expect(waitOf(backoff)).toBeGreaterThanOrEqual(resetS * 1000 - now)
    expect(waitOf(backoff)).toBeLessThanOrEqual(resetS * 1000 - now + 1000)
  })

  it('a 429 whose reset is already past, or absent, waits the usual backoff', () => {
    for (const error of [tooMany(now / 1000 - 60), tooMany()]) {
      const backoff = new Backoff({ minMs: 100 })
      backoff.failed(error)
      expect(waitOf(backoff)).toBe(100)
    }
  })
})
