import { describe, expect, it } from '@jest/globals'
import { pipeline } from '../lib/core/fetch.ts'
import { SessionHolder, type SessionSource } from '../lib/core/session-holder.ts'
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
    pipeline(
      [
        refreshAhead({ session: source }),
        refreshOnExpired({ session: source }),
        routeToPds({ session: source }),
        authHeader({ session: source }),
      ],
      fetch,
    )

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

// The middlewares keep their common path synchronous (no async frame), yet
// must still behave like async functions: always a promise, never a throw.
describe('middlewares on the synchronous path', () => {
  const source = () => new FakeSource(session())
  const peeking = (
    s: FakeSource,
    peek: () => ReturnType<NonNullable<SessionSource['peek']>> = () => s.session,
  ): SessionSource => ({
    peek,
    current: () => s.current(),
    refresh: (seen) => s.refresh(seen),
  })
  const factories = {
    refreshAhead: (s: SessionSource) => refreshAhead({ session: s }),
    refreshOnExpired: (s: SessionSource) => refreshOnExpired({ session: s }),
    routeToPds: (s: SessionSource) => routeToPds({ session: s }),
    authHeader: (s: SessionSource) => authHeader({ session: s }),
  }

  it.each(Object.entries(factories))('%s turns a synchronous throw of next into a rejection', async (_name, make) => {
    const boom = new Error('boom')
    const fetch = make(peeking(source()))(() => {
      throw boom
    })
    let result: Promise<Response> | undefined
    expect(() => (result = fetch(`${PDS}/xrpc/com.example.ping`))).not.toThrow()
    await expect(result).rejects.toBe(boom)
  })

  it.each(Object.entries(factories))('%s turns a throwing peek into a rejection', async (_name, make) => {
    const boom = new Error('peek failed')
    const fetch = make(
      peeking(source(), () => {
        throw boom
      }),
    )(async () => new Response('ok'))
    let result: Promise<Response> | undefined
    expect(() => (result = fetch('/xrpc/com.example.ping'))).not.toThrow()
    await expect(result).rejects.toBe(boom)
  })

  it.each(['routeToPds', 'authHeader'] as const)('%s turns an unreadable input into a rejection', async (name) => {
    const fetch = factories[name](peeking(source()))(async () => new Response('ok'))
    let result: Promise<Response> | undefined
    expect(() => (result = fetch(null as never))).not.toThrow()
    await expect(result).rejects.toBeInstanceOf(TypeError)
  })

  it.each(Object.entries(factories))(
    '%s stops waiting for current() when the request aborts, with its reason',
    async (_name, make) => {
      // A source stuck in a refresh or logout (slow entryway, lock or hook).
      const stuck: SessionSource = {
        peek: () => undefined,
        current: () => new Promise(() => {}),
        refresh: () => new Promise(() => {}),
      }
      const fetch = make(stuck)(async () => new Response('ok'))
      const ctrl = new AbortController()
      const reason = new Error('gave up')
      const result = fetch('/xrpc/com.example.ping', { signal: ctrl.signal })
      ctrl.abort(reason)
      await expect(result).rejects.toBe(reason)
      await expect(fetch('/xrpc/com.example.ping', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    },
  )

  it.each(Object.entries(factories))(
    '%s answers with a promise when next returns a plain Response',
    async (_name, make) => {
      const answer = new Response('ok')
      const result = make(peeking(source()))((() => answer) as never)(`${PDS}/xrpc/com.example.ping`)
      expect(result).toBeInstanceOf(Promise)
      expect(await result).toBe(answer)
    },
  )
})
