import { afterEach, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import { pipeline } from '../lib/core/fetch.ts'
import { logger, redactUrl, type LoggerEntry } from '../middleware/logger.ts'
import { recordingFetch } from './helpers/fake-source.ts'
import { PDS } from './helpers/fixtures.ts'

/** A logger whose lines and entries are kept. */
function captured(options: Parameters<typeof logger>[0] = {}) {
  const lines: string[] = []
  const entries: LoggerEntry[] = []
  const mw = logger({ ...options, log: (line, entry) => (lines.push(line), entries.push(entry)) })
  return { mw, lines, entries }
}

describe('logger', () => {
  afterEach(() => {
    jest.useRealTimers()
    jest.restoreAllMocks()
  })

  it('logs method, URL, status and the time to the answer', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] })
    const { mw, lines, entries } = captured()
    const { fetch } = recordingFetch(async () => {
      await new Promise((r) => setTimeout(r, 120))
      return new Response('{}', { status: 201 })
    })
    const pending = mw(fetch)(`${PDS}/xrpc/com.atproto.repo.createRecord`, { method: 'post', body: '{}' })
    await jest.advanceTimersByTimeAsync(120)
    expect((await pending).status).toBe(201)
    expect(lines).toEqual([`POST ${PDS}/xrpc/com.atproto.repo.createRecord 201 120ms`])
    expect(entries).toEqual([
      { method: 'POST', url: `${PDS}/xrpc/com.atproto.repo.createRecord`, status: 201, error: undefined, ms: 120 },
    ])
  })

  it('takes the method of a Request and keeps a path a path', async () => {
    const { mw, lines } = captured()
    const f = mw(recordingFetch(() => new Response(null, { status: 204 })).fetch)
    await f(new Request(`${PDS}/xrpc/a.b.c`, { method: 'DELETE' }))
    await f('/xrpc/app.bsky.feed.getTimeline?limit=5')
    expect(lines.map((l) => l.replace(/ \d+ms$/, ''))).toEqual([
      `DELETE ${PDS}/xrpc/a.b.c 204`,
      'GET /xrpc/app.bsky.feed.getTimeline?limit=5 204',
    ])
  })

  it('never logs credentials, headers or bodies', async () => {
    const secrets = ['hunter2', 'eyJhbGciOi.access', 'refresh-secret', 'answer-secret', 's3cr3t', 'SIGVALUE']
    const { mw, lines, entries } = captured()
    const { fetch } = recordingFetch(
      () => new Response('{"accessJwt":"answer-secret"}', { headers: { 'set-cookie': 'sid=s3cr3t' } }),
    )
    await mw(fetch)(
      'https://alice:hunter2@pds.example/xrpc/com.atproto.server.createSession?access_token=refresh-secret&X-Amz-Signature=SIGVALUE#token=s3cr3t',
      {
        method: 'POST',
        headers: { authorization: 'Bearer eyJhbGciOi.access', 'x-password': 'hunter2' },
        body: JSON.stringify({ identifier: 'alice', password: 'hunter2' }),
      },
    )
    const logged = JSON.stringify([lines, entries])
    for (const secret of secrets) expect(logged).not.toContain(secret)
    expect(entries[0]!.url).toBe(
      'https://***:***@pds.example/xrpc/com.atproto.server.createSession?access_token=***&X-Amz-Signature=***',
    )
  })

  it('logs a failure with the error name and code, never its message, and rethrows it', async () => {
    const { mw, lines, entries } = captured()
    const error = new TypeError(
      'Request cannot be constructed from a URL that includes credentials: https://u:hunter2@x/',
      {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      },
    )
    const { fetch } = recordingFetch(() => {
      throw error
    })
    await expect(mw(fetch)(`${PDS}/xrpc/a.b.c`)).rejects.toBe(error)
    expect(lines[0]).toMatch(new RegExp(`^GET ${PDS}/xrpc/a\\.b\\.c failed: TypeError ECONNREFUSED \\d+ms$`))
    expect(entries[0]).toMatchObject({ status: undefined, error: 'TypeError ECONNREFUSED' })
    expect(JSON.stringify([lines, entries])).not.toContain('hunter2')

    const aborted = recordingFetch(() => {
      throw new DOMException('This operation was aborted', 'AbortError')
    })
    await expect(mw(aborted.fetch)(`${PDS}/x`)).rejects.toMatchObject({ name: 'AbortError' })
    expect(entries[1]!.error).toBe('AbortError')
  })

  it('writes to console.log by default, looked up per line', async () => {
    const f = logger()(recordingFetch(() => new Response('ok')).fetch)
    const spy = jest.spyOn(console, 'log').mockImplementation(() => {})
    await f(`${PDS}/x`)
    expect(spy).toHaveBeenCalledTimes(1)
    expect(spy.mock.calls[0]).toEqual([expect.stringMatching(new RegExp(`^GET ${PDS}/x 200 \\d+ms$`))])
  })

  it('does not let a throwing log fail the request', async () => {
    const f = logger({
      log: () => {
        throw new Error('disk full')
      },
    })(recordingFetch(() => new Response('ok')).fetch)
    expect(await (await f(`${PDS}/x`)).text()).toBe('ok')
  })

  it('does not let an async log that rejects become an unhandled rejection', async () => {
    // A real rejected promise nobody handles would crash Node (--unhandled-rejections=throw):
    // the log's result must get a rejection handler.
    const then = jest.fn()
    const f = logger({ log: () => ({ then }) as never })(recordingFetch(() => new Response('ok')).fetch)
    expect((await f(`${PDS}/x`)).status).toBe(200)
    expect(then).toHaveBeenCalledTimes(1)
    const onRejected = then.mock.calls[0]![1] as (e: unknown) => unknown
    expect(typeof onRejected).toBe('function')
    expect(() => onRejected(new Error('disk full'))).not.toThrow()
  })

  it('validates its options', () => {
    expect(() => logger(null as never)).toThrow(new TypeError('logger: options must be an object'))
    expect(() => logger({ log: 'console' as never })).toThrow(new TypeError('logger: "log" must be a function'))
    expect(() => logger({ redactParams: ['a', 1] as never })).toThrow(
      new TypeError('logger: "redactParams[1]" must be a string'),
    )
    expect(() => logger({ redactParams: 'token' as never })).toThrow(
      new TypeError('logger: "redactParams" must be an array of strings'),
    )
  })
})

