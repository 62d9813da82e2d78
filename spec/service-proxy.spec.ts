import { describe, expect, it } from '@jest/globals'
import nock from 'nock'
import { pipeline } from '../lib/core/fetch.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { routeToPds } from '../middleware/route-to-pds.ts'
import { acceptLabelers, serviceProxy } from '../middleware/service-proxy.ts'
import { FakeSource, recordingFetch } from './helpers/fake-source.ts'
import { PDS, session } from './helpers/fixtures.ts'

const APPVIEW = 'did:web:api.bsky.app#bsky_appview'
const ok = () => new Response('ok')

describe('serviceProxy', () => {
  it('sets atproto-proxy on XRPC requests, paths and URLs alike, and on nothing else', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const f = serviceProxy(APPVIEW)(fetch)
    await f('/xrpc/app.bsky.feed.getTimeline?limit=5')
    await f(new URL(`${PDS}/xrpc/app.bsky.actor.getProfile?actor=alice.example`))
    await f(new Request(`${PDS}/xrpc/app.bsky.feed.getFeed`))
    await f(`${PDS}/.well-known/atproto-did`)
    await f('https://cdn.example/img/avatar.jpg')
    expect(calls.map((c) => c.headers.get('atproto-proxy'))).toEqual([APPVIEW, APPVIEW, APPVIEW, null, null])
  })

  it('changes nothing else: URL, method, body, other headers, Authorization', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const url = `${PDS}/xrpc/app.bsky.feed.sendInteractions`
    await serviceProxy(APPVIEW)(fetch)(url, {
      method: 'POST',
      body: '{"interactions":[]}',
      headers: { authorization: 'Bearer mine', 'content-type': 'application/json' },
    })
    expect(calls[0]!.url).toBe(url)
    expect(calls[0]!.init).toMatchObject({ method: 'POST', body: '{"interactions":[]}' })
    expect(Object.fromEntries(calls[0]!.headers)).toEqual({
      authorization: 'Bearer mine',
      'content-type': 'application/json',
      'atproto-proxy': APPVIEW,
    })
  })

  it('keeps a proxy the caller chose, in init or on a Request', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const f = serviceProxy(APPVIEW)(fetch)
    const mine = 'did:web:mod.example#atproto_labeler'
    await f('/xrpc/com.atproto.moderation.createReport', {
      method: 'POST',
      body: '{}',
      headers: { 'Atproto-Proxy': mine },
    })
    await f(new Request(`${PDS}/xrpc/app.bsky.feed.getTimeline`, { headers: { 'atproto-proxy': mine } }))
    expect(calls.map((c) => c.headers.get('atproto-proxy'))).toEqual([mine, mine])
  })

  it('proxies only what `only` accepts', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const f = serviceProxy(APPVIEW, { only: (nsid) => nsid.startsWith('app.bsky.') })(fetch)
    await f('/xrpc/app.bsky.feed.getTimeline')
    await f('/xrpc/com.atproto.repo.createRecord', { method: 'POST', body: '{}' })
    expect(calls.map((c) => c.headers.get('atproto-proxy'))).toEqual([APPVIEW, null])
  })

  it('composes with the preset: routed to the PDS, with our token, and proxied', async () => {
    const s = session()
    const source = new FakeSource(s)
    const { fetch, calls } = recordingFetch(ok)
    const f = pipeline([serviceProxy(APPVIEW), routeToPds({ session: source }), authHeader({ session: source })], fetch)
    await f('/xrpc/app.bsky.feed.getTimeline?limit=1')
    expect(calls[0]!.url).toBe(`${PDS}/xrpc/app.bsky.feed.getTimeline?limit=1`)
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    expect(calls[0]!.headers.get('atproto-proxy')).toBe(APPVIEW)
  })

  it('rejects what is not "<did>#<service-id>"', () => {
    const message = 'serviceProxy: "service" must be "<did>#<service-id>", e.g. "did:web:api.bsky.app#bsky_appview"'
    for (const bad of [
      'did:web:api.bsky.app',
      '#bsky_appview',
      'did:web:api.bsky.app#',
      'did:web:api.bsky.app#a#b',
      'did:web:api.bsky.app#bsky appview',
      'did:web:api.bsky.app#x\r\nx-evil: 1',
      'did:web:api.bsky.app#x,did:web:evil.example#y',
      'https://api.bsky.app#bsky_appview',
      'DID:web:api.bsky.app#bsky_appview',
      `did:plc:${'a'.repeat(2048)}#x`,
      42,
      undefined,
    ]) {
      expect(() => serviceProxy(bad as string)).toThrow(new TypeError(message))
    }
    expect(() => serviceProxy('did:plc:ar7c4by46qjdydhdevvrndac#atproto_labeler')).not.toThrow()
    expect(() => serviceProxy(APPVIEW, { only: 'app.bsky' as never })).toThrow(
      new TypeError('serviceProxy: "only" must be a function'),
    )
    expect(() => serviceProxy(APPVIEW, null as never)).toThrow(new TypeError('serviceProxy: options must be an object'))
  })
})

describe('acceptLabelers', () => {
  const MOD = 'did:plc:ar7c4by46qjdydhdevvrndac'
  const MINE = 'did:web:labeler.example'

  it('sets atproto-accept-labelers on XRPC requests, without duplicates', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const f = acceptLabelers([`${MOD};redact`, MINE, MINE])(fetch)
    await f('/xrpc/app.bsky.feed.getTimeline')
    await f('https://cdn.example/x')
    expect(calls.map((c) => c.headers.get('atproto-accept-labelers'))).toEqual([`${MOD};redact, ${MINE}`, null])
  })

  it("keeps the caller's labelers, filters with `only`, and is a no-op for an empty list", async () => {
    const { fetch, calls } = recordingFetch(ok)
    await acceptLabelers([MINE])(fetch)('/xrpc/app.bsky.feed.getTimeline', {
      headers: { 'atproto-accept-labelers': MOD },
    })
    await acceptLabelers([MINE], { only: (nsid) => nsid.startsWith('app.bsky.') })(fetch)(
      '/xrpc/com.atproto.repo.getRecord',
    )
    await acceptLabelers([])(fetch)('/xrpc/app.bsky.feed.getTimeline')
    expect(calls.map((c) => c.headers.get('atproto-accept-labelers'))).toEqual([MOD, null, null])
  })

  it('rejects anything but DIDs with an optional ";redact", naming the entry', () => {
    expect(() => acceptLabelers(MINE as never)).toThrow(
      new TypeError('acceptLabelers: "labelers" must be an array of DIDs'),
    )
    for (const bad of [
      'labeler.example',
      `${MINE};redact;redact`,
      `${MINE}, did:web:evil.example`,
      `${MINE}#x`,
      `${MINE}\n`,
      null,
    ]) {
      expect(() => acceptLabelers([MOD, bad as string])).toThrow(
        new TypeError('acceptLabelers: "labelers[1]" must be a DID, optionally followed by ";redact"'),
      )
    }
  })
})

describe('service proxy headers over HTTP', () => {
  it('reach the server', async () => {
    const scope = nock(PDS)
      .matchHeader('atproto-proxy', APPVIEW)
      .matchHeader('atproto-accept-labelers', 'did:web:labeler.example;redact')
      .get('/xrpc/app.bsky.feed.getTimeline')
      .reply(200, { feed: [] })
    const f = pipeline([serviceProxy(APPVIEW), acceptLabelers(['did:web:labeler.example;redact'])])
    expect(await (await f(`${PDS}/xrpc/app.bsky.feed.getTimeline`)).json()).toEqual({ feed: [] })
    scope.done()
  })
})
