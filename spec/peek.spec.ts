import { describe, expect, it } from '@jest/globals'
import { pipeline } from '../lib/fetch.ts'
import { SessionHolder, type SessionSource } from '../lib/session-holder.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { refreshAhead } from '../middleware/refresh-ahead.ts'
import { refreshOnExpired } from '../middleware/refresh-on-expired.ts'
import { routeToPds } from '../middleware/route-to-pds.ts'
import { FakeSource, jsonResponse, recordingFetch } from './helpers/fake-source.ts'
import { PDS, session, sessionData } from './helpers/fixtures.ts'

// `peek()` is the synchronous fast path of `current()` the middlewares use to
// skip a microtask per request: it must never hand out a session `current()`
// would not, i.e. nothing while a refresh or logout runs, nothing once destroyed.
describe('SessionHolder.peek', () => {
  it('is the current session when idle, undefined while a refresh runs, and the new one after', async () => {
    let answer!: (res: Response) => void
    const fetch = () => new Promise<Response>((resolve) => (answer = resolve))
    const first = session()
    const holder = new SessionHolder(first, { fetch })
    expect(holder.peek()).toBe(first)
    const refreshed = holder.refresh()
    expect(holder.peek()).toBeUndefined()
    const waiting = holder.current()
    await new Promise((r) => setTimeout(r, 0))
    answer(jsonResponse(200, sessionData()))
    const next = await refreshed
    expect(await waiting).toBe(next)
    expect(holder.peek()).toBe(next)
  })

  it('is undefined during and after logout, so callers get LoggedOutError from current()', async () => {
    let answer!: (res: Response) => void
    const holder = new SessionHolder(session(), { fetch: () => new Promise<Response>((resolve) => (answer = resolve)) })
    const out = holder.logout()
    expect(holder.peek()).toBeUndefined()
    await new Promise((r) => setTimeout(r, 0))
    answer(new Response(null, { status: 200 }))
    await out
    expect(holder.peek()).toBeUndefined()
    await expect(holder.current()).rejects.toThrow('Logged out')
  })
})

describe('middlewares and peek', () => {
  const stack = (source: SessionSource, fetch: Parameters<typeof pipeline>[1]) =>
    pipeline([refreshAhead({ session: source }), refreshOnExpired({ session: source }), routeToPds({ session: source }), authHeader({ session: source })], fetch)

  it('use peek() when the source has it, and do not call current()', async () => {
    const source = new FakeSource(session())
    let currentCalls = 0
    const peeking: SessionSource = {
      peek: () => source.session,
      current: () => (currentCalls++, source.current()),
      refresh: (seen) => source.refresh(seen),
    }
    const { fetch, calls } = recordingFetch(() => new Response('ok'))
    await stack(peeking, fetch)('/xrpc/com.example.ping')
    expect(currentCalls).toBe(0)
    expect(calls[0]!.url).toBe(`${PDS}/xrpc/com.example.ping`)
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${source.session.data.accessJwt}`)
  })

  it('fall back to current() when peek() says undefined, or the source has none', async () => {
    for (const peek of [() => undefined, undefined]) {
      const source = new FakeSource(session())
      let currentCalls = 0
      const waiting: SessionSource = {
        ...(peek ? { peek } : {}),
        current: () => (currentCalls++, source.current()),
        refresh: (seen) => source.refresh(seen),
      }
      const { fetch, calls } = recordingFetch(() => new Response('ok'))
      await stack(waiting, fetch)('/xrpc/com.example.ping')
      expect(currentCalls).toBe(4)
      expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${source.session.data.accessJwt}`)
    }
  })
})
