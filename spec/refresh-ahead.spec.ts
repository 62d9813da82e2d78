import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { jwtExpiry } from '../lib/core/jwt.ts'
import { pipeline } from '../lib/core/fetch.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { refreshAhead } from '../middleware/refresh-ahead.ts'
import { PasswordAgent, type PasswordAgentOptions } from '../lib/password-agent.ts'
import { FakeSource, recordingFetch } from './helpers/fake-source.ts'
import { JSON_HEADERS, PDS, fakeJwt, session, sessionData } from './helpers/fixtures.ts'

// A 2 h token with `s` seconds left, as the reference PDS issues them.
const expiringIn = (s: number) => {
  const now = Math.floor(Date.now() / 1000)
  const iat = now + s - 7200
  return session({ refreshedAt: new Date(iat * 1000).toISOString() }, { accessJwt: fakeJwt({ iat, exp: iat + 7200 }) })
}
const renew = (s: ReturnType<typeof session>) => ({ ...s, data: { ...s.data, accessJwt: fakeJwt({}, 7200) } })
const ok = () => new Response('ok')

describe('jwtExpiry', () => {
  it('reads exp without verifying, and gives up on anything malformed', () => {
    const exp = Math.floor(Date.now() / 1000) + 100
    expect(jwtExpiry(fakeJwt({ exp }))).toBe(exp)
    for (const bad of [
      '',
      'abc',
      'a.b.c',
      'a.!!!.c',
      `x.${Buffer.from('{"exp":"soon"}').toString('base64url')}.y`,
      `x.${Buffer.from('null').toString('base64url')}.y`,
    ]) {
      expect(jwtExpiry(bad)).toBeUndefined()
    }
  })
})

