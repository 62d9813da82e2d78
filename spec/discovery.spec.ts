import { afterEach, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import { DiscoveryError, discoverService } from '../lib/discovery.ts'
import { AccountTakedownError, AuthFactorTokenRequiredError, RateLimitedError } from '../lib/core/errors.ts'
import { PasswordAgent } from '../lib/password-agent.ts'
import { didDoc, sessionData, xrpcError } from './helpers/fixtures.ts'

const DID = 'did:plc:alice234567abcdefghijklm'
const PDS = 'https://pds.example'
const PLC = 'https://plc.directory'
const noDns = { resolveTxt: async () => null }
const doc = (pds = PDS, handle = 'alice.example.com') => ({ ...didDoc(pds, DID), alsoKnownAs: [`at://${handle}`] })

describe('discoverService', () => {
  it('handle → DID (well-known) → DID document (PLC) → PDS', async () => {
    const scope = nock('https://alice.example.com').get('/.well-known/atproto-did').reply(200, DID)
    const plc = nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc())
    expect(await discoverService('alice.example.com', noDns)).toEqual({ did: DID, service: PDS })
    scope.done()
    plc.done()
  })

  it('handle → DID through the DNS TXT record', async () => {
    const plc = nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc())
    const resolveTxt = async (host: string) => (host === '_atproto.alice.example.com' ? [`did=${DID}`] : null)
    expect(await discoverService('@Alice.Example.com', { resolveTxt })).toEqual({ did: DID, service: PDS })
    plc.done()
  })

  it('a DID directly, with a custom PLC directory', async () => {
    const plc = nock('https://plc.internal.example')
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc())
    expect(await discoverService(DID, { plcDirectoryUrl: 'https://plc.internal.example' })).toEqual({
      did: DID,
      service: PDS,
    })
    plc.done()
  })

  it('did:web', async () => {
    const did = 'did:web:alice.example.net'
    const web = nock('https://alice.example.net')
      .get('/.well-known/did.json')
      .reply(200, { ...didDoc(PDS, did), alsoKnownAs: [] })
    expect(await discoverService(did)).toEqual({ did, service: PDS })
    web.done()
  })

  it('refuses a document that does not claim the handle back', async () => {
    nock('https://alice.example.com').get('/.well-known/atproto-did').reply(200, DID)
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc(PDS, 'mallory.example.com'))
    await expect(discoverService('alice.example.com', noDns)).rejects.toThrow(
      new DiscoveryError(
        `the DID document of ${DID} does not claim the handle alice.example.com: check the handle, or log in with the DID or give "service"`,
      ),
    )
  })

  it('refuses a PDS endpoint that is not a bare http(s) origin', async () => {
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc('https://pds.example/some/path'))
    await expect(discoverService(DID)).rejects.toThrow(
      new DiscoveryError(
        `no usable PDS for ${DID}: the DID document gives no bare http(s) origin for #atproto_pds; give "service"`,
      ),
    )
  })

  it('an unresolvable handle is a DiscoveryError', async () => {
    nock('https://nobody.example.com').get('/.well-known/atproto-did').reply(404)
    await expect(discoverService('nobody.example.com', noDns)).rejects.toThrow(
      new DiscoveryError(
        'the handle nobody.example.com does not resolve to a DID (no DNS TXT _atproto.nobody.example.com, no https://nobody.example.com/.well-known/atproto-did): check the handle, or log in with the DID or give "service"',
      ),
    )
  })

  it('a DID document that cannot be had says why in one line, and keeps the error as cause', async () => {
    const unresolvable = (why: string) =>
      `could not resolve the DID document of ${DID}${why}: check the DID and the network, or give "service"`
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(404, 'nope')
    await expect(discoverService(DID)).rejects.toMatchObject({
      name: 'DiscoveryError',
      message: unresolvable(' (Not Found)'),
    })
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND plc.directory'), { code: 'ENOTFOUND' })
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .replyWithError(dns)
    await expect(discoverService(DID)).rejects.toMatchObject({
      name: 'DiscoveryError',
      message: unresolvable(' (getaddrinfo ENOTFOUND plc.directory)'),
    })
    // A document that fails the schema: the schema's report (a JSON dump) stays in `cause`.
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, { not: 'a document' })
    const err = await discoverService(DID).catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'DiscoveryError', message: unresolvable('') })
    expect((err as Error).cause).toBeInstanceOf(Error)
  })

  it('an email cannot be discovered: TypeError before any request', async () => {
    const seen: string[] = []
    const fetch = async (input: string | URL | Request) => (seen.push(String(input)), new Response(DID))
    const resolveTxt = async (host: string) => (seen.push(host), null)
    await expect(discoverService('alice@example.com', { fetch, resolveTxt })).rejects.toThrow(
      new TypeError(
        'discoverService: "identifier" must be a handle or a DID (to log in with an email, give "service")',
      ),
    )
    expect(seen).toEqual([])
  })

  it.each([
    'localhost',
    '127.0.0.1:8080',
    'internal.example/admin',
    'a b.example',
    'alice',
    'alice.example.com.',
    '10.0.0.1',
    'host.example?x',
    // A leading "@" goes before a handle only.
    '@',
    '@did:plc:alice234567abcdefghijklm',
    '@alice@example.com',
  ])('refuses %j, which is no handle, with a TypeError before any request or DNS lookup', async (identifier) => {
    const seen: string[] = []
    const fetch = async (input: string | URL | Request) => (seen.push(String(input)), new Response(DID))
    const resolveTxt = async (host: string) => (seen.push(host), null)
    await expect(discoverService(identifier, { fetch, resolveTxt })).rejects.toThrow(
      new TypeError('discoverService: "identifier" must be a handle (e.g. alice.bsky.social) or a DID'),
    )
    expect(seen).toEqual([])
  })

  it('checks its options with a TypeError naming the field, before any request (also through login)', async () => {
    const seen: string[] = []
    const fetch = async (input: string | URL | Request) => (seen.push(String(input)), new Response(DID))
    const url = 'must be an http(s) URL without credentials, query or fragment'
    // [options, discoverService's error, login's error for the same `discovery` option]
    const cases: [unknown, string, string][] = [
      ['x', 'discoverService: options must be an object', 'login: "discovery" must be an object'],
      [
        { plcDirectoryUrl: 'not a url' },
        `discoverService: "plcDirectoryUrl" ${url}`,
        `login: "discovery.plcDirectoryUrl" ${url}`,
      ],
      [
        { plcDirectoryUrl: 'https://user:pw@plc.example' },
        `discoverService: "plcDirectoryUrl" ${url}`,
        `login: "discovery.plcDirectoryUrl" ${url}`,
      ],
      [
        { resolveTxt: 'dns' },
        'discoverService: "resolveTxt" must be a function',
        'login: "discovery.resolveTxt" must be a function',
      ],
      // login passes its own `fetch` to the resolver: one in `discovery` would be ignored.
      [{ fetch: 'nope' }, 'discoverService: "fetch" must be a function', 'login: "discovery.fetch" is not an option'],
    ]
    for (const [discovery, error, loginError] of cases) {
      await expect(discoverService(DID, discovery as never)).rejects.toThrow(new TypeError(error))
      await expect(
        PasswordAgent.login({
          identifier: DID,
          password: 'pw',
          fetch,
          resolveService: discoverService,
          discovery: discovery as never,
        }),
      ).rejects.toThrow(new TypeError(loginError))
    }
    expect(seen).toEqual([])
  })

  it('compares the claimed handle case-insensitively, as handles are', async () => {
    nock('https://alice.example.com').get('/.well-known/atproto-did').reply(200, DID)
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc(PDS, 'Alice.Example.COM'))
    expect(await discoverService('alice.example.com', noDns)).toEqual({ did: DID, service: PDS })
  })
})

