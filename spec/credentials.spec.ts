import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { Client } from '@atproto/lex-client'
import { l } from '@atproto/lex-schema'
import nock from 'nock'
import { inspect } from 'node:util'
import { globalFetch, pipeline, type FetchLike, type Middleware } from '../lib/core/fetch.ts'
import { PasswordAgent, type Session, type SessionHooks } from '../lib/index.ts'
import { inputUrl, pinInput } from '../lib/core/request.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { logger } from '../middleware/logger.ts'
import { rateLimit } from '../middleware/rate-limit.ts'
import { refreshOnExpired } from '../middleware/refresh-on-expired.ts'
import { routeToPds } from '../middleware/route-to-pds.ts'
import { retry } from '../middleware/retry.ts'
import { serviceProxy } from '../middleware/service-proxy.ts'
import { FakeSource, jsonResponse, recordingFetch, type Call } from './helpers/fake-source.ts'
import { closedPort, nsidOf, sendJson, startServer, type LoopbackServer } from './helpers/fault-server.ts'
import {
  DID,
  PDS,
  SERVICE,
  didDoc,
  fakeJwt,
  session as makeSession,
  sessionData,
  xrpcError,
} from './helpers/fixtures.ts'

const SESSION_METHODS = new Set(
  ['createSession', 'refreshSession', 'getSession', 'deleteSession'].map((m) => `com.atproto.server.${m}`),
)
const REFRESH_METHODS = new Set(['com.atproto.server.refreshSession', 'com.atproto.server.deleteSession'])

/** Every token that was in play in one run, to look for anywhere it must not be. */
type Secrets = { access: Set<string>; refresh: Set<string> }
const secretsOf = (...sessions: { accessJwt: string; refreshJwt: string }[]): Secrets => ({
  access: new Set(sessions.map((s) => s.accessJwt)),
  refresh: new Set(sessions.map((s) => s.refreshJwt)),
})

/**
 * Leaks in what the terminal fetch was asked to send: an access token anywhere
 * but an http(s) request to the PDS (or a session method on the service), a
 * refresh token anywhere but refreshSession/deleteSession on the service.
 */
