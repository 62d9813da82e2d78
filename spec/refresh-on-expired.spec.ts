import { describe, expect, it } from '@jest/globals'
import { pipeline } from '../lib/core/fetch.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { isExpiredTokenAnswer, refreshOnExpired } from '../middleware/refresh-on-expired.ts'
import { FakeSource, jsonResponse, recordingFetch, type Call } from './helpers/fake-source.ts'
import { PDS, fakeJwt, session } from './helpers/fixtures.ts'

const expired = () => jsonResponse(400, { error: 'ExpiredToken', message: 'Token has expired' })
const rotate = (s: ReturnType<typeof session>) => ({ ...s, data: { ...s.data, accessJwt: fakeJwt() } })

/** refreshOnExpired → authHeader → terminal, the way the preset stacks them. */
function stack(
  answer: (call: Call, n: number) => Response | Promise<Response>,
  source = new FakeSource(session(), rotate),
) {
  const { fetch, calls } = recordingFetch(answer)
  const state = { session: source }
  return { fetch: pipeline([refreshOnExpired(state), authHeader(state)], fetch), calls, source }
}

describe('refreshOnExpired', () => {
  it('refreshes on 400 ExpiredToken and replays once with the new token', async () => {
    const { fetch, calls, source } = stack((_c, n) => (n === 1 ? expired() : new Response('ok')))
    const first = source.session.data.accessJwt
    const res = await fetch(`${PDS}/xrpc/a.b.c`, { method: 'POST', body: '{"a":1}' })
    expect(await res.text()).toBe('ok')
    expect(source.refreshes).toBe(1)
    expect(calls.map((c) => c.headers.get('authorization'))).toEqual([
      `Bearer ${first}`,
      `Bearer ${source.session.data.accessJwt}`,
    ])
    expect(calls[1]!.init?.body).toBe('{"a":1}')
  })

  it('refreshes on 401 ExpiredToken and on a 401 whose WWW-Authenticate says invalid_token', async () => {
    for (const answer of [
      () => jsonResponse(401, { error: 'ExpiredToken', message: 'x' }),
      () => new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }),
    ]) {
      const { fetch, source } = stack((_c, n) => (n === 1 ? answer() : new Response('ok')))
      expect((await fetch(`${PDS}/x`)).status).toBe(200)
      expect(source.refreshes).toBe(1)
    }
  })

  it.each([
    [
      '400 InvalidToken "Bad token scope"',
      () => jsonResponse(400, { error: 'InvalidToken', message: 'Bad token scope' }),
    ],
    ['401 AccountDeactivated', () => jsonResponse(401, { error: 'AccountDeactivated', message: 'x' })],
    ['401 AccountTakedown', () => jsonResponse(401, { error: 'AccountTakedown', message: 'x' })],
    ['401 AuthenticationRequired from a proxied service', () => jsonResponse(401, { error: 'AuthenticationRequired' })],
    ['400 InvalidRequest', () => jsonResponse(400, { error: 'InvalidRequest', message: 'x' })],
    ['400 ExpiredToken as text/plain', () => new Response('{"error":"ExpiredToken"}', { status: 400 })],
    ['403 ExpiredToken', () => jsonResponse(403, { error: 'ExpiredToken' })],
    ['500', () => jsonResponse(500, { error: 'InternalServerError' })],
  ])('returns %s to the caller without refreshing', async (_name, answer) => {
    const { fetch, calls, source } = stack(answer)
    const res = await fetch(`${PDS}/x`)
    const expected = answer()
    expect(res.status).toBe(expected.status)
    expect(await res.text()).toBe(await expected.text()) // the body the middleware peeked at is intact
    expect(source.refreshes).toBe(0)
    expect(calls).toHaveLength(1)
  })

  it('does not refresh for an expired answer from a request that did not carry our token', async () => {
    const foreign = stack(() => expired())
    expect((await foreign.fetch('https://elsewhere.example/x')).status).toBe(400)
    const own = stack(() => expired())
    expect((await own.fetch(`${PDS}/x`, { headers: { authorization: 'Bearer mine' } })).status).toBe(400)
    expect(foreign.source.refreshes + own.source.refreshes).toBe(0)
  })

  it('never replays a ReadableStream body: the first answer comes back', async () => {
    const { fetch, calls, source } = stack(() => expired())
    const body = new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array([1])), c.close()) })
    const res = await fetch(`${PDS}/x`, { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'ExpiredToken', message: 'Token has expired' })
    expect(calls).toHaveLength(1)
    expect(source.refreshes).toBe(0)
  })

  it('does not retry an aborted request', async () => {
    const ctrl = new AbortController()
    const { fetch, calls } = stack(() => {
      ctrl.abort()
      return expired()
    })
    const res = await fetch(`${PDS}/x`, { signal: ctrl.signal })
    expect(res.status).toBe(400)
    expect(calls).toHaveLength(1)
  })

  it('returns the first answer, body intact, when no newer session can be had', async () => {
    const source = new FakeSource(session(), () => {
      throw new Error('entryway down')
    })
    const { fetch, calls } = stack(() => expired(), source)
    const res = await fetch(`${PDS}/x`)
    expect(source.refreshes).toBe(1) // it did try
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'ExpiredToken', message: 'Token has expired' })
    expect(calls).toHaveLength(1)
  })

  it('replays at most once even if the replay is also expired', async () => {
    const { fetch, calls, source } = stack(() => expired())
    expect((await fetch(`${PDS}/x`)).status).toBe(400)
    expect(calls).toHaveLength(2)
    expect(source.refreshes).toBe(1)
  })

  it('shares one refresh between concurrent requests that saw the same token', async () => {
    const source = new FakeSource(session(), async (s) => {
      await new Promise((r) => setTimeout(r, 20))
      return rotate(s)
    })
    // A refresh in flight is shared: FakeSource alone would not dedupe, so wrap it.
    let inflight: Promise<ReturnType<typeof session>> | null = null
    const shared = {
      current: () => source.current(),
      refresh: (seen?: ReturnType<typeof session>) =>
        (inflight ??= source.refresh(seen).finally(() => (inflight = null))),
    }
    const first = source.session.data.accessJwt
    const { fetch, calls } = recordingFetch((c) =>
      c.headers.get('authorization') === `Bearer ${first}` ? expired() : new Response('ok'),
    )
    const f = pipeline([refreshOnExpired({ session: shared }), authHeader({ session: shared })], fetch)
    const answers = await Promise.all(Array.from({ length: 50 }, () => f(`${PDS}/x`)))
    expect(answers.every((r) => r.status === 200)).toBe(true)
    expect(source.refreshes).toBe(1)
    expect(calls).toHaveLength(100)
  })

  it('validates its options', () => {
    expect(() => refreshOnExpired({ session: null as never })).toThrow(TypeError)
    expect(() => refreshOnExpired({ session: new FakeSource(session()), maxPeekBytes: -1 })).toThrow(
      new TypeError(
        'refreshOnExpired: "maxPeekBytes" must be a whole number of bytes, above 0 and at most 9007199254740991',
      ),
    )
  })
})