describe('discoverService bounds what it reads and how long it waits', () => {
  afterEach(() => {
    jest.useRealTimers()
  })

  /** A 200 whose body streams `total` bytes on demand, counting what was read. */
  const huge = (total: number, type = 'application/json') => {
    const read = { bytes: 0 }
    const chunk = new Uint8Array(64 * 1024).fill(0x20)
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (read.bytes >= total) return c.close()
        read.bytes += chunk.byteLength
        c.enqueue(chunk)
      },
    })
    return { read, res: new Response(body, { headers: { 'content-type': type } }) }
  }

  it('stops reading a huge DID document (or well-known answer) early', async () => {
    const docBody = huge(64 * 1024 * 1024)
    await expect(discoverService(DID, { fetch: async () => docBody.res })).rejects.toThrow(DiscoveryError)
    expect(docBody.read.bytes).toBeLessThanOrEqual(1024 * 1024)

    const wellKnown = huge(64 * 1024 * 1024, 'text/plain')
    await expect(discoverService('alice.example.com', { ...noDns, fetch: async () => wellKnown.res })).rejects.toThrow(
      DiscoveryError,
    )
    expect(wellKnown.read.bytes).toBeLessThanOrEqual(1024 * 1024)
  })

  it('gives up on a server that never answers', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask'] })
    const hanging = (input: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined)
        signal?.addEventListener('abort', () => reject(signal.reason))
      })
    const outcome = discoverService(DID, { fetch: hanging }).catch((e: unknown) => e)
    await jest.advanceTimersByTimeAsync(10_000)
    expect(await outcome).toMatchObject({
      name: 'DiscoveryError',
      message: `could not resolve the DID document of ${DID} (${PLC}/${encodeURIComponent(DID)} gave no answer within 10000 ms): check the DID and the network, or give "service"`,
    })
  })
})

