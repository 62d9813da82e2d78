import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { globalFetch, pipeline } from '../lib/core/fetch.ts'
import { isNetworkError, retry } from '../middleware/retry.ts'
import { jsonResponse, recordingFetch } from './helpers/fake-source.ts'
import { closedPort, sendJson, startServer, type Handler, type LoopbackServer } from './helpers/fault-server.ts'
import { PDS } from './helpers/fixtures.ts'

const NOW = 1_700_000_000_000
const unavailable = (headers: Record<string, string> = {}) =>
  jsonResponse(503, { error: 'ServiceUnavailable' }, { date: new Date(NOW).toUTCString(), ...headers })
const ok = () => new Response('ok')
const fetchFailed = (code?: string) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error('socket'), code ? { code } : {}) })

/** Answers in turn from the list (the last one repeats); an answer may throw. */
const answers = (...list: Array<() => Response>) => recordingFetch((_c, n) => list[Math.min(n, list.length) - 1]!())
const throws = (error: unknown) => () => {
  throw error
}

describe('retry', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'queueMicrotask'] })
    jest.spyOn(Math, 'random').mockReturnValue(1) // the top of each jitter range
  })
  afterEach(() => {
    jest.useRealTimers()
    jest.restoreAllMocks()
  })

  it('retries a GET on 502, 503 and 504, cancelling the discarded bodies', async () => {
    const cancelled: number[] = []
    const failing = (status: number) => () =>
      new Response(new ReadableStream({ pull: () => {}, cancel: () => void cancelled.push(status) }), { status })
    const { fetch, calls } = answers(failing(502), failing(503), ok)
    const pending = retry({ maxRetries: 3 })(fetch)(`${PDS}/xrpc/app.bsky.feed.getTimeline`)
    await jest.advanceTimersByTimeAsync(10_000)
    expect(await (await pending).text()).toBe('ok')
    expect(calls).toHaveLength(3)
    expect(cancelled).toEqual([502, 503])

    const gateway = answers(() => new Response(null, { status: 504 }), ok)
    const again = retry()(gateway.fetch)(`${PDS}/x`, { method: 'HEAD' })
    await jest.advanceTimersByTimeAsync(10_000)
    expect((await again).status).toBe(200)
  })

  it.each([500, 429, 404, 400, 401])('returns %i at once', async (status) => {
    const { fetch, calls } = answers(() => new Response(null, { status }))
    expect((await retry()(fetch)(`${PDS}/x`)).status).toBe(status)
    expect(calls).toHaveLength(1)
  })

  it('backs off exponentially with jitter, up to maxDelayMs', async () => {
    const sentAt: number[] = []
    const { fetch } = recordingFetch(() => (sentAt.push(Date.now()), unavailable()))
    const pending = retry({ maxRetries: 4, minDelayMs: 100, maxDelayMs: 300 })(fetch)(`${PDS}/x`)
    await jest.advanceTimersByTimeAsync(10_000)
    expect((await pending).status).toBe(503)
    // Retries after 100, 200, 300 (capped), 300 ms: the fake clock is exact.
    expect(sentAt.slice(1).map((t, i) => t - sentAt[i]!)).toEqual([100, 200, 300, 300])
  })

  it('draws each delay between half and all of its step', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0)
    const { fetch, calls } = answers(unavailable, ok)
    const pending = retry({ minDelayMs: 1_000 })(fetch)(`${PDS}/x`)
    await jest.advanceTimersByTimeAsync(499)
    expect(calls).toHaveLength(1)
    await jest.advanceTimersByTimeAsync(1)
    expect((await pending).status).toBe(200)
  })

  it('stops after maxRetries and returns the last answer', async () => {
    const { fetch, calls } = answers(unavailable)
    const pending = retry()(fetch)(`${PDS}/x`)
    await jest.advanceTimersByTimeAsync(60_000)
    expect((await pending).status).toBe(503)
    expect(calls).toHaveLength(3)
  })

  it('honours Retry-After in seconds and as an HTTP date (by the server clock)', async () => {
    for (const retryAfter of ['7', new Date(NOW + 7_000).toUTCString()]) {
      jest.setSystemTime(NOW + 50_000) // our clock is off: only the server's Date counts
      const { fetch, calls } = answers(() => unavailable({ 'retry-after': retryAfter }), ok)
      const pending = retry()(fetch)(`${PDS}/x`)
      await jest.advanceTimersByTimeAsync(6_999)
      expect(calls).toHaveLength(1)
      await jest.advanceTimersByTimeAsync(1)
      expect((await pending).status).toBe(200)
    }
  })

  it('ignores a malformed Retry-After (e.g. "1.5", which Date.parse reads as a past date) and backs off', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.999)
    for (const retryAfter of ['1.5', '-3', '2 days']) {
      const { fetch, calls } = answers(() => unavailable({ 'retry-after': retryAfter }), ok)
      const pending = retry({ minDelayMs: 1_000 })(fetch)(`${PDS}/x`)
      await jest.advanceTimersByTimeAsync(100)
      expect(calls).toHaveLength(1) // not retried at once
      await jest.advanceTimersByTimeAsync(1_000)
      expect((await pending).status).toBe(200)
    }
  })

  it('gives up when the next attempt would start after the budget', async () => {
    const tooLate = answers(() => unavailable({ 'retry-after': '60' }), ok)
    expect((await retry({ budgetMs: 30_000 })(tooLate.fetch)(`${PDS}/x`)).status).toBe(503)
    expect(tooLate.calls).toHaveLength(1)

    const { fetch, calls } = answers(unavailable)
    const pending = retry({ maxRetries: 10, minDelayMs: 1_000, maxDelayMs: 1_000, budgetMs: 2_500 })(fetch)(`${PDS}/x`)
    await jest.advanceTimersByTimeAsync(60_000)
    expect((await pending).status).toBe(503)
    expect(calls).toHaveLength(3) // at 0, 1 s, 2 s; 3 s is past the budget
  })

  it('retries network errors, not aborts or other errors', async () => {
    for (const error of [
      fetchFailed(),
      fetchFailed('ECONNRESET'),
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    ]) {
      const { fetch, calls } = answers(throws(error), ok)
      const pending = retry()(fetch)(`${PDS}/x`)
      await jest.advanceTimersByTimeAsync(10_000)
      expect((await pending).status).toBe(200)
      expect(calls).toHaveLength(2)
    }
    for (const error of [
      new DOMException('aborted', 'AbortError'),
      new DOMException('timed out', 'TimeoutError'),
      new TypeError('request path must start with "/" (or pass an absolute URL)'),
      fetchFailed('ENOTFOUND'),
      new Error('Logged out'),
    ]) {
      const { fetch, calls } = answers(throws(error), ok)
      await expect(retry()(fetch)(`${PDS}/x`)).rejects.toBe(error)
      expect(calls).toHaveLength(1)
    }
  })

  it('rethrows the last network error once retries run out', async () => {
    const error = fetchFailed('ECONNREFUSED')
    const { fetch, calls } = answers(throws(error))
    const outcome = retry({ maxRetries: 1 })(fetch)(`${PDS}/x`).catch((e: unknown) => e)
    await jest.advanceTimersByTimeAsync(10_000)
    expect(await outcome).toBe(error)
    expect(calls).toHaveLength(2)
  })

  it('retries POST only for allow-listed procedures', async () => {
    const plain = answers(unavailable, ok)
    expect(
      (await retry()(plain.fetch)(`${PDS}/xrpc/com.atproto.repo.createRecord`, { method: 'POST', body: '{}' })).status,
    ).toBe(503)
    expect(plain.calls).toHaveLength(1)

    for (const url of ['/xrpc/com.atproto.repo.putRecord', `${PDS}/xrpc/com.atproto.repo.putRecord?x=1`]) {
      const { fetch, calls } = answers(unavailable, ok)
      const pending = retry({ procedures: ['com.atproto.repo.putRecord'] })(fetch)(url, {
        method: 'post',
        body: '{"a":1}',
      })
      await jest.advanceTimersByTimeAsync(10_000)
      expect((await pending).status).toBe(200)
      expect(calls.map((c) => c.init?.body)).toEqual(['{"a":1}', '{"a":1}'])
    }
  })

  it('never replays a stream body', async () => {
    const { fetch, calls } = answers(unavailable, ok)
    const body = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) })
    const res = await retry({ procedures: ['com.atproto.repo.uploadBlob'] })(fetch)(
      `${PDS}/xrpc/com.atproto.repo.uploadBlob`,
      {
        method: 'POST',
        body,
        duplex: 'half',
      } as RequestInit,
    )
    expect(res.status).toBe(503)
    expect(calls).toHaveLength(1)
  })

  it('retries a GET Request input as given', async () => {
    const { fetch, calls } = answers(unavailable, ok)
    const pending = retry()(fetch)(new Request(`${PDS}/x`, { headers: { 'x-trace': '1' } }))
    await jest.advanceTimersByTimeAsync(10_000)
    expect((await pending).status).toBe(200)
    expect(calls.map((c) => c.headers.get('x-trace'))).toEqual(['1', '1'])
  })

  it('does not retry an aborted request, and rejects with the reason when aborted while waiting', async () => {
    const early = new AbortController()
    const first = answers(() => {
      early.abort()
      return unavailable()
    })
    expect((await retry()(first.fetch)(`${PDS}/x`, { signal: early.signal })).status).toBe(503)
    expect(first.calls).toHaveLength(1)

    const ctrl = new AbortController()
    const { fetch, calls } = answers(unavailable, ok)
    const outcome = retry({ minDelayMs: 5_000 })(fetch)(`${PDS}/x`, { signal: ctrl.signal }).catch((e: unknown) => e)
    await jest.advanceTimersByTimeAsync(1_000)
    ctrl.abort(new Error('user gave up'))
    expect(await outcome).toEqual(new Error('user gave up'))
    await jest.advanceTimersByTimeAsync(60_000)
    expect(calls).toHaveLength(1)
  })

  it('validates its options', () => {
    expect(() => retry(null as never)).toThrow(new TypeError('retry: options must be an object'))
    expect(() => retry({ maxRetries: -1 })).toThrow(
      new TypeError('retry: "maxRetries" must be a whole number of retries, at least 0 and at most 9007199254740991'),
    )
    expect(() => retry({ maxRetries: 1.5 })).toThrow(TypeError)
    for (const name of ['minDelayMs', 'maxDelayMs', 'budgetMs'] as const) {
      expect(() => retry({ [name]: -5 })).toThrow(
        new TypeError(`retry: "${name}" must be a number of milliseconds, at least 0 and at most 2147483647`),
      )
      expect(() => retry({ [name]: Infinity })).toThrow(TypeError)
    }
    expect(() => retry({ procedures: 'com.atproto.repo.putRecord' as never })).toThrow(
      new TypeError('retry: "procedures" must be an array of NSIDs'),
    )
    expect(() => retry({ procedures: ['com.atproto.repo.putRecord', 'putRecord'] })).toThrow(
      new TypeError('retry: "procedures[1]" must be an NSID (e.g. "com.atproto.repo.putRecord")'),
    )
    // Never safe to send twice: a replayed refresh spends a rotated (single-use) refresh token, a
    // replayed login counts against createSession's 30 per 5 minutes.
    for (const nsid of ['com.atproto.server.refreshSession', 'com.atproto.server.createSession']) {
      expect(() => retry({ procedures: ['com.atproto.repo.putRecord', nsid] })).toThrow(
        new TypeError(`retry: "procedures[1]" must not be ${nsid}: never safe to send twice`),
      )
    }
  })
})