function leaksIn(calls: Call[], secrets: Secrets): string[] {
  const found: string[] = []
  for (const call of calls) {
    const url = URL.parse(call.url)
    const http = !!url && (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password
    const nsid = url && /^\/xrpc\/([^/?#]+)$/.exec(url.pathname)?.[1]
    const onService = http && url.origin === SERVICE
    const accessOk = (http && url.origin === PDS) || (onService && SESSION_METHODS.has(nsid ?? ''))
    const refreshOk = onService && REFRESH_METHODS.has(nsid ?? '')
    const body = typeof call.init?.body === 'string' ? call.init.body : ''
    const text = [call.url, ...[...call.headers].flat(), body].join('\n')
    for (const t of secrets.access) if (!accessOk && text.includes(t)) found.push(`access token -> ${call.url}`)
    for (const t of secrets.refresh) if (!refreshOk && text.includes(t)) found.push(`refresh token -> ${call.url}`)
  }
  return found
}

/** A terminal that says "expired" to everything (tempting a refresh) and serves refreshSession on the service. */
function tempting(issued: { accessJwt: string; refreshJwt: string }[]) {
  return recordingFetch((call) => {
    const url = URL.parse(call.url)
    if (url?.origin === SERVICE && url.pathname === '/xrpc/com.atproto.server.refreshSession') {
      const next = sessionData()
      issued.push(next)
      return jsonResponse(200, next)
    }
    return jsonResponse(401, xrpcError('ExpiredToken'), { 'www-authenticate': 'Bearer error="invalid_token"' })
  })
}

type Expect = 'token' | 'none' | 'reject'
type Trick = { name: string; input: () => string | URL | Request; expect: Expect; to?: string }

const evil = 'https://evil.example'
/** URL tricks, and where the access token may go: 'token' = to the PDS (at `to`, else the PDS origin). */
const TRICKS: Trick[] = [
  { name: 'absolute URL to another host', input: () => `${evil}/xrpc/com.atproto.repo.describeRepo`, expect: 'none' },
  {
    name: 'another host, session-method path',
    input: () => `${evil}/xrpc/com.atproto.server.refreshSession`,
    expect: 'none',
  },
  {
    name: 'protocol-relative //host',
    input: () => '//evil.example/xrpc/x',
    expect: 'token',
    to: `${PDS}//evil.example/xrpc/x`,
  },
  { name: 'backslash /\\host', input: () => '/\\evil.example/x', expect: 'token', to: `${PDS}//evil.example/x` },
  { name: 'double backslash \\\\host', input: () => '\\\\evil.example/x', expect: 'reject' },
  {
    name: 'encoded /%2F%2Fhost',
    input: () => '/%2F%2Fevil.example/x',
    expect: 'token',
    to: `${PDS}/%2F%2Fevil.example/x`,
  },
  { name: 'encoded %2F%2Fhost (no leading /)', input: () => '%2F%2Fevil.example/x', expect: 'reject' },
  { name: 'encoded /%5Chost', input: () => '/%5Cevil.example/x', expect: 'token', to: `${PDS}/%5Cevil.example/x` },
  { name: 'path /@host', input: () => '/@evil.example/x', expect: 'token', to: `${PDS}/@evil.example/x` },
  { name: 'dot segments /..//host', input: () => '/..//evil.example/x', expect: 'token', to: `${PDS}//evil.example/x` },
  { name: 'tab in a path /\\t/host', input: () => '/\t/evil.example/x', expect: 'token', to: `${PDS}//evil.example/x` },
  { name: 'newline before //host', input: () => '\n//evil.example/x', expect: 'reject' },
  { name: 'relative path without a leading /', input: () => 'xrpc/com.atproto.repo.describeRepo', expect: 'reject' },
  { name: 'userinfo https://pds.example@evil', input: () => 'https://pds.example@evil.example/x', expect: 'none' },
  { name: 'credentials https://user:pw@pds.example', input: () => 'https://user:pw@pds.example/x', expect: 'none' },
  { name: 'evil\\@pds (backslash ends the host)', input: () => 'https://evil.example\\@pds.example/x', expect: 'none' },
  {
    name: 'pds\\@evil (really the PDS)',
    input: () => 'https://pds.example\\@evil.example/x',
    expect: 'token',
    to: `${PDS}/@evil.example/x`,
  },
  { name: 'http instead of https', input: () => 'http://pds.example/x', expect: 'none' },
  { name: 'another port', input: () => 'https://pds.example:8443/x', expect: 'none' },
  { name: 'explicit default port :443', input: () => 'https://pds.example:443/x', expect: 'token', to: `${PDS}/x` },
  { name: 'ws: scheme', input: () => 'ws://pds.example/x', expect: 'none' },
  { name: 'wss: scheme', input: () => 'wss://pds.example/x', expect: 'none' },
  { name: 'ftp: scheme', input: () => 'ftp://pds.example/x', expect: 'none' },
  { name: 'file: scheme', input: () => 'file:///etc/passwd', expect: 'none' },
  { name: 'data: URL', input: () => 'data:text/plain,hello', expect: 'none' },
  { name: 'javascript: URL', input: () => 'javascript:alert(1)', expect: 'none' },
  {
    name: 'blob: URL with the PDS origin',
    input: () => 'blob:https://pds.example/0b7c8d4e-3f5a-4b1c-9d2e-1a2b3c4d5e6f',
    expect: 'none',
  },
  { name: 'IPv6 literal', input: () => 'https://[::1]/x', expect: 'none' },
  {
    name: 'uppercase scheme and host (same origin)',
    input: () => 'HTTPS://PDS.EXAMPLE/x',
    expect: 'token',
    to: `${PDS}/x`,
  },
  { name: 'trailing-dot host', input: () => 'https://pds.example./x', expect: 'none' },
  { name: 'lookalike subdomain', input: () => 'https://pds.example.evil.example/x', expect: 'none' },
  { name: 'percent-encoded dot in the host', input: () => 'https://pds.example%2eevil.example/x', expect: 'none' },
  { name: 'homograph host (Cyrillic s)', input: () => 'https://pd\u0455.example/x', expect: 'none' },
  { name: 'newline inside the host', input: () => 'https://evil.exa\nmple/x', expect: 'none' },
  {
    name: 'tab inside the scheme (still the PDS)',
    input: () => 'ht\ttps://pds.example/x',
    expect: 'token',
    to: `${PDS}/x`,
  },
  { name: 'leading space before another host', input: () => ' https://evil.example/x', expect: 'none' },
  { name: 'https:host without slashes', input: () => 'https:evil.example/x', expect: 'none' },
  {
    name: 'fragment @host',
    input: () => 'https://pds.example#@evil.example',
    expect: 'token',
    to: `${PDS}/#@evil.example`,
  },
  {
    name: 'service origin, not a session method',
    input: () => `${SERVICE}/xrpc/com.atproto.repo.createRecord`,
    expect: 'none',
  },
  {
    name: 'service origin, session method (allowed)',
    input: () => `${SERVICE}/xrpc/com.atproto.server.getSession`,
    expect: 'token',
    to: `${SERVICE}/xrpc/com.atproto.server.getSession`,
  },
  { name: 'Request object to another origin', input: () => new Request(`${evil}/x`), expect: 'none' },
  { name: 'Request object to the PDS', input: () => new Request(`${PDS}/x`), expect: 'token', to: `${PDS}/x` },
  { name: 'URL object to another origin', input: () => new URL(`${evil}/x`), expect: 'none' },
  { name: 'URL object to the PDS', input: () => new URL(`${PDS}/x`), expect: 'token', to: `${PDS}/x` },
]

let tricksTried = 0
let leaksFound = 0
afterAll(() => {
  console.info(`credentials.spec: ${TRICKS.length} URL tricks, ${tricksTried} tries, ${leaksFound} leaks`)
})

/** Checks one run: where the first request went, whether it carried the token, refreshes, and leaks. */
async function check(
  trick: Trick,
  run: () => Promise<Response>,
  calls: Call[],
  secrets: () => Secrets,
  refreshes: () => number,
  expect_: Expect,
  access: string,
  refreshesWhenOurs = 1,
) {
  tricksTried++
  const outcome = await run().then(
    () => undefined,
    (err: unknown) => err,
  )
  const leaks = leaksIn(calls, secrets())
  leaksFound += leaks.length
  expect(leaks).toEqual([])
  if (expect_ === 'reject') {
    expect(outcome).toBeInstanceOf(TypeError)
    expect(calls).toHaveLength(0)
    return
  }
  expect(outcome).toBeUndefined()
  const first = calls[0]!
  if (expect_ === 'token') {
    expect(first.headers.get('authorization')).toBe(`Bearer ${access}`)
    expect(URL.parse(first.url)?.href).toBe(trick.to)
    // Our token met "expired": one refresh, one replay (when refreshOnExpired is in the stack).
    expect(refreshes()).toBe(refreshesWhenOurs)
  } else {
    expect(first.headers.has('authorization')).toBe(false)
    expect(first.url).toBe(inputUrl(pinInput(trick.input())))
    expect(refreshes()).toBe(0) // a foreign "expired" is not ours to act on
  }
}

describe('the access token never reaches a foreign origin', () => {
  it('tries at least 20 URL tricks', () => {
    expect(TRICKS.length).toBeGreaterThanOrEqual(20)
  })

  const agentRun = async (trick: Trick, via: 'fetch' | 'fetchHandler') => {
    const issued: { accessJwt: string; refreshJwt: string }[] = []
    const { fetch, calls } = tempting(issued)
    const saved = makeSession()
    const agent = new PasswordAgent(saved, { fetch })
    const input = trick.input()
    const run =
      via === 'fetch'
        ? () => agent.fetch(input)
        : // lex-client hands over a path and an init like this one
          () =>
            agent.fetchHandler(input as `/${string}`, {
              method: 'GET',
              headers: new Headers({ accept: 'application/json' }),
              redirect: 'follow',
            })
    const refreshes = () => calls.filter((c) => c.url === `${SERVICE}/xrpc/com.atproto.server.refreshSession`).length
    await check(
      trick,
      run,
      calls,
      () => secretsOf(saved.data, ...issued),
      refreshes,
      trick.expect,
      saved.data.accessJwt,
    )
  }

  it.each(TRICKS.map((t) => [t.name, t] as const))('agent.fetch: %s', (_n, trick) => agentRun(trick, 'fetch'))

  it.each(TRICKS.filter((t) => typeof t.input() === 'string').map((t) => [t.name, t] as const))(
    'agent.fetchHandler (lex-client path): %s',
    (_n, trick) => agentRun(trick, 'fetchHandler'),
  )

  it.each(TRICKS.map((t) => [t.name, t] as const))(
    'bare refreshOnExpired → routeToPds → authHeader: %s',
    async (_n, trick) => {
      const issued: { accessJwt: string; refreshJwt: string }[] = []
      const source = new FakeSource(makeSession(), (s) => {
        const data = { ...s.data, accessJwt: fakeJwt(), refreshJwt: fakeJwt() }
        issued.push(data)
        return { ...s, data }
      })
      const first = source.session.data
      const { fetch, calls } = tempting([])
      const state = { session: source }
      const stack = pipeline([refreshOnExpired(state), routeToPds(state), authHeader(state)], fetch)
      await check(
        trick,
        () => stack(trick.input()),
        calls,
        () => secretsOf(first, ...issued),
        () => source.refreshes,
        trick.expect,
        first.accessJwt,
      )
    },
  )

  it.each(TRICKS.map((t) => [t.name, t] as const))('bare authHeader alone (no routing): %s', async (_n, trick) => {
    const source = new FakeSource(makeSession())
    const { fetch, calls } = tempting([])
    // Without routeToPds a path has no origin: it gets no token (and is not refused).
    const absolute = URL.canParse(inputUrl(pinInput(trick.input()))!)
    const expected: Expect = trick.expect === 'token' && absolute ? 'token' : 'none'
    const run = () => authHeader({ session: source })(fetch)(trick.input())
    await check(
      trick,
      run,
      calls,
      () => secretsOf(source.session.data),
      () => 0,
      expected,
      source.session.data.accessJwt,
      0,
    )
  })
})

describe('URL-like inputs: the token follows the URL fetch uses, not the one an object shows (nock)', () => {
  const path = '/xrpc/com.example.ping'
  const pdsUrl = `${PDS}${path}`
  const evilUrl = `${evil}${path}`

  /** The Authorization of every request `origin` receives (null: none); `answer` picks each reply. */
  function host(origin: string, answer: (n: number) => [number, Record<string, unknown>] = () => [200, {}]) {
    const auth: (string | null)[] = []
    nock(origin)
      .persist()
      .get(path)
      .reply((req: Request) => {
        auth.push(req.headers.get('authorization'))
        return answer(auth.length)
      })
    return auth
  }

  // Each shows the PDS URL where the library used to look, while fetch sends to evil.example.
  const lying: [string, () => string | URL | Request][] = [
    [
      'an object whose url is the PDS and whose toString is another host',
      () => ({ url: pdsUrl, toString: () => evilUrl }) as unknown as URL,
    ],
    [
      'a URL subclass whose href getter says the PDS',
      () => {
        class HrefLies extends URL {}
        Object.defineProperty(HrefLies.prototype, 'href', { get: () => pdsUrl })
        return new HrefLies(evilUrl)
      },
    ],
    [
      'a Request whose url property is redefined',
      () => Object.defineProperty(new Request(evilUrl), 'url', { value: pdsUrl }),
    ],
    [
      'a Request subclass whose url getter says the PDS',
      () => {
        class UrlLies extends Request {}
        Object.defineProperty(UrlLies.prototype, 'url', { get: () => pdsUrl })
        return new UrlLies(evilUrl)
      },
    ],
  ]
  const senders: [string, (s: Session, terminal?: FetchLike) => FetchLike][] = [
    ['agent.fetch', (s, fetch = globalFetch) => new PasswordAgent(s, { fetch }).fetch],
    ['authHeader alone', (s, fetch = globalFetch) => authHeader({ session: new FakeSource(s) })(fetch)],
  ]

  it.each(senders.flatMap(([via, make]) => lying.map(([what, input]) => [via, what, make, input] as const)))(
    '%s: %s goes to that host, without the token',
    async (_via, _what, make, input) => {
      const pds = host(PDS)
      const other = host(evil)
      const res = await make(makeSession())(input())
      expect(res.status).toBe(200)
      expect(other).toEqual([null])
      expect(pds).toEqual([])
    },
  )

  /** A URL on the PDS whose toString names the PDS on its first call, then another host. */
  const flipping = () => {
    let calls = 0
    class Flipping extends URL {
      override toString() {
        return calls++ === 0 ? super.toString() : evilUrl
      }
    }
    return new Flipping(pdsUrl)
  }

  it.each(senders)(
    '%s: a toString that changes its answer never takes the token to the other host',
    async (_via, make) => {
      const saved = makeSession()
      const pds = host(PDS)
      const other = host(evil)
      const fetch = make(saved)
      const input = flipping()
      await fetch(input) // toString: the PDS
      await fetch(input) // toString: the other host, from now on
      expect(pds).toEqual([`Bearer ${saved.data.accessJwt}`])
      expect(other).toEqual([null])
    },
  )

  it.each(senders)(
    '%s: a Request of another realm or library goes on as it is, without the token',
    async (_via, make) => {
      // What an undici-package Request shows: its URL is known only to its own fetch.
      const foreign = { url: pdsUrl, method: 'GET', headers: new Headers() } as unknown as Request
      const sent: [unknown, RequestInit | undefined][] = []
      await make(makeSession(), async (input, init) => {
        sent.push([input, init])
        return new Response('ok')
      })(foreign)
      expect(sent).toHaveLength(1)
      expect(sent[0]![0]).toBe(foreign)
      expect(new Headers(sent[0]![1]?.headers).has('authorization')).toBe(false)
    },
  )

  const readers: [string, () => Middleware][] = [
    ['refreshOnExpired', () => refreshOnExpired({ session: new FakeSource(makeSession()) })],
    ['routeToPds', () => routeToPds({ session: new FakeSource(makeSession()) })],
    ['authHeader', () => authHeader({ session: new FakeSource(makeSession()) })],
    ['retry', () => retry()],
    ['rateLimit', () => rateLimit()],
    ['serviceProxy', () => serviceProxy('did:web:api.bsky.app#bsky_appview')],
    ['logger', () => logger({ log: () => {} })],
  ]
  it.each(readers)(
    '%s passes on the string it read, not the object (whose toString could change)',
    async (_n, make) => {
      const sent: unknown[] = []
      await make()(async (input) => {
        sent.push(input)
        return new Response('ok')
      })(flipping())
      expect(sent).toEqual([pdsUrl])
    },
  )

  it('agent.fetch: the replay after a refresh goes where the first attempt went', async () => {
    const saved = makeSession()
    const fresh = sessionData()
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, fresh)
    const pds = host(PDS, (n) => (n === 1 ? [400, xrpcError('ExpiredToken')] : [200, {}]))
    const other = host(evil)
    const res = await new PasswordAgent(saved).fetch(flipping())
    expect(other).toEqual([])
    expect(res.status).toBe(200)
    expect(pds).toEqual([`Bearer ${saved.data.accessJwt}`, `Bearer ${fresh.accessJwt}`])
  })
})

describe("a caller's own Authorization header", () => {
  const inputs: [string, (agent: PasswordAgent) => Promise<Response>, string][] = [
    [
      'init.headers object, absolute PDS URL',
      (a) => a.fetch(`${PDS}/xrpc/com.example.x`, { headers: { Authorization: 'Bearer caller' } }),
      'Bearer caller',
    ],
    [
      'init.headers tuples, upper-case name, path',
      (a) => a.fetch('/xrpc/com.example.x', { headers: [['AUTHORIZATION', 'Basic YWxpY2U6cHc=']] }),
      'Basic YWxpY2U6cHc=',
    ],
    [
      'Request object headers',
      (a) => a.fetch(new Request(`${PDS}/x`, { headers: { authorization: 'Bearer caller' } })),
      'Bearer caller',
    ],
    [
      'fetchHandler Headers',
      (a) => a.fetchHandler('/xrpc/com.example.x', { headers: new Headers({ authorization: 'DPoP abc' }) }),
      'DPoP abc',
    ],
    ['empty Authorization value', (a) => a.fetch(`${PDS}/x`, { headers: { authorization: '' } }), ''],
  ]
  it.each(inputs)('is kept, ours is not added, and its 401 triggers no refresh: %s', async (_n, send, expected) => {
    const { fetch, calls } = tempting([])
    const saved = makeSession()
    const onRefreshed = jest.fn()
    const agent = new PasswordAgent(saved, { fetch, hooks: { onRefreshed } })
    const res = await send(agent)
    expect(res.status).toBe(401)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.headers.get('authorization')).toBe(expected)
    expect(onRefreshed).not.toHaveBeenCalled()
    expect(agent.session).toBe(saved)
    expect(leaksIn(calls, secretsOf(saved.data))).toEqual([])
  })
})

describe('DID documents: pdsUrl only from a valid #atproto_pds', () => {
  const pds = (serviceEndpoint: unknown, extra: Record<string, unknown> = {}) => ({
    ...didDoc(),
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint, ...extra }],
  })
  const refused: [string, Record<string, unknown>, string | null][] = [
    ['wrong type', pds('https://evil.example', { type: 'AtprotoLabeler' }), null],
    ['wrong service id', pds('https://evil.example', { id: '#atproto_labeler' }), null],
    ['javascript: URL', pds('javascript:alert(1)'), null],
    ['ftp: URL', pds('ftp://evil.example'), null],
    ['URL with userinfo', pds('https://admin:s3cretpw@evil.example'), 's3cretpw'],
    ['URL with a path', pds('https://evil.example/pds'), null],
    ['URL with a query', pds('https://evil.example/?session=abc123xyz'), 'abc123xyz'],
    ['URL with a fragment', pds('https://evil.example/#frag'), null],
    ['endpoint not a string', pds({ uri: 'https://evil.example' }), null],
    ['didDoc.id of another DID', { ...didDoc('https://evil.example'), id: 'did:plc:mallory' }, null],
    [
      'service not an array',
      {
        ...didDoc(),
        service: { id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://evil.example' },
      },
      null,
    ],
    ['no service at all', { ...didDoc(), service: [] }, null],
  ]

  async function loginWith(doc: Record<string, unknown>) {
    const onWarning = jest.fn<(message: string) => void>()
    const data = sessionData({ didDoc: doc })
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, data)
    const res = await PasswordAgent.login({
      service: SERVICE,
      identifier: 'alice.example',
      password: 'hunter2',
      hooks: { onWarning },
    })
    if (!res.success) throw res
    return { agent: res.value, onWarning, data }
  }

  it.each(refused)('%s: falls back to service, warns once without the URL', async (_n, doc, secret) => {
    const { agent, onWarning, data } = await loginWith(doc)
    expect(agent.session.pdsUrl).toBeNull()
    expect(onWarning).toHaveBeenCalledTimes(1)
    const message = onWarning.mock.calls[0]![0]
    expect(message).toMatch(/requests go to the service URL/)
    expect(message).not.toContain('evil.example')
    if (secret) expect(message).not.toContain(secret)
    // App requests now go to the service, with the token; nothing goes to evil.example.
    const scope = nock(SERVICE, { reqheaders: { authorization: `Bearer ${data.accessJwt}` } })
      .get('/xrpc/com.example.ping')
      .reply(200, {})
    expect((await agent.fetch('/xrpc/com.example.ping')).status).toBe(200)
    scope.done()
  })

  it.each([
    ['a bare origin', pds('https://pds2.example'), 'https://pds2.example'],
    [
      'the full-DID service id and a trailing slash',
      pds('https://pds2.example:8443/', { id: `${DID}#atproto_pds` }),
      'https://pds2.example:8443',
    ],
  ])('accepts %s', async (_n, doc, expected) => {
    const { agent, onWarning } = await loginWith(doc)
    expect(agent.session.pdsUrl).toBe(expected)
    expect(onWarning).not.toHaveBeenCalled()
  })

  it('a refresh that brings a refused DID document also falls back and warns', async () => {
    const { agent, onWarning } = await loginWith(didDoc())
    expect(agent.session.pdsUrl).toBe(PDS)
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, sessionData({ didDoc: pds('https://evil.example/path') }))
    await agent.refresh()
    expect(agent.session.pdsUrl).toBeNull()
    expect(onWarning).toHaveBeenCalledTimes(1)
  })
})

