import { describe, expect, it } from '@jest/globals'
import { createSession, deleteSession, getSession, refreshSession } from '../lib/core/lexicons.ts'
import { isSessionMethod } from '../lib/core/request.ts'
import { routeToPds } from '../middleware/route-to-pds.ts'
import { FakeSource, recordingFetch } from './helpers/fake-source.ts'
import { PDS, SERVICE, session } from './helpers/fixtures.ts'

const ok = () => new Response('ok')

describe('routeToPds', () => {
  it('sends app requests to the PDS from the DID document', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = routeToPds({ session: new FakeSource(session()) })(fetch)
    await mw('/xrpc/com.atproto.repo.listRecords?repo=x&collection=y', { method: 'GET' })
    expect(calls[0]!.url).toBe(`${PDS}/xrpc/com.atproto.repo.listRecords?repo=x&collection=y`)
    expect(calls[0]!.init).toEqual({ method: 'GET' })
  })

  it('sends the session methods to the service (entryway)', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = routeToPds({ session: new FakeSource(session()) })(fetch)
    for (const m of ['createSession', 'refreshSession', 'getSession', 'deleteSession']) {
      await mw(`/xrpc/com.atproto.server.${m}`)
    }
    expect(calls.map((c) => c.url)).toEqual([
      `${SERVICE}/xrpc/com.atproto.server.createSession`,
      `${SERVICE}/xrpc/com.atproto.server.refreshSession`,
      `${SERVICE}/xrpc/com.atproto.server.getSession`,
      `${SERVICE}/xrpc/com.atproto.server.deleteSession`,
    ])
  })

  it('falls back to the service when the session has no PDS URL', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = routeToPds({ session: new FakeSource(session({ pdsUrl: null })) })(fetch)
    await mw('/xrpc/com.atproto.repo.createRecord')
    expect(calls[0]!.url).toBe(`${SERVICE}/xrpc/com.atproto.repo.createRecord`)
  })

  it('reads the session on every call, so a PDS move is followed', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const source = new FakeSource(session())
    const mw = routeToPds({ session: source })(fetch)
    await mw('/xrpc/a.b.c')
    source.session = session({ pdsUrl: 'https://new-pds.example' })
    await mw('/xrpc/a.b.c')
    expect(calls.map((c) => c.url)).toEqual([`${PDS}/xrpc/a.b.c`, 'https://new-pds.example/xrpc/a.b.c'])
  })

  it('leaves absolute URLs and Request objects alone', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = routeToPds({ session: new FakeSource(session()) })(fetch)
    await mw('https://elsewhere.example/x')
    await mw(new URL('https://elsewhere.example/y'))
    await mw(new Request('https://elsewhere.example/z'))
    expect(calls.map((c) => c.url)).toEqual([
      'https://elsewhere.example/x',
      'https://elsewhere.example/y',
      'https://elsewhere.example/z',
    ])
  })

  it.each(['//evil.example/xrpc/x', '/\\evil.example/x', '/@evil.example/x', '/%2F%2Fevil.example/x'])(
    'keeps the path %s on the PDS origin',
    async (path) => {
      const { fetch, calls } = recordingFetch(ok)
      const mw = routeToPds({ session: new FakeSource(session()) })(fetch)
      await mw(path)
      expect(new URL(calls[0]!.url).origin).toBe(PDS)
    },
  )

  it('rejects a relative path that does not start with "/"', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = routeToPds({ session: new FakeSource(session()) })(fetch)
    await expect(mw('@evil.example/x')).rejects.toThrow(TypeError)
    expect(calls).toHaveLength(0)
  })

  it('validates its options', () => {
    expect(() => routeToPds(undefined as never)).toThrow(new TypeError('routeToPds: options must be an object'))
    expect(() => routeToPds({ session: {} as never })).toThrow(/routeToPds: "session" must be a SessionSource/)
  })

  it('knows the session methods by the NSIDs of their schemas', () => {
    // lib/core/request.ts spells them out so middlewares don't bundle lex-schema.
    for (const { nsid } of [createSession, deleteSession, getSession, refreshSession]) {
      for (const path of [`/xrpc/${nsid}`, `/xrpc/${nsid}?x=1`, `/xrpc/${nsid}#f`])
        expect(isSessionMethod(path)).toBe(true)
      for (const path of [
        `/xrpc/${nsid}X`,
        `/xrpc/${nsid}.x`,
        `/xrpc/${nsid}/x`,
        `/xrpc/x${nsid}`,
        `/x/xrpc/${nsid}`,
        `/xrpc/${nsid.replace('server', 'serverx')}`,
      ]) {
        expect(isSessionMethod(path)).toBe(false)
      }
    }
    for (const other of [
      'com.atproto.server.createAccount',
      'com.atproto.server.describeServer',
      'app.bsky.actor.getProfile',
    ]) {
      expect(isSessionMethod(`/xrpc/${other}`)).toBe(false)
    }
  })
})