describe('refreshAhead', () => {
  it('refreshes before sending when the token is inside the margin', async () => {
    const source = new FakeSource(expiringIn(30), renew)
    const { fetch, calls } = recordingFetch(ok)
    await pipeline(
      [refreshAhead({ session: source, marginMs: 60_000, jitterMs: 0 }), authHeader({ session: source })],
      fetch,
    )(`${PDS}/x`)
    expect(source.refreshes).toBe(1)
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${source.session.data.accessJwt}`)
  })

  it('never refreshes a short-lived token in the first three quarters of its life', async () => {
    const iat = Math.floor(Date.now() / 1000)
    const source = new FakeSource(session({}, { accessJwt: fakeJwt({ iat, exp: iat + 8 }) }), renew)
    const { fetch } = recordingFetch(ok)
    await refreshAhead({ session: source, marginMs: 60_000 })(fetch)(`${PDS}/x`)
    expect(source.refreshes).toBe(0)
    const old = iat - 7
    source.session = session(
      { refreshedAt: new Date(old * 1000).toISOString() },
      { accessJwt: fakeJwt({ iat: old, exp: old + 8 }) },
    )
    await refreshAhead({ session: source, marginMs: 60_000 })(fetch)(`${PDS}/x`)
    expect(source.refreshes).toBe(1)
  })

  it('times a token from when it was received, so a local clock ahead of the server does not make it due', async () => {
    // The server's clock is 3 h behind ours: by our clock its fresh 2 h token "expired" an hour ago.
    const serverNow = Math.floor(Date.now() / 1000) - 3 * 3600
    const source = new FakeSource(
      session(
        { refreshedAt: new Date().toISOString() },
        { accessJwt: fakeJwt({ iat: serverNow, exp: serverNow + 7200 }) },
      ),
      renew,
    )
    const { fetch } = recordingFetch(ok)
    await refreshAhead({ session: source })(fetch)(`${PDS}/x`)
    expect(source.refreshes).toBe(0)
  })

  it('leaves a fresh token alone', async () => {
    const source = new FakeSource(expiringIn(3600), renew)
    const { fetch } = recordingFetch(ok)
    await refreshAhead({ session: source })(fetch)(`${PDS}/x`)
    expect(source.refreshes).toBe(0)
  })

  it('refreshes first for a stream body that could outlive the token (it cannot be replayed)', async () => {
    const source = new FakeSource(expiringIn(120), renew)
    const { fetch } = recordingFetch(ok)
    const mw = refreshAhead({ session: source, marginMs: 60_000, jitterMs: 0, streamMarginMs: 300_000 })(fetch)
    await mw(`${PDS}/x`, { method: 'POST', body: 'small' })
    expect(source.refreshes).toBe(0)
    const body = new ReadableStream({ start: (c) => c.close() })
    await mw(`${PDS}/x`, { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(source.refreshes).toBe(1)
  })

  it('falls back to reactive refresh for a token without a readable exp', async () => {
    const source = new FakeSource(session({}, { accessJwt: 'eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.c2ln' }), renew)
    const { fetch } = recordingFetch(ok)
    await refreshAhead({ session: source })(fetch)(`${PDS}/x`)
    expect(source.refreshes).toBe(0)
  })

  it('sends the request with the current token when the refresh fails', async () => {
    const source = new FakeSource(expiringIn(10), () => {
      throw new Error('down')
    })
    const current = source.session.data.accessJwt
    const { fetch, calls } = recordingFetch(ok)
    const f = pipeline([refreshAhead({ session: source, jitterMs: 0 }), authHeader({ session: source })], fetch)
    const res = await f(`${PDS}/x`)
    expect(source.refreshes).toBe(1) // it was due, and tried
    expect(res.status).toBe(200)
    expect(calls.map((c) => c.headers.get('authorization'))).toEqual([`Bearer ${current}`])
  })

  describe('jitter', () => {
    afterEach(() => {
      jest.restoreAllMocks()
    })

    // 75 s left, margin 60 s, jitter up to 30 s: a draw below 0.5 waits, one above refreshes now.
    const send = (source: FakeSource) =>
      refreshAhead({ session: source, marginMs: 60_000, jitterMs: 30_000 })(recordingFetch(ok).fetch)(`${PDS}/x`)

    it('spreads refresh times: the draw decides whether a token is due', async () => {
      const random = jest.spyOn(Math, 'random')
      const early = new FakeSource(expiringIn(75), renew)
      random.mockReturnValue(0.9) // 60 + 27 s > 75 s: due
      await send(early)
      expect(early.refreshes).toBe(1)
      const late = new FakeSource(expiringIn(75), renew)
      random.mockReturnValue(0.1) // 60 + 3 s < 75 s: not yet
      await send(late)
      expect(late.refreshes).toBe(0)
    })

    it('draws once per token, so a token that is not due stays so however often it is sent', async () => {
      const random = jest.spyOn(Math, 'random').mockReturnValue(0.1)
      const source = new FakeSource(expiringIn(75), renew)
      const mw = refreshAhead({ session: source, marginMs: 60_000, jitterMs: 30_000 })(recordingFetch(ok).fetch)
      await mw(`${PDS}/x`)
      random.mockReturnValue(0.9) // a fresh draw now would make it due
      for (let i = 0; i < 3; i++) await mw(`${PDS}/x`)
      expect(source.refreshes).toBe(0)
    })
  })

  // The preset runs the same step with one state per agent (its own cache of
  // the last token's draw, and the agent's `refreshAhead` option as timing).
  describe('in the preset (PasswordAgent)', () => {
    afterEach(() => {
      jest.restoreAllMocks()
    })

    /** An agent on `saved` whose fetch answers refreshSession with fresh tokens and anything else 200. */
    const presetAgent = (saved: ReturnType<typeof session>, options: PasswordAgentOptions = {}) => {
      const { fetch, calls } = recordingFetch((call) =>
        call.url.endsWith('/xrpc/com.atproto.server.refreshSession')
          ? new Response(JSON.stringify(sessionData()), { headers: JSON_HEADERS })
          : ok(),
      )
      const agent = new PasswordAgent(saved, { ...options, fetch })
      const refreshes = () => calls.filter((c) => c.url.endsWith('refreshSession')).length
      return { agent, refreshes }
    }

    it('draws once per token, so a token that is not due stays so however often it is sent', async () => {
      const random = jest.spyOn(Math, 'random').mockReturnValue(0.1)
      const { agent, refreshes } = presetAgent(expiringIn(75))
      await agent.fetch('/xrpc/app.bsky.actor.getProfile')
      random.mockReturnValue(0.9) // a fresh draw now would make it due
      for (let i = 0; i < 3; i++) await agent.fetch('/xrpc/app.bsky.actor.getProfile')
      expect(refreshes()).toBe(0)
      // The next token gets its own draw (at 0.9 this one is due at once).
      const due = presetAgent(expiringIn(75))
      await due.agent.fetch('/xrpc/app.bsky.actor.getProfile')
      expect(due.refreshes()).toBe(1)
    })

    it("honours the agent's refreshAhead figures, and `false`", async () => {
      jest.spyOn(Math, 'random').mockReturnValue(0)
      const send = async (left: number, options: PasswordAgentOptions, body?: ReadableStream) => {
        const { agent, refreshes } = presetAgent(expiringIn(left), options)
        await agent.fetch('/xrpc/com.atproto.repo.uploadBlob', { method: 'POST', body, duplex: 'half' } as RequestInit)
        return refreshes()
      }
      expect(await send(30, {})).toBe(1) // default margin 60 s
      expect(await send(30, { refreshAhead: { marginMs: 10_000 } })).toBe(0)
      expect(await send(30, { refreshAhead: false })).toBe(0)
      expect(await send(90, { refreshAhead: { marginMs: 100_000 } })).toBe(1)
      // A stream body: the default 5 min upload window, or the one given.
      const stream = () => new ReadableStream({ start: (c) => c.close() })
      expect(await send(240, {}, stream())).toBe(1)
      expect(await send(240, { refreshAhead: { streamMarginMs: 60_000 } }, stream())).toBe(0)
    })
  })

  it('validates its options', () => {
    expect(() => refreshAhead({ session: new FakeSource(session()), marginMs: -1 })).toThrow(
      /refreshAhead: "marginMs" must be a number of milliseconds/,
    )
  })
})