describe('isNetworkError', () => {
  it('knows the network failures of the common fetch implementations', () => {
    for (const message of [
      'fetch failed',
      'Failed to fetch',
      'NetworkError when attempting to fetch resource.',
      'Load failed',
    ]) {
      expect(isNetworkError(new TypeError(message))).toBe(true)
    }
    expect(isNetworkError(new TypeError('Failed to parse URL from x'))).toBe(false)
    expect(isNetworkError('fetch failed')).toBe(false)
  })
})

describe('retry over HTTP', () => {
  it('retries a real 503 and a reset connection, then returns the answer', async () => {
    const faults: Handler[] = [
      (_q, res) => sendJson(res, 503, { error: 'Unavailable' }, { 'retry-after': '0' }),
      (_q, res) => res.socket!.destroy(),
      (_q, res) => sendJson(res, 200, { handle: 'alice.example' }),
    ]
    const server: LoopbackServer = await startServer((q, res) => faults[server.requests.length - 1]!(q, res))
    try {
      const f = pipeline([retry({ minDelayMs: 1, maxDelayMs: 5 })])
      const res = await f(`${server.url}/xrpc/app.bsky.actor.getProfile?actor=alice.example`)
      expect(await res.json()).toEqual({ handle: 'alice.example' })
      expect(server.requests).toHaveLength(3)
    } finally {
      await server.close()
    }
  })

  it('retries a refused connection until it gives up, then rethrows the fetch error', async () => {
    const port = await closedPort()
    let attempts = 0
    const f = retry({ maxRetries: 2, minDelayMs: 1, maxDelayMs: 5 })(
      (input, init) => (attempts++, globalFetch(input, init)),
    )
    const error = await f(`http://127.0.0.1:${port}/xrpc/a.b.c`).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'TypeError', message: 'fetch failed' })
    expect(isNetworkError(error)).toBe(true)
    expect(attempts).toBe(3)
  })
})