describe('PasswordAgent.login without a service', () => {
  it('logs in at the PDS found from the handle by resolveService: discoverService', async () => {
    nock('https://alice.example.com').get('/.well-known/atproto-did').reply(200, DID)
    nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc())
    const login = nock(PDS)
      .post('/xrpc/com.atproto.server.createSession')
      .reply(200, sessionData({ did: DID }))
    const result = await PasswordAgent.login({
      identifier: 'alice.example.com',
      password: 'pw',
      resolveService: discoverService,
      discovery: noDns,
    })
    login.done()
    expect(result.success && result.value.session.service).toBe(PDS)
  })

  it('or at the service discoverService found beforehand', async () => {
    const plc = nock(PLC)
      .get(`/${encodeURIComponent(DID)}`)
      .reply(200, doc())
    const { service } = await discoverService(DID)
    plc.done()
    const login = nock(PDS)
      .post('/xrpc/com.atproto.server.createSession')
      .reply(200, sessionData({ did: DID }))
    const result = await PasswordAgent.login({ service, identifier: DID, password: 'pw' })
    login.done()
    expect(result.success && result.value.session.service).toBe(PDS)
  })

  it('hands a custom resolver the identifier, the discovery options and the fetch, and logs in where it says', async () => {
    const calls: unknown[] = []
    const fetch = jest.fn(async (input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init))
    const resolveService = async (identifier: string, options: object) => (
      calls.push([identifier, options]),
      { service: PDS }
    )
    const login = nock(PDS)
      .post('/xrpc/com.atproto.server.createSession')
      .reply(200, sessionData({ did: DID }))
    const result = await PasswordAgent.login({
      identifier: 'alice.example.com',
      password: 'pw',
      fetch,
      resolveService,
      discovery: { plcDirectoryUrl: PLC },
    })
    login.done()
    expect(calls).toEqual([['alice.example.com', { plcDirectoryUrl: PLC, fetch }]])
    expect(result.success && result.value.session.service).toBe(PDS)
  })

  it('without a resolver is a TypeError that says what to give, before any request', async () => {
    const fetch = jest.fn(async () => new Response(null, { status: 500 }))
    for (const identifier of ['alice.example.com', DID, 'alice@example.com']) {
      await expect(PasswordAgent.login({ identifier, password: 'pw', fetch, discovery: noDns })).rejects.toThrow(
        new TypeError(
          'login: "service" must be given, or "resolveService" (e.g. discoverService from "lex-password-agent/discovery")',
        ),
      )
    }
    await expect(
      PasswordAgent.login({ identifier: DID, password: 'pw', fetch, resolveService: 'plc' as never }),
    ).rejects.toThrow(new TypeError('login: "resolveService" must be a function'))
    expect(fetch).not.toHaveBeenCalled()
  })

  it('refuses what a resolver finds unless it is a service URL we may send the password to', async () => {
    const fetch = jest.fn(async () => new Response(null, { status: 500 }))
    for (const found of [
      undefined,
      'https://pds.example',
      { service: 'ftp://pds.example' },
      { service: 'https://u:p@pds.example' },
    ]) {
      await expect(
        PasswordAgent.login({ identifier: DID, password: 'pw', fetch, resolveService: async () => found as never }),
      ).rejects.toThrow(/^login: "resolveService\(…\)\.service" must/)
    }
    expect(fetch).not.toHaveBeenCalled()
  })
})

describe('PasswordAgent.login from a credentials URL', () => {
  it('percent-decodes identifier and password and logs in at the URL origin', async () => {
    const scope = nock('https://pds.example')
      .post('/xrpc/com.atproto.server.createSession', { identifier: 'alice@example.com', password: 'p@ss:w/rd' })
      .reply(200, sessionData())
    const result = await PasswordAgent.login('https://alice%40example.com:p%40ss%3Aw%2Frd@pds.example')
    scope.done()
    expect(result.success).toBe(true)
  })
})

