import { afterEach, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import { RateLimitedError } from '../lib/core/errors.ts'
import { refreshSession } from '../lib/core/lexicons.ts'
import { rateLimitResetAt, retryAfterMs, retryWaitMs, serverNow } from '../lib/core/retry-timing.ts'
import { PasswordAgent } from '../lib/index.ts'
import { JSON_HEADERS, PDS, SERVICE, session, sessionData, xrpcError } from './helpers/fixtures.ts'

/** A whole second, so an HTTP date loses nothing. */
const NOW = 1_700_000_000_000
const NOW_S = NOW / 1000
const httpDate = (ms: number) => new Date(ms).toUTCString()
const headers = (h: Record<string, string>) => new Headers(h)

describe('retry timing', () => {
  afterEach(() => {
    jest.useRealTimers()
  })

  it('serverNow: the Date header, else our clock', () => {
    jest.useFakeTimers({ now: NOW + 50_000 })
    expect(serverNow(headers({ date: httpDate(NOW) }))).toBe(NOW)
    expect(serverNow(headers({}))).toBe(NOW + 50_000)
    expect(serverNow(headers({ date: 'not a date' }))).toBe(NOW + 50_000)
  })

  it('Retry-After as delay-seconds', () => {
    expect(retryAfterMs(headers({ 'retry-after': '7' }))).toBe(7_000)
    expect(retryAfterMs(headers({ 'retry-after': ' 120 ' }))).toBe(120_000)
    expect(retryAfterMs(headers({ 'retry-after': '0' }))).toBe(0)
    expect(retryWaitMs(headers({ 'retry-after': '7' }))).toBe(7_000)
  })

  it('Retry-After as an HTTP date, by the server clock when it sends a Date', () => {
    jest.useFakeTimers({ now: NOW + 50_000 }) // our clock is 50 s ahead: only the server's counts
    const h = headers({ 'retry-after': httpDate(NOW + 7_000), date: httpDate(NOW) })
    expect(retryAfterMs(h)).toBe(7_000)
    expect(retryWaitMs(h)).toBe(7_000)
  })

  it('Retry-After as an HTTP date without a Date header: by our clock, never negative', () => {
    jest.useFakeTimers({ now: NOW })
    expect(retryAfterMs(headers({ 'retry-after': httpDate(NOW + 7_000) }))).toBe(7_000)
    expect(retryAfterMs(headers({ 'retry-after': httpDate(NOW - 7_000) }))).toBe(0)
  })

  it.each(['1.5', '-3', 'soon', '2 days', '7s', ''])(
    'a malformed Retry-After (%p) is unreadable, not a date',
    (value) => {
      jest.useFakeTimers({ now: NOW })
      // Date.parse alone reads "1.5" and "-3" as days in 2001: no wait at all.
      const h = headers({ 'retry-after': value, date: httpDate(NOW) })
      expect(retryAfterMs(h)).toBeUndefined()
      expect(retryWaitMs(h)).toBeUndefined()
    },
  )

  it('RateLimit-Reset as epoch seconds (atproto): rounded up a second, by the server clock', () => {
    jest.useFakeTimers({ now: NOW + 60_000 }) // the reset is in our past, not the server's
    const h = headers({ 'ratelimit-reset': String(NOW_S + 10), date: httpDate(NOW) })
    expect(retryWaitMs(h)).toBe(11_000)
    expect(rateLimitResetAt(h)).toEqual(new Date((NOW_S + 10) * 1000))
    // Without a Date header, by ours.
    jest.setSystemTime(NOW)
    expect(retryWaitMs(headers({ 'ratelimit-reset': String(NOW_S + 10) }))).toBe(11_000)
  })

  it('RateLimit-Reset as delta-seconds: "30" is 30 s from now, not 30 s after 1970', () => {
    jest.useFakeTimers({ now: NOW })
    const h = headers({ 'ratelimit-reset': '30', date: httpDate(NOW - 3_600_000) })
    expect(retryWaitMs(h)).toBe(30_000) // a delta needs no clock
    expect(rateLimitResetAt(h)).toEqual(new Date(NOW + 30_000))
    expect(rateLimitResetAt(h, NOW - 5_000)).toEqual(new Date(NOW + 25_000)) // from when the answer came
    expect(retryWaitMs(headers({ 'ratelimit-reset': '0' }))).toBe(0)
  })

  it.each(['1.5', '-1', 'soon', '1e9', ''])('a malformed RateLimit-Reset (%p) is ignored', (value) => {
    const h = headers({ 'ratelimit-reset': value })
    expect(retryWaitMs(h)).toBeUndefined()
    expect(rateLimitResetAt(h)).toBeUndefined()
  })

  it('with both headers, the later wait wins', () => {
    jest.useFakeTimers({ now: NOW })
    const date = httpDate(NOW)
    expect(retryWaitMs(headers({ date, 'ratelimit-reset': String(NOW_S + 2), 'retry-after': '20' }))).toBe(20_000)
    expect(retryWaitMs(headers({ date, 'ratelimit-reset': String(NOW_S + 40), 'retry-after': '20' }))).toBe(41_000)
    expect(retryWaitMs(headers({ 'ratelimit-reset': '30', 'retry-after': httpDate(NOW + 10_000) }))).toBe(30_000)
    // An unreadable one does not count.
    expect(retryWaitMs(headers({ 'ratelimit-reset': '30', 'retry-after': '1.5' }))).toBe(30_000)
  })

  it('with neither, there is no wait to guess', () => {
    const h = headers({ date: httpDate(NOW), 'ratelimit-remaining': '0' })
    expect(retryAfterMs(h)).toBeUndefined()
    expect(retryWaitMs(h)).toBeUndefined()
    expect(rateLimitResetAt(h)).toBeUndefined()
  })

  it('RateLimitedError.resetAt reads the same way: epoch as sent, a delta from when the answer came', () => {
    jest.useFakeTimers({ now: NOW })
    const error = (reset: string) =>
      new RateLimitedError(refreshSession, new Response(null, { status: 429, headers: { 'ratelimit-reset': reset } }), {
        encoding: 'application/json',
        body: xrpcError('RateLimitExceeded'),
      })
    expect(error(String(NOW_S + 300)).resetAt).toEqual(new Date((NOW_S + 300) * 1000))
    const delta = error('30')
    jest.advanceTimersByTime(10_000)
    expect(delta.resetAt).toEqual(new Date(NOW + 30_000)) // not 1970, and not moving with our clock
    expect(error('soon').resetAt).toBeUndefined()
  })
})

describe("the session holder's backoff after a 429", () => {
  const REFRESH = '/xrpc/com.atproto.server.refreshSession'
  afterEach(() => {
    jest.restoreAllMocks()
  })

  it('an automatic refresh waits out RateLimit-Reset: 30 (seconds from now) before trying again', async () => {
    let now = Date.now()
    jest.spyOn(Date, 'now').mockImplementation(() => now)
    jest.spyOn(Math, 'random').mockReturnValue(0.5) // the backoff of one failure: 1 s exactly
    const onRefreshFailure = jest.fn()
    const agent = new PasswordAgent(session(), { hooks: { onRefreshFailure } })
    const next = sessionData()
    let refreshCalls = 0
    nock(SERVICE)
      .post(REFRESH)
      .reply(
        () => (
          refreshCalls++,
          [429, xrpcError('RateLimitExceeded', 'Rate Limit Exceeded'), { ...JSON_HEADERS, 'ratelimit-reset': '30' }]
        ),
      )
      .post(REFRESH)
      .reply(() => (refreshCalls++, [200, next]))
    nock(PDS)
      .get('/x')
      .times(5)
      .matchHeader('authorization', (v) => v !== `Bearer ${next.accessJwt}`)
      .reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
      .get('/x')
      .matchHeader('authorization', `Bearer ${next.accessJwt}`)
      .reply(200, 'ok')

    const start = now
    expect((await agent.fetch(`${PDS}/x`)).status).toBe(400) // its refresh got the 429
    expect(refreshCalls).toBe(1)
    expect(onRefreshFailure).toHaveBeenCalledTimes(1)

    for (const after of [2_000, 5_000, 29_000]) {
      now = start + after // past the 1 s backoff; the window is still closed
      const res = await agent.fetch(`${PDS}/x`)
      expect(res.status).toBe(400)
      expect(refreshCalls).toBe(1)
    }
    expect(onRefreshFailure).toHaveBeenCalledTimes(1)

    now = start + 30_500
    const res = await agent.fetch(`${PDS}/x`)
    expect(await res.text()).toBe('ok')
    expect(refreshCalls).toBe(2)
    expect(agent.session.data.accessJwt).toBe(next.accessJwt)
  })
})