describe('redactUrl', () => {
  it.each([
    [
      'keeps an ordinary URL as given',
      `${PDS}/xrpc/app.bsky.actor.getProfile?actor=did:plc:abc&limit=5`,
      `${PDS}/xrpc/app.bsky.actor.getProfile?actor=did:plc:abc&limit=5`,
    ],
    ['hides userinfo', 'https://user:pass@pds.example/x', 'https://***:***@pds.example/x'],
    ['hides a username alone', 'https://token@pds.example/x', 'https://***@pds.example/x'],
    ['drops the fragment', 'https://app.example/cb#access_token=abc', 'https://app.example/cb'],
    [
      'hides sensitive values, whatever their case or encoding',
      '/cb?code=abc&state=xyz&Password=p&api_key=k&refresh%5Ftoken=r&sig=s&key=v&auth=a&monkey=ok&author=bob',
      '/cb?code=***&state=xyz&Password=***&api_key=***&refresh%5Ftoken=***&sig=***&key=***&auth=***&monkey=ok&author=bob',
    ],
    [
      'shows the host of a protocol-relative URL, credentials hidden',
      '//u:p@evil.example/x?token=t',
      'http://***:***@evil.example/x?token=***',
    ],
    ['refuses what is no URL', 'http://[::1', '[invalid URL]'],
    [
      'hides a JWT whatever its parameter is called',
      '/xrpc/x.y.z?q=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkaWQ6cGxjOmFiYyJ9.c2lnbmF0dXJl&limit=5',
      '/xrpc/x.y.z?q=***&limit=5',
    ],
    ['hides pass and pw', '/login?user=alice&pass=hunter2&pw=hunter3', '/login?user=alice&pass=***&pw=***'],
  ])('%s', (_name, raw, expected) => {
    expect(redactUrl(raw)).toBe(expected)
  })

  it('hides the extra parameters a logger is given', async () => {
    const { mw, entries } = captured({ redactParams: ['Handle'] })
    await mw(recordingFetch(() => new Response('ok')).fetch)('/xrpc/x.y.z?handle=alice&cursor=1')
    expect(entries[0]!.url).toBe('/xrpc/x.y.z?handle=***&cursor=1')
  })

  it('shortens a huge URL', () => {
    const line = redactUrl(`data:text/plain,${'x'.repeat(10_000)}`)
    expect(line.length).toBeLessThanOrEqual(2049)
    expect(line.endsWith('…')).toBe(true)
  })
})

describe('logger over HTTP', () => {
  it('logs a real answer', async () => {
    const scope = nock(PDS).get('/xrpc/app.bsky.feed.getTimeline').query({ limit: '1' }).reply(200, { feed: [] })
    const { mw, lines } = captured()
    const res = await pipeline([mw])(`${PDS}/xrpc/app.bsky.feed.getTimeline?limit=1`)
    expect(await res.json()).toEqual({ feed: [] })
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^GET ${PDS}/xrpc/app\\.bsky\\.feed\\.getTimeline\\?limit=1 200 \\d+ms$`)),
    ])
    scope.done()
  })
})
