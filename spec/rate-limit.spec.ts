import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import { pipeline } from '../lib/core/fetch.ts'
import { rateLimit, readRateLimit } from '../middleware/rate-limit.ts'
import { jsonResponse, recordingFetch } from './helpers/fake-source.ts'
import { PDS } from './helpers/fixtures.ts'

/** A whole second, so the server's `Date` header loses nothing. */
const NOW = 1_700_000_000_000
const NOW_S = NOW / 1000

/** A 429 the way the reference PDS sends it: epoch-second reset, its own Date. */
const tooMany = (resetS: number | null, headers: Record<string, string> = {}) =>
  jsonResponse(
    429,
    { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' },
    {
      date: new Date(NOW).toUTCString(),
      'ratelimit-limit': '3000',
      'ratelimit-remaining': '0',
      'ratelimit-policy': '3000;w=300',
      ...(resetS === null ? {} : { 'ratelimit-reset': String(resetS) }),
      ...headers,
    },
  )

/** Lets queued promises and due timers run. */
const settle = () => jest.advanceTimersByTimeAsync(0)

describe('rateLimit', () => {
  beforeEach(() => {
    // p-queue starts the next task from a microtask: those must stay real.
    jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'queueMicrotask'] })
  })
  afterEach(() => {
    jest.useRealTimers()
  })

  it('exposes the latest RateLimit-* figures on the middleware', async () => {
    const limited = rateLimit()
    expect(limited.limits).toBeUndefined()
    const { fetch } = recordingFetch((_c, n) =>
      n === 1
        ? new Response('ok', {
            headers: {
              'ratelimit-limit': '30',
              'ratelimit-remaining': '29',
              'ratelimit-reset': String(NOW_S + 300),
              'ratelimit-policy': '30;w=300',
            },
          })
        : new Response('no figures'),
    )
    const f = pipeline([limited], fetch)
    await f(`${PDS}/xrpc/com.atproto.repo.createRecord`, { method: 'POST', body: '{}' })
    const first = limited.limits
    expect(first).toEqual({
      limit: 30,
      remaining: 29,
      reset: new Date((NOW_S + 300) * 1000),
      policy: '30;w=300',
      windowSeconds: 300,
      nsid: 'com.atproto.repo.createRecord',
      status: 200,
      receivedAt: new Date(NOW),
    })
    expect(Object.isFrozen(first)).toBe(true)
    await f(`${PDS}/xrpc/app.bsky.feed.getTimeline`)
    expect(limited.limits).toBe(first) // an answer without figures keeps the last ones
  })

  it('caps concurrency, starting queued requests in arrival order', async () => {
    const release: Array<() => void> = []
    let inFlight = 0
    let peak = 0
    const { fetch, calls } = recordingFetch(async () => {
      peak = Math.max(peak, ++inFlight)
      await new Promise<void>((r) => release.push(r))
      inFlight--
      return new Response('ok')
    })
    const f = rateLimit({ concurrency: 2 })(fetch)
    const all = Promise.all([1, 2, 3, 4, 5].map((i) => f(`${PDS}/xrpc/a.b.c?i=${i}`)))
    await settle()
    expect(calls).toHaveLength(2)
    while (release.length > 0) {
      release.shift()!()
      await settle()
    }
    await all
    expect(peak).toBe(2)
    expect(calls.map((c) => new URL(c.url).searchParams.get('i'))).toEqual(['1', '2', '3', '4', '5'])
  })

  it('on 429 waits until the window reopens (reset rounded up, by the server clock) and retries once', async () => {
    const { fetch, calls } = recordingFetch((_c, n) => (n === 1 ? tooMany(NOW_S + 10) : new Response('ok')))
    const pending = rateLimit()(fetch)(`${PDS}/xrpc/com.atproto.repo.createRecord`, { method: 'POST', body: '{"a":1}' })
    await jest.advanceTimersByTimeAsync(10_999) // reset + 1 s - 1 ms: the window may still be closed
    expect(calls).toHaveLength(1)
    await jest.advanceTimersByTimeAsync(1)
    const res = await pending
    expect(await res.text()).toBe('ok')
    expect(calls).toHaveLength(2)
    expect(calls[1]!.init?.body).toBe('{"a":1}')
  })

  it('does not retry early when our clock is ahead of the server', async () => {
    jest.setSystemTime(NOW + 60_000) // the reset below is in our past, not the server's
    const { fetch, calls } = recordingFetch((_c, n) => (n === 1 ? tooMany(NOW_S + 5) : new Response('ok')))
    const pending = rateLimit()(fetch)(`${PDS}/xrpc/a.b.c`)
    await jest.advanceTimersByTimeAsync(5_999)
    expect(calls).toHaveLength(1)
    await jest.advanceTimersByTimeAsync(1)
    expect((await pending).status).toBe(200)
  })

  it('waits for the later of RateLimit-Reset and Retry-After', async () => {
    const { fetch, calls } = recordingFetch((_c, n) =>
      n === 1 ? tooMany(NOW_S + 2, { 'retry-after': '20' }) : new Response('ok'),
    )
    const pending = rateLimit()(fetch)(`${PDS}/x`)
    await jest.advanceTimersByTimeAsync(19_999)
    expect(calls).toHaveLength(1)
    await jest.advanceTimersByTimeAsync(1)
    expect((await pending).status).toBe(200)
  })

  it('returns the 429, body intact, when the wait would exceed maxWaitMs', async () => {
    const { fetch, calls } = recordingFetch(() => tooMany(NOW_S + 3600))
    const res = await rateLimit({ maxWaitMs: 60_000 })(fetch)(`${PDS}/x`)
    expect(res.status).toBe(429)
    expect(await res.json()).toEqual({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' })
    expect(calls).toHaveLength(1)
  })

  it('does not guess: a 429 that says nothing about its window is returned', async () => {
    const { fetch, calls } = recordingFetch(() => tooMany(null))
    expect((await rateLimit()(fetch)(`${PDS}/x`)).status).toBe(429)
    expect(calls).toHaveLength(1)
  })

  it('retries once only', async () => {
    const { fetch, calls } = recordingFetch(() => tooMany(NOW_S + 1))
    const pending = rateLimit()(fetch)(`${PDS}/x`)
    await jest.advanceTimersByTimeAsync(60_000)
    expect((await pending).status).toBe(429)
    expect(calls).toHaveLength(2)
  })

  it.each([
    ['a path', '/xrpc/com.atproto.server.createSession'],
    ['a URL', 'https://entryway.example/xrpc/com.atproto.server.createSession'],
  ])('never retries createSession (%s)', async (_name, url) => {
    const { fetch, calls } = recordingFetch(() => tooMany(NOW_S + 1))
    const res = await rateLimit()(fetch)(url, { method: 'POST', body: '{}' })
    expect(res.status).toBe(429)
    expect(calls).toHaveLength(1)
  })

  it('never replays a stream body', async () => {
    const { fetch, calls } = recordingFetch(() => tooMany(NOW_S + 1))
    const body = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) })
    const res = await rateLimit()(fetch)(`${PDS}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      body,
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(429)
    expect(calls).toHaveLength(1)
  })

  it('cancels the 429 body before waiting', async () => {
    let cancelled = false
    const body = new ReadableStream({ pull: () => {}, cancel: () => void (cancelled = true) })
    const { fetch } = recordingFetch((_c, n) =>
      n === 1
        ? new Response(body, {
            status: 429,
            headers: { date: new Date(NOW).toUTCString(), 'ratelimit-reset': String(NOW_S + 5) },
          })
        : new Response('ok'),
    )
    const pending = rateLimit()(fetch)(`${PDS}/x`)
    await settle()
    expect(cancelled).toBe(true)
    await jest.advanceTimersByTimeAsync(6_000)
    expect((await pending).status).toBe(200)
  })

  it('rejects with the abort reason when aborted while waiting, and sends nothing more', async () => {
    const ctrl = new AbortController()
    const { fetch, calls } = recordingFetch(() => tooMany(NOW_S + 30))
    const pending = rateLimit()(fetch)(`${PDS}/x`, { signal: ctrl.signal })
    const outcome = pending.then(
      () => 'resolved',
      (e: unknown) => e,
    )
    await jest.advanceTimersByTimeAsync(1_000)
    ctrl.abort(new Error('user gave up'))
    expect(await outcome).toEqual(new Error('user gave up'))
    await jest.advanceTimersByTimeAsync(60_000)
    expect(calls).toHaveLength(1)
  })

  it('rejects a request aborted while queued, never sends it, and runs the next one', async () => {
    let release!: () => void
    const { fetch, calls } = recordingFetch(async (_c, n) => {
      if (n === 1) await new Promise<void>((r) => (release = r))
      return new Response('ok')
    })
    const f = rateLimit({ concurrency: 1 })(fetch)
    const first = f(`${PDS}/1`)
    const ctrl = new AbortController()
    const second = f(`${PDS}/2`, { signal: ctrl.signal })
    const third = f(`${PDS}/3`)
    await settle()
    ctrl.abort()
    await expect(second).rejects.toMatchObject({ name: 'AbortError' })
    release()
    await first
    await third
    expect(calls.map((c) => c.url)).toEqual([`${PDS}/1`, `${PDS}/3`])
  })

  it('does not hold a concurrency slot while waiting for the window', async () => {
    let limitedTries = 0
    const { fetch, calls } = recordingFetch((c) =>
      c.url.endsWith('/limited') && ++limitedTries === 1 ? tooMany(NOW_S + 30) : new Response('ok'),
    )
    const f = rateLimit({ concurrency: 1 })(fetch)
    const limited = f(`${PDS}/limited`)
    await settle()
    expect((await f(`${PDS}/other`)).status).toBe(200) // went out during the 31 s wait
    await jest.advanceTimersByTimeAsync(31_000)
    expect((await limited).status).toBe(200)
    expect(calls.map((c) => c.url)).toEqual([`${PDS}/limited`, `${PDS}/other`, `${PDS}/limited`])
  })

  it('validates its options', () => {
    expect(() => rateLimit(null as never)).toThrow(new TypeError('rateLimit: options must be an object'))
    for (const concurrency of [0, -1, 1.5, Number.NaN, '4']) {
      expect(() => rateLimit({ concurrency: concurrency as number })).toThrow(
        new TypeError('rateLimit: "concurrency" must be a positive integer or Infinity'),
      )
    }
    for (const maxWaitMs of [-1, Infinity, Number.NaN, '1000']) {
      expect(() => rateLimit({ maxWaitMs: maxWaitMs as number })).toThrow(
        new TypeError('rateLimit: "maxWaitMs" must be a number of milliseconds, at least 0 and at most 2147483647'),
      )
    }
    expect(() => rateLimit({ concurrency: Infinity, maxWaitMs: 0 })).not.toThrow()
  })
})

describe('readRateLimit', () => {
  it('reads a small RateLimit-Reset as seconds from now, and ignores malformed figures', () => {
    const before = Date.now()
    const info = readRateLimit(
      new Response(null, {
        headers: { 'ratelimit-reset': '60', 'ratelimit-limit': 'lots', 'ratelimit-remaining': '-1' },
      }),
    )
    const after = Date.now()
    expect(info!.reset!.getTime()).toBeGreaterThanOrEqual(before + 60_000)
    expect(info!.reset!.getTime()).toBeLessThanOrEqual(after + 60_000)
    expect(info!.limit).toBeUndefined()
    expect(info!.remaining).toBeUndefined()
    expect(readRateLimit(new Response(null))).toBeUndefined()
  })
})

describe('rateLimit over HTTP', () => {
  it('retries a real 429 that says Retry-After: 0, and records the figures', async () => {
    const scope = nock(PDS)
      .get('/xrpc/app.bsky.feed.getTimeline')
      .reply(429, { error: 'RateLimitExceeded' }, { 'retry-after': '0', 'ratelimit-remaining': '0' })
      .get('/xrpc/app.bsky.feed.getTimeline')
      .reply(200, { feed: [] }, { 'ratelimit-limit': '3000', 'ratelimit-remaining': '2999' })
    const limited = rateLimit()
    const res = await pipeline([limited])(`${PDS}/xrpc/app.bsky.feed.getTimeline`)
    expect(await res.json()).toEqual({ feed: [] })
    expect(limited.limits).toMatchObject({
      limit: 3000,
      remaining: 2999,
      status: 200,
      nsid: 'app.bsky.feed.getTimeline',
    })
    scope.done()
  })
})
