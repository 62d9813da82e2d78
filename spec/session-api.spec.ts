import { describe, expect, it } from '@jest/globals'
import { XrpcResponseError } from '@atproto/lex-client'
import { InvalidSessionResponseError, SessionAnswerTooLargeError, SessionTimeoutError } from '../lib/core/errors.ts'
import type { FetchLike } from '../lib/core/fetch.ts'
import { refreshSession } from '../lib/core/lexicons.ts'
import {
  hasJwtTokens,
  HttpSessionApi,
  isDefinitiveRefusal,
  sessionFromServer,
  type IssuedSession,
} from '../lib/core/session-api.ts'
import { jsonResponse, recordingFetch, type Call } from './helpers/fake-source.ts'
import { DID, didDoc, fakeJwt, PDS, SERVICE, session, sessionData, xrpcError } from './helpers/fixtures.ts'

const REFRESH = `${SERVICE}/xrpc/com.atproto.server.refreshSession`
const GET = `${SERVICE}/xrpc/com.atproto.server.getSession`
const DELETE = `${SERVICE}/xrpc/com.atproto.server.deleteSession`

const api = (fetch: FetchLike, timeoutMs = 1000, maxAnswerBytes?: number) =>
  new HttpSessionApi(SERVICE, { fetch, timeoutMs, maxAnswerBytes })

/** An answer that never comes: rejects with the request's abort reason, as fetch does. */
const hang = (call: Call) =>
  new Promise<Response>((_resolve, reject) => {
    const signal = call.init?.signal
    signal?.addEventListener('abort', () => reject(signal.reason))
  })

const issued = (res: IssuedSession | Error): IssuedSession => {
  if (res instanceof Error) throw res
  return res
}