describe('isExpiredTokenAnswer', () => {
  it('does not read a JSON body larger than the limit', async () => {
    const big = JSON.stringify({ error: 'ExpiredToken', pad: 'x'.repeat(100_000) })
    const res = new Response(big, { status: 400, headers: { 'content-type': 'application/json' } })
    expect(await isExpiredTokenAnswer(res)).toBe(false)
    expect(res.bodyUsed).toBe(false)
    expect((await res.json()).error).toBe('ExpiredToken')
  })

  it('stops reading a chunked body once it passes the limit', async () => {
    let pulled = 0
    const body = new ReadableStream({
      pull(c) {
        pulled++
        c.enqueue(new TextEncoder().encode(pulled === 1 ? '{"error":"ExpiredToken","pad":"' : 'x'.repeat(8192)))
        if (pulled > 1000) c.close()
      },
    })
    const res = new Response(body, { status: 400, headers: { 'content-type': 'application/json' } })
    expect(await isExpiredTokenAnswer(res, 16 * 1024)).toBe(false)
    expect(pulled).toBeLessThan(10)
  })

  it('reads the code of a small JSON error and leaves the body readable', async () => {
    const res = jsonResponse(400, { error: 'ExpiredToken', message: 'Token has expired' })
    expect(await isExpiredTokenAnswer(res)).toBe(true)
    expect(await res.json()).toEqual({ error: 'ExpiredToken', message: 'Token has expired' })
  })
})

describe('isExpiredTokenAnswer and WWW-Authenticate', () => {
  const challenge = (value: string) => new Response(null, { status: 401, headers: { 'www-authenticate': value } })
  it.each([
    ['Bearer error="invalid_token"', true],
    ['Bearer error=invalid_token', true],
    ['Bearer realm="pds", error="invalid_token", error_description="expired"', true],
    ['DPoP algs="ES256", Bearer error="invalid_token"', true],
    // We send Bearer: a DPoP challenge says our scheme is the wrong one, and a
    // new token would be refused the same way (a refresh per request, forever).
    ['DPoP error="invalid_token"', false],
    ['DPoP algs="ES256 RS256", error="invalid_token", error_description="DPoP proof required"', false],
    ['Bearer realm="pds", DPoP error="invalid_token"', false],
    ['Bearer error="insufficient_scope"', false],
    ['Basic realm="x"', false],
  ])('a 401 with WWW-Authenticate: %s → %s', async (value, expected) => {
    expect(await isExpiredTokenAnswer(challenge(value))).toBe(expected)
  })

  it('a server answering every request with a DPoP invalid_token challenge costs no refresh', async () => {
    const { fetch, calls, source } = stack(() => challenge('DPoP algs="ES256", error="invalid_token"'))
    for (let i = 0; i < 3; i++) expect((await fetch(`${PDS}/x`)).status).toBe(401)
    expect(source.refreshes).toBe(0)
    expect(calls).toHaveLength(3)
  })
})