/** Everything a value exposes: message, stack, JSON, inspect (hidden too), own properties and causes. */
function exposed(value: unknown): string {
  const parts: string[] = [String(value)]
  try {
    parts.push(JSON.stringify(value) ?? '')
  } catch {
    // circular: inspect below still shows it
  }
  parts.push(inspect(value, { depth: 12, showHidden: true }))
  const seen = new Set<unknown>()
  const walk = (v: unknown, depth: number) => {
    if (depth > 6 || v === null || typeof v !== 'object' || seen.has(v)) {
      if (typeof v === 'string') parts.push(v)
      return
    }
    seen.add(v)
    if (v instanceof Error) parts.push(v.message, v.stack ?? '')
    for (const key of Reflect.ownKeys(v)) {
      try {
        walk((v as Record<PropertyKey, unknown>)[key], depth + 1)
      } catch {
        // a throwing getter shows nothing
      }
    }
    if (v instanceof Error) walk(v.cause, depth + 1)
  }
  walk(value, 0)
  return parts.join('\n')
}

describe('secrets never in inspect, JSON or errors (nock)', () => {
  it('an agent and its session holder show no token, before and after refresh and logout', async () => {
    const saved = makeSession()
    const next = sessionData()
    const agent = new PasswordAgent(saved)
    const texts = () => [exposed(agent), exposed(agent.sessionHolder), exposed(agent.fetch), JSON.stringify({ agent })]
    for (const text of texts()) {
      expect(text).not.toContain(saved.data.accessJwt)
      expect(text).not.toContain(saved.data.refreshJwt)
    }
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, next)
    await agent.refresh()
    nock(SERVICE).post('/xrpc/com.atproto.server.deleteSession').reply(200)
    const before = texts()
    await agent.logout()
    for (const text of [...before, ...texts()]) {
      for (const t of [saved.data.accessJwt, saved.data.refreshJwt, next.accessJwt, next.refreshJwt])
        expect(text).not.toContain(t)
    }
  })

  it('login refusals never echo the password', async () => {
    const password = 'correct-horse-battery-staple'
    for (const [status, error] of [
      [401, 'AuthenticationRequired'],
      [400, 'InvalidRequest'],
      [429, 'RateLimitExceeded'],
    ] as const) {
      nock(SERVICE)
        .post('/xrpc/com.atproto.server.createSession')
        .reply(status, xrpcError(error, 'Invalid identifier or password'))
      const result = await PasswordAgent.login({ service: SERVICE, identifier: 'alice.example', password })
      expect(result.success).toBe(false)
      expect(exposed(result)).not.toContain(password)
    }
  })
})