describe('HttpSessionApi.refreshSession', () => {
  it('posts the refresh token to the service only (no redirects) and builds the new session', async () => {
    const old = session({ pdsUrl: null })
    const data = sessionData()
    const { fetch, calls } = recordingFetch(() => jsonResponse(200, data))
    const { session: next, warning } = issued(await api(fetch).refreshSession(old))
    expect(calls.map((c) => [c.url, c.init?.method, c.init?.redirect])).toEqual([[REFRESH, 'POST', 'manual']])
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${old.data.refreshJwt}`)
    expect(next.data).toEqual(data)
    expect(next).toMatchObject({ service: SERVICE, pdsUrl: PDS })
    expect(Date.parse(next.refreshedAt)).toBeGreaterThanOrEqual(Date.parse(old.refreshedAt))
    expect(warning).toBeUndefined()
  })

  it('backfills a DID document / emailConfirmed the refresh left out from getSession, keeping the new tokens', async () => {
    const old = session()
    const data = sessionData({ didDoc: undefined, emailConfirmed: undefined })
    const { fetch, calls } = recordingFetch((call) =>
      call.url === GET
        ? jsonResponse(200, {
            did: data.did,
            handle: data.handle,
            didDoc: didDoc(),
            emailConfirmed: true,
            accessJwt: 'x',
          })
        : jsonResponse(200, data),
    )
    const { session: next } = issued(await api(fetch).refreshSession(old))
    expect(calls.map((c) => c.url)).toEqual([REFRESH, GET])
    expect(calls[1]!.headers.get('authorization')).toBe(`Bearer ${data.accessJwt}`)
    expect(next.data).toMatchObject({
      didDoc: didDoc(),
      emailConfirmed: true,
      accessJwt: data.accessJwt,
      refreshJwt: data.refreshJwt,
    })
  })

  it('keeps the refresh answer when the backfill fails or answers for another DID', async () => {
    for (const answer of [
      () => jsonResponse(500, xrpcError('InternalServerError')),
      () => jsonResponse(200, { did: 'did:plc:someoneelse234567abcdef', handle: 'eve.example', didDoc: didDoc() }),
    ]) {
      const data = sessionData({ didDoc: undefined })
      const { fetch } = recordingFetch((call) => (call.url === GET ? answer() : jsonResponse(200, data)))
      const { session: next } = issued(await api(fetch).refreshSession(session()))
      expect(next.data.didDoc).toBeUndefined()
      expect(next.pdsUrl).toBe(PDS) // no DID document: the previous pdsUrl stays
    }
  })

  it('hands an answer for another DID back as is, without a getSession', async () => {
    const data = sessionData({ did: 'did:plc:someoneelse234567abcdef', didDoc: undefined })
    const { fetch, calls } = recordingFetch(() => jsonResponse(200, data))
    const { session: next } = issued(await api(fetch).refreshSession(session()))
    expect(next.data.did).toBe(data.did)
    expect(calls).toHaveLength(1)
  })

  it('gives the refresh and its backfill one deadline', async () => {
    const TIMEOUT = 300
    const data = sessionData({ didDoc: undefined })
    const { fetch, calls } = recordingFetch(async (call) => {
      if (call.url === GET) return hang(call)
      await new Promise((r) => setTimeout(r, 200))
      return jsonResponse(200, data)
    })
    const started = Date.now()
    const { session: next } = issued(await api(fetch, TIMEOUT).refreshSession(session()))
    const took = Date.now() - started
    expect(calls.map((c) => c.url)).toEqual([REFRESH, GET])
    expect(next.data.accessJwt).toBe(data.accessJwt) // a backfill that timed out is only skipped
    expect(took).toBeGreaterThanOrEqual(TIMEOUT - 20)
    expect(took).toBeLessThan(TIMEOUT + 150) // not 200 ms + a fresh 300 ms
  })

  it('answers a refresh that does not finish in time with a SessionTimeoutError', async () => {
    const { fetch } = recordingFetch(hang)
    const res = await api(fetch, 50).refreshSession(session())
    expect(res).toBeInstanceOf(SessionTimeoutError)
    expect((res as Error).message).toBe(
      `refreshSession at ${SERVICE} for ${DID} got no answer in 50 ms: check the service URL and the network, or raise refreshTimeoutMs`,
    )
  })

  it('fails on a redirect (3xx or an opaque redirect) without following it, as transient, and releases its body', async () => {
    const answers = [
      new Response('moved', { status: 302, headers: { location: 'https://elsewhere.example/x' } }),
      new Response(null, { status: 307, headers: { location: '/xrpc/other' } }),
      Object.defineProperty(new Response(null, { status: 200 }), 'type', { value: 'opaqueredirect' }),
    ]
    for (const answer of answers) {
      const { fetch, calls } = recordingFetch(() => answer)
      const old = session()
      const failure = await api(fetch).refreshSession(old)
      expect(calls).toHaveLength(1)
      expect(failure).toBeInstanceOf(Error)
      expect(isDefinitiveRefusal(failure)).toBe(false)
      const text = `${String(failure)} ${String((failure as Error).cause)}`
      expect(text).toContain('with a redirect, which session calls never follow')
      expect(text).not.toContain(old.data.refreshJwt)
      expect(answer.bodyUsed).toBe(answer.body !== null) // cancelled, so the connection is freed
    }
  })

  it('never rejects: a network fault comes back as an Error', async () => {
    const fetch: FetchLike = async () => {
      throw new TypeError('fetch failed')
    }
    const res = await api(fetch).refreshSession(session())
    expect(res).toBeInstanceOf(Error)
    expect(isDefinitiveRefusal(res)).toBe(false)
  })

  it('refuses tokens that are not JWT-shaped, and a body that fails the schema, without their payload', async () => {
    for (const body of [
      sessionData({ accessJwt: '' }),
      sessionData({ refreshJwt: 'opaque' }),
      { ...sessionData(), did: 42 },
    ]) {
      const { fetch } = recordingFetch(() => jsonResponse(200, body))
      const res = await api(fetch).refreshSession(session())
      expect(res).toBeInstanceOf(InvalidSessionResponseError)
      expect(res).toMatchObject({ status: 200 })
      expect(JSON.stringify(Object.entries(res as object))).not.toContain((body as { refreshJwt: string }).refreshJwt)
      expect(res).not.toHaveProperty('payload')
    }
  })

  it('does not read an answer larger than maxAnswerBytes', async () => {
    const { fetch } = recordingFetch(() => jsonResponse(200, sessionData()))
    const res = await api(fetch, 1000, 100).refreshSession(session())
    expect(res).toBeInstanceOf(SessionAnswerTooLargeError)
    expect(res).toMatchObject({ maxBytes: 100 })
  })

  it('passes a refusal on as an XrpcResponseError: definitive only for a 400/401 that says the token is dead', async () => {
    const cases: [number, string, boolean][] = [
      [400, 'ExpiredToken', true],
      [401, 'InvalidToken', true],
      [400, 'AccountTakedown', true],
      [500, 'ExpiredToken', false],
      [400, 'InvalidRequest', false],
      [429, 'RateLimitExceeded', false],
    ]
    for (const [status, error, definitive] of cases) {
      const { fetch } = recordingFetch(() => jsonResponse(status, xrpcError(error)))
      const res = await api(fetch).refreshSession(session())
      expect(res).toBeInstanceOf(XrpcResponseError)
      expect([status, error, isDefinitiveRefusal(res)]).toEqual([status, error, definitive])
    }
  })
})

describe('HttpSessionApi.deleteSession', () => {
  it('revokes with the refresh token: undefined once done, else the failure', async () => {
    const s = session()
    const ok = recordingFetch(() => new Response(null, { status: 200 }))
    expect(await api(ok.fetch).deleteSession(s)).toBeUndefined()
    expect(ok.calls.map((c) => [c.url, c.headers.get('authorization')])).toEqual([
      [DELETE, `Bearer ${s.data.refreshJwt}`],
    ])

    const down = recordingFetch(() => jsonResponse(503, xrpcError('NotAvailable')))
    expect(await api(down.fetch).deleteSession(s)).toBeInstanceOf(XrpcResponseError)
    const slow = recordingFetch(hang)
    expect(await api(slow.fetch, 50).deleteSession(s)).toBeInstanceOf(SessionTimeoutError)
  })
})

describe('isDefinitiveRefusal', () => {
  it('is false for anything but an XrpcResponseError', () => {
    for (const value of [
      new Error('ExpiredToken'),
      { status: 401, error: 'ExpiredToken' },
      undefined,
      'ExpiredToken',
    ]) {
      expect(isDefinitiveRefusal(value)).toBe(false)
    }
    const refusal = new XrpcResponseError(refreshSession, new Response(null, { status: 401 }), {
      encoding: 'application/json',
      body: xrpcError('ExpiredToken'),
    })
    expect(isDefinitiveRefusal(refusal)).toBe(true)
  })
})

describe('hasJwtTokens', () => {
  it('wants both tokens JWT-shaped', () => {
    expect(hasJwtTokens({ accessJwt: fakeJwt(), refreshJwt: fakeJwt() })).toBe(true)
    for (const bad of ['', 'opaque', `${fakeJwt()}\n`, 42, null]) {
      expect(hasJwtTokens({ accessJwt: bad, refreshJwt: fakeJwt() })).toBe(false)
      expect(hasJwtTokens({ accessJwt: fakeJwt(), refreshJwt: bad })).toBe(false)
    }
  })
})

describe('sessionFromServer', () => {
  it("routes to the DID document's PDS, keeps the previous pdsUrl without one, and warns about a refused one", () => {
    expect(sessionFromServer(sessionData(), SERVICE, null)).toMatchObject({
      session: { pdsUrl: PDS, service: SERVICE },
    })
    expect(sessionFromServer(sessionData({ didDoc: undefined }), SERVICE, PDS).session.pdsUrl).toBe(PDS)
    const refused = sessionFromServer(sessionData({ didDoc: didDoc('https://pds.example/path') }), SERVICE, PDS)
    expect(refused.session.pdsUrl).toBeNull()
    expect(refused.warning).toMatch(/#atproto_pds.*; requests go to the service URL$/)
  })
})