describe('typed login refusals', () => {
  it.each([
    [401, 'AuthFactorTokenRequired', AuthFactorTokenRequiredError],
    [401, 'AccountTakedown', AccountTakedownError],
    [429, 'RateLimitExceeded', RateLimitedError],
  ])('%i %s is an instance of its class and still an XrpcResponseError result', async (status, error, Cls) => {
    const reset = Math.floor(Date.now() / 1000) + 300
    nock(PDS)
      .post('/xrpc/com.atproto.server.createSession')
      .reply(status, xrpcError(error), { 'ratelimit-reset': String(reset) })
    const result = await PasswordAgent.login({ service: PDS, identifier: 'a', password: 'b' })
    expect(result.success).toBe(false)
    expect(result).toBeInstanceOf(Cls)
    if (result.success) return
    expect(result.error).toBe(error)
    if (result instanceof RateLimitedError) expect(result.resetAt?.getTime()).toBe(reset * 1000)
  })
})

describe('PasswordAgent.createAccount', () => {
  it('creates the account and returns an agent for its session', async () => {
    const scope = nock(PDS)
      .post('/xrpc/com.atproto.server.createAccount', {
        handle: 'alice.example',
        email: 'a@example.com',
        password: 'pw',
      })
      .reply(200, {
        accessJwt: sessionData().accessJwt,
        refreshJwt: sessionData().refreshJwt,
        handle: 'alice.example',
        did: DID,
      })
    const result = await PasswordAgent.createAccount(
      { handle: 'alice.example', email: 'a@example.com', password: 'pw' },
      { service: PDS },
    )
    scope.done()
    expect(result.success && result.value.did).toBe(DID)
  })

  it('passes a signed PLC operation (plcOp, a lexicon field) on as given', async () => {
    const plcOp = { type: 'plc_operation', sig: 'c2ln' }
    const scope = nock(PDS)
      .post('/xrpc/com.atproto.server.createAccount', { handle: 'alice.example', did: DID, plcOp })
      .reply(200, { ...sessionData(), handle: 'alice.example', did: DID })
    const result = await PasswordAgent.createAccount({ handle: 'alice.example', did: DID, plcOp }, { service: PDS })
    scope.done()
    expect(result.success).toBe(true)
    await expect(PasswordAgent.createAccount({ handle: 'a.example', plcOp: 'x' }, { service: PDS })).rejects.toThrow(
      /"input\.plcOp" must be an object/,
    )
  })

  it('returns HandleNotAvailable as a result', async () => {
    nock(PDS)
      .post('/xrpc/com.atproto.server.createAccount')
      .reply(400, xrpcError('HandleNotAvailable', 'Handle already taken'))
    const result = await PasswordAgent.createAccount({ handle: 'alice.example', password: 'pw' }, { service: PDS })
    expect(result.success === false && result.error).toBe('HandleNotAvailable')
  })

  it('validates its input before any request', async () => {
    await expect(PasswordAgent.createAccount({ handle: '' }, { service: PDS })).rejects.toThrow(
      new TypeError('createAccount: "input.handle" must be a non-empty string'),
    )
    await expect(PasswordAgent.createAccount({ handle: 'a.example' }, { service: 'ftp://x' })).rejects.toThrow(
      /"service"/,
    )
  })
})

describe('await using', () => {
  it('logs out when the agent goes out of scope', async () => {
    nock(PDS).post('/xrpc/com.atproto.server.createSession').reply(200, sessionData())
    const logout = nock(PDS).post('/xrpc/com.atproto.server.deleteSession').reply(200)
    let ref: PasswordAgent | undefined
    {
      const result = await PasswordAgent.login({ service: PDS, identifier: 'a', password: 'b' })
      if (!result.success) throw result
      await using agent = result.value
      ref = agent
    }
    logout.done()
    expect(ref?.destroyed).toBe(true)
  })
})

describe('discovery is reached only by code that imports it', () => {
  it('the main entry (and everything it imports) has no static or dynamic import of lib/discovery.ts', async () => {
    const { build } = await import('esbuild')
    const root = new URL('..', import.meta.url).pathname
    const result = await build({
      entryPoints: [`${root}lib/index.ts`],
      absWorkingDir: root,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.filter((path) => /discovery|@atproto-labs|zod/.test(path))).toEqual([])
    expect(inputs).toContain('lib/password-agent.ts')
    expect(result.outputFiles[0]!.text).not.toMatch(/node:dns/)
  })
})
