import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import { LoggedOutError } from '../lib/core/errors.ts'
import type { FetchLike } from '../lib/core/fetch.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { FakeSource, recordingFetch } from './helpers/fake-source.ts'
import { PDS, SERVICE, session } from './helpers/fixtures.ts'

const ok = () => new Response('ok')

describe('authHeader', () => {
  it('adds the bearer access token to requests on the PDS origin', async () => {
    const s = session()
    const { fetch, calls } = recordingFetch(ok)
    await authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/xrpc/a.b.c`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    expect(calls[0]!.headers.get('content-type')).toBe('application/json')
    expect(calls[0]!.init?.body).toBe('{}')
  })

  it('adds it to session methods on the service, but not to other service calls', async () => {
    const s = session()
    const { fetch, calls } = recordingFetch(ok)
    const mw = authHeader({ session: new FakeSource(s) })(fetch)
    await mw(`${SERVICE}/xrpc/com.atproto.server.getSession`)
    await mw(`${SERVICE}/xrpc/com.atproto.repo.createRecord`)
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    expect(calls[1]!.headers.has('authorization')).toBe(false)
  })

  it('keeps a caller-supplied Authorization header and adds none of its own', async () => {
    const { fetch, calls } = recordingFetch(ok)
    await authHeader({ session: new FakeSource(session()) })(fetch)(`${PDS}/x`, {
      headers: { Authorization: 'Basic YWRtaW46cGFzcw==' },
    })
    expect(calls[0]!.headers.get('authorization')).toBe('Basic YWRtaW46cGFzcw==')
  })

  it('merges into the headers of a Request input', async () => {
    const s = session()
    const { fetch, calls } = recordingFetch(ok)
    await authHeader({ session: new FakeSource(s) })(fetch)(new Request(`${PDS}/x`, { headers: { 'x-trace': '1' } }))
    expect(calls[0]!.headers.get('x-trace')).toBe('1')
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
  })

  it('never sends the token to another origin', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = authHeader({ session: new FakeSource(session()) })(fetch)
    await mw('https://evil.example/xrpc/a.b.c')
    await mw('http://pds.example/xrpc/a.b.c') // other scheme
    await mw('https://pds.example:8443/xrpc/a.b.c') // other port
    await mw('/xrpc/a.b.c') // unrouted path: unknown origin
    expect(calls.map((c) => c.headers.has('authorization'))).toEqual([false, false, false, false])
  })

  it('rejects with "Logged out" once the session is destroyed', async () => {
    const source = new FakeSource(session())
    source.destroyed = true
    const { fetch, calls } = recordingFetch(ok)
    await expect(authHeader({ session: source })(fetch)(`${PDS}/x`)).rejects.toThrow(LoggedOutError)
    expect(calls).toHaveLength(0)
  })

  describe('redirects of an authenticated request', () => {
    const redirect = (status: number, location: string) => new Response(null, { status, headers: { location } })

    it('follows a redirect to another origin without the token', async () => {
      const s = session()
      const { fetch, calls } = recordingFetch((_c, n) =>
        n === 1 ? redirect(302, 'https://cdn.example/blob') : new Response('blob'),
      )
      const res = await authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/xrpc/com.atproto.sync.getBlob`)
      expect(await res.text()).toBe('blob')
      expect(calls.map((c) => [c.url, c.headers.get('authorization'), c.init?.redirect])).toEqual([
        [`${PDS}/xrpc/com.atproto.sync.getBlob`, `Bearer ${s.data.accessJwt}`, 'manual'],
        ['https://cdn.example/blob', null, 'manual'],
      ])
    })

    it('keeps the token on a same-origin 307 and replays the body and method', async () => {
      const s = session()
      const { fetch, calls } = recordingFetch((_c, n) => (n === 1 ? redirect(307, '/xrpc/other') : new Response('ok')))
      await authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/xrpc/a.b.c`, { method: 'POST', body: 'x' })
      expect(calls[1]).toMatchObject({ url: `${PDS}/xrpc/other`, init: { method: 'POST', body: 'x' } })
      expect(calls[1]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    })

    it('turns a POST into a GET without body on 303, and never re-adds a dropped token', async () => {
      const { fetch, calls } = recordingFetch((_c, n) =>
        n === 1
          ? redirect(303, 'https://other.example/x')
          : n === 2
            ? redirect(302, `${PDS}/back`)
            : new Response('ok'),
      )
      await authHeader({ session: new FakeSource(session()) })(fetch)(`${PDS}/x`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      })
      expect(
        calls.map((c) => [c.init?.method, c.init?.body, c.headers.has('authorization'), c.headers.get('content-type')]),
      ).toEqual([
        ['POST', '{}', true, 'application/json'],
        ['GET', undefined, false, null],
        ['GET', undefined, false, null],
      ])
    })

    it('stops after 20 hops and does not follow to other schemes', async () => {
      const loop = recordingFetch(() => redirect(302, `${PDS}/again`))
      expect((await authHeader({ session: new FakeSource(session()) })(loop.fetch)(`${PDS}/x`)).status).toBe(302)
      expect(loop.calls).toHaveLength(21)
      const file = recordingFetch(() => redirect(302, 'file:///etc/passwd'))
      expect((await authHeader({ session: new FakeSource(session()) })(file.fetch)(`${PDS}/x`)).status).toBe(302)
      expect(file.calls).toHaveLength(1)
    })

    it("sends an authenticated stream upload with redirect: 'error', so nothing buffers the body", async () => {
      const s = session()
      const { fetch, calls } = recordingFetch(() => new Response('ok'))
      const body = new ReadableStream({ start: (c) => c.close() })
      await authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/xrpc/com.atproto.repo.uploadBlob`, {
        method: 'POST',
        body,
        duplex: 'half',
      } as RequestInit)
      expect(calls[0]!.init?.redirect).toBe('error')
      expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    })

    describe("where the runtime refuses redirect: 'error' (workerd)", () => {
      // workerd's Request constructor (and so its fetch) throws on 'error'.
      const NativeRequest = globalThis.Request
      beforeEach(() => {
        globalThis.Request = class extends NativeRequest {
          constructor(input: RequestInfo | URL, init?: RequestInit) {
            if (init?.redirect === 'error')
              throw new TypeError('Invalid redirect value, must be one of "follow" or "manual"')
            super(input, init)
          }
        }
      })
      afterEach(() => {
        globalThis.Request = NativeRequest
      })
      const upload = (fetch: FetchLike, s = session()) =>
        authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/xrpc/com.atproto.repo.uploadBlob`, {
          method: 'POST',
          body: new ReadableStream({ start: (c) => c.close() }),
          duplex: 'half',
        } as RequestInit)

      it("sends a stream upload with redirect: 'manual' and hands back a plain answer", async () => {
        const s = session()
        const { fetch, calls } = recordingFetch(() => new Response('{"blob":1}'))
        expect(await (await upload(fetch, s)).text()).toBe('{"blob":1}')
        expect(calls.map((c) => [c.init?.redirect, c.headers.get('authorization')])).toEqual([
          ['manual', `Bearer ${s.data.accessJwt}`],
        ])
      })

      it.each([301, 302, 303, 307, 308])('fails on a %i as redirect: error would, follows nothing', async (status) => {
        let cancelled = false
        const body = new ReadableStream({ cancel: () => void (cancelled = true) })
        const { fetch, calls } = recordingFetch(
          () => new Response(body, { status, headers: { location: 'https://cdn.example/upload' } }),
        )
        await expect(upload(fetch)).rejects.toThrow(
          new TypeError(`authHeader: a stream upload was redirected (${status}), which it does not follow`),
        )
        expect(calls).toHaveLength(1)
        expect(cancelled).toBe(true) // the answer is not left open
      })

      it("fails on a browser's opaque redirect too", async () => {
        const opaque = { type: 'opaqueredirect', status: 0, headers: new Headers(), body: null } as Response
        const { fetch, calls } = recordingFetch(() => opaque)
        await expect(upload(fetch)).rejects.toThrow(TypeError)
        expect(calls).toHaveLength(1)
      })

      it('keeps other answers, a 304 or an error status, for the caller', async () => {
        for (const status of [304, 400, 500]) {
          const { fetch } = recordingFetch(() => new Response(null, { status }))
          expect((await upload(fetch)).status).toBe(status)
        }
      })
    })

    it("keeps a Request input's signal on every hop (as ky passes its timeout)", async () => {
      const ctrl = new AbortController()
      const { fetch, calls } = recordingFetch((_c, n) =>
        n === 1 ? redirect(302, 'https://cdn.example/blob') : new Response('blob'),
      )
      await authHeader({ session: new FakeSource(session()) })(fetch)(
        new Request(`${PDS}/xrpc/com.atproto.sync.getBlob`, { signal: ctrl.signal }),
      )
      expect(calls).toHaveLength(2)
      const hopSignal = calls[1]!.init?.signal
      expect(hopSignal).toBeDefined()
      ctrl.abort()
      expect(hopSignal!.aborted).toBe(true)
    })

    it.each(['manual', 'error'] as const)("leaves redirect: '%s' to the caller", async (mode) => {
      const s = session()
      const { fetch, calls } = recordingFetch(() => redirect(302, 'https://other.example/'))
      const res = await authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/x`, { redirect: mode })
      expect(res.status).toBe(302)
      expect(calls.map((c) => [c.url, c.init?.redirect, c.headers.get('authorization')])).toEqual([
        [`${PDS}/x`, mode, `Bearer ${s.data.accessJwt}`],
      ])
    })

    it("reads a Request's redirect mode as fetch will, not from a redefined property", async () => {
      const req = new Request(`${PDS}/xrpc/com.atproto.sync.getBlob`) // redirect: 'follow'
      Object.defineProperty(req, 'redirect', { value: 'manual' })
      const modes: RequestRedirect[] = []
      const fetch: FetchLike = async (input, init) => {
        modes.push(new Request(input, init).redirect)
        return new Response('blob')
      }
      await authHeader({ session: new FakeSource(session()) })(fetch)(req)
      // The fetch below must never follow a redirect with the token: authHeader does that.
      expect(modes).toEqual(['manual'])
    })
  })
})