describe('real loopback servers (no nock)', () => {
  beforeAll(() => nock.restore())
  afterAll(() => {
    nock.activate()
    nock.disableNetConnect()
    nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/)
  })
  let servers: LoopbackServer[] = []
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()))
    servers = []
  })
  async function server() {
    const s = await startServer()
    servers.push(s)
    return s
  }
  const hooksLog = () => {
    const errors: unknown[] = []
    const hooks: SessionHooks<PasswordAgent> = {
      onRefreshFailure: (_s, e) => void errors.push(e),
      onDeleteFailure: (_s, e) => void errors.push(e),
      onHookError: (e) => void errors.push(e),
    }
    return { errors, hooks }
  }
  const on = (a: LoopbackServer): Session => {
    const data = sessionData({ didDoc: didDoc(a.url) })
    return { data, refreshedAt: new Date().toISOString(), pdsUrl: a.url, service: a.url }
  }

  describe('redirects from the PDS to another origin (default global fetch)', () => {
    it.each([
      ['302 GET to another port', 'GET', 302, (b: LoopbackServer) => `${b.url}/blob`],
      ['301 GET, protocol-relative Location', 'GET', 301, (b: LoopbackServer) => `//127.0.0.1:${b.port}/blob`],
      ['307 POST keeps the body but not the token', 'POST', 307, (b: LoopbackServer) => `${b.url}/upload`],
      ['303 POST becomes GET', 'POST', 303, (b: LoopbackServer) => `${b.url}/done`],
      [
        '308 to the same host by another name (localhost)',
        'POST',
        308,
        (_b: LoopbackServer, a: LoopbackServer) => `http://localhost:${a.port}/alias`,
      ],
    ])('%s: the token stays on the PDS', async (_n, method, code, location) => {
      const a = await server()
      const b = await server()
      const saved = on(a)
      a.handler = (req, res) => {
        if (req.path.startsWith('/xrpc/')) {
          res.writeHead(code, { location: location(b, a) })
          return res.end()
        }
        sendJson(res, 200, { at: 'a', auth: req.headers.authorization ?? null })
      }
      b.handler = (req, res) => sendJson(res, 200, { at: 'b', auth: req.headers.authorization ?? null })
      const agent = new PasswordAgent(saved)
      const res = await agent.fetch(
        '/xrpc/com.example.getBlob',
        method === 'POST' ? { method, body: '{"x":1}', headers: { 'content-type': 'application/json' } } : {},
      )
      tricksTried++
      expect(res.status).toBe(200)
      const answer = (await res.json()) as { auth: string | null }
      expect(answer.auth).toBeNull()
      expect(a.requests[0]!.headers.authorization).toBe(`Bearer ${saved.data.accessJwt}`)
      const elsewhere = [...b.requests, ...a.requests.slice(1)]
      expect(elsewhere.length).toBe(1)
      const leaked = elsewhere.filter(
        (r) => JSON.stringify(r).includes(saved.data.accessJwt) || JSON.stringify(r).includes(saved.data.refreshJwt),
      )
      leaksFound += leaked.length
      expect(leaked).toEqual([])
    })

    it('a chain PDS → other → PDS does not get the token back', async () => {
      const a = await server()
      const b = await server()
      const saved = on(a)
      a.handler = (req, res) => {
        if (req.path.startsWith('/xrpc/')) return res.writeHead(302, { location: `${b.url}/hop` }).end()
        sendJson(res, 200, { auth: req.headers.authorization ?? null })
      }
      b.handler = (_req, res) => res.writeHead(302, { location: `${a.url}/final` }).end()
      const res = await new PasswordAgent(saved).fetch('/xrpc/com.example.getBlob')
      tricksTried++
      expect(await res.json()).toEqual({ auth: null })
      expect(b.requests[0]!.headers.authorization).toBeUndefined()
    })

    it('session calls never follow redirects: refresh, logout and login tokens stay put', async () => {
      const a = await server()
      const b = await server()
      a.handler = (req, res) => res.writeHead(302, { location: `${b.url}${req.path}` }).end()
      b.handler = (_req, res) => sendJson(res, 200, sessionData())
      const saved = on(a)
      const { errors, hooks } = hooksLog()
      const agent = new PasswordAgent(saved, { hooks })
      await expect(agent.refresh()).rejects.toBeInstanceOf(Error)
      await expect(agent.logout()).rejects.toBeInstanceOf(Error)
      await expect(
        PasswordAgent.login({ service: a.url, identifier: 'alice.example', password: 'hunter2-redirected' }),
      ).rejects.toBeInstanceOf(Error)
      tricksTried += 3
      expect(b.requests).toEqual([])
      expect(agent.session).toBe(saved)
      expect(errors).toHaveLength(2)
      expect(a.requests.map(nsidOf)).toEqual([
        'com.atproto.server.refreshSession',
        'com.atproto.server.deleteSession',
        'com.atproto.server.createSession',
      ])
    })
  })

  describe('errors from refresh, logout and login carry no secret', () => {
    const faults: [string, (a: LoopbackServer) => void][] = [
      ['500', (a) => (a.handler = (_q, res) => sendJson(res, 500, xrpcError('InternalServerError')))],
      ['400 ExpiredToken', (a) => (a.handler = (_q, res) => sendJson(res, 400, xrpcError('ExpiredToken')))],
      [
        '401 with WWW-Authenticate',
        (a) =>
          (a.handler = (_q, res) =>
            sendJson(res, 401, xrpcError('InvalidToken'), { 'www-authenticate': 'Bearer error="invalid_token"' })),
      ],
      [
        'HTML 502',
        (a) =>
          (a.handler = (_q, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>bad gateway</h1>')),
      ],
      ['reset', (a) => (a.handler = (_q, res) => res.socket!.destroy())],
      [
        'reset mid-response',
        (a) =>
          (a.handler = (_q, res) => (
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': '99' }),
            res.write('{"a'),
            setTimeout(() => res.socket?.destroy(), 10)
          )),
      ],
      [
        'truncated JSON',
        (a) =>
          (a.handler = (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"accessJwt":"')),
      ],
      ['timeout', (a) => (a.handler = () => {})],
    ]

    it.each(faults)('%s', async (name, fault) => {
      const a = await server()
      fault(a)
      const password = 'pa55-word-never-echoed'
      const thrown: unknown[] = []
      for (const op of ['refresh', 'logout'] as const) {
        const { errors, hooks } = hooksLog()
        const agent = new PasswordAgent(on(a), { hooks, refreshTimeoutMs: 300 })
        const { accessJwt, refreshJwt } = agent.session.data
        const err = await agent[op]().then(
          () => undefined,
          (e: unknown) => e,
        )
        thrown.push(err)
        for (const value of [err, ...errors]) {
          const text = exposed(value)
          expect(text).not.toContain(accessJwt)
          expect(text).not.toContain(refreshJwt)
        }
      }
      // createSession has no timeout of its own (refreshTimeoutMs bounds refresh and logout only).
      if (name !== 'timeout') {
        const login = await PasswordAgent.login({ service: a.url, identifier: 'alice.example', password }).then(
          (r) => r,
          (e: unknown) => e,
        )
        expect(exposed(login)).not.toContain(password)
      }
      expect(thrown.some((e) => e instanceof Error)).toBe(true)
    })

    it('connection refused', async () => {
      const service = `http://127.0.0.1:${await closedPort()}`
      const data = sessionData()
      const agent = new PasswordAgent({ data, refreshedAt: new Date().toISOString(), pdsUrl: null, service })
      for (const err of [
        await agent.refresh().catch((e: unknown) => e),
        await agent.logout().catch((e: unknown) => e),
      ]) {
        expect(err).toBeInstanceOf(Error)
        expect(exposed(err)).not.toContain(data.accessJwt)
        expect(exposed(err)).not.toContain(data.refreshJwt)
      }
      const login = await PasswordAgent.login({
        service,
        identifier: 'alice.example',
        password: 'pa55-word-never-echoed',
      }).catch((e: unknown) => e)
      expect(exposed(login)).not.toContain('pa55-word-never-echoed')
    })
  })
})

// Keep lex-client's own call path honest too: a Client on the agent sends the token to the PDS only.
describe('through lex-client', () => {
  it('a Client call goes to the PDS with the token, nowhere else', async () => {
    const describeRepo = l.query(
      'com.atproto.repo.describeRepo',
      l.params({ repo: l.string() }),
      l.jsonPayload({ did: l.string() }),
    )
    const { fetch, calls } = recordingFetch(() => jsonResponse(200, { did: DID }))
    const saved = makeSession()
    const client = new Client(new PasswordAgent(saved, { fetch }))
    await client.call(describeRepo, { repo: DID })
    expect(calls.map((c) => [new URL(c.url).origin, c.headers.get('authorization')])).toEqual([
      [PDS, `Bearer ${saved.data.accessJwt}`],
    ])
    expect(leaksIn(calls, secretsOf(saved.data))).toEqual([])
  })
})
