import { describe, expect, it, jest } from '@jest/globals'
import { Client, XrpcResponseError } from '@atproto/lex-client'
import { l } from '@atproto/lex-schema'
import nock from 'nock'
import { createFetch } from 'ofetch'
import { LoggedOutError, PasswordAgent, type Session, type SessionHooks } from '../lib/index.ts'
import {
  DID,
  JSON_HEADERS,
  PDS,
  SERVICE,
  didDoc,
  fakeJwt,
  sessionData,
  session as makeSession,
  xrpcError,
} from './helpers/fixtures.ts'

const describeRepo = l.query(
  'com.atproto.repo.describeRepo',
  l.params({ repo: l.string() }),
  l.jsonPayload({ handle: l.string(), did: l.string() }),
)
const createRecord = l.procedure(
  'com.atproto.repo.createRecord',
  l.params(),
  l.jsonPayload({ repo: l.string(), collection: l.string(), record: l.lexMap() }),
  l.jsonPayload({ uri: l.string(), cid: l.string() }),
)

const bearer = (token: string) => ({ reqheaders: { authorization: `Bearer ${token}` } })

async function login(hooks?: SessionHooks<PasswordAgent>, data = sessionData()) {
  nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, data)
  const res = await PasswordAgent.login({ service: SERVICE, identifier: 'alice.example', password: 'hunter2', hooks })
  if (!res.success) throw new Error(`login failed: ${res.error}`)
  return res.value
}

describe('PasswordAgent.login', () => {
  it('creates a session and announces it through onRefreshed with this = agent', async () => {
    const data = sessionData()
    const onRefreshed = jest.fn(function (this: PasswordAgent, _session: Session) {})
    const scope = nock(SERVICE)
      .post('/xrpc/com.atproto.server.createSession', { identifier: 'alice.example', password: 'hunter2' })
      .reply(200, data)
    const result = await PasswordAgent.login({
      service: SERVICE,
      identifier: 'alice.example',
      password: 'hunter2',
      hooks: { onRefreshed },
    })
    scope.done()
    expect(result.success).toBe(true)
    if (!result.success) return
    const agent = result.value
    expect(agent.did).toBe(DID)
    expect(agent.destroyed).toBe(false)
    expect(onRefreshed.mock.contexts[0]).toBe(agent)
    const session = onRefreshed.mock.calls[0]![0]
    expect(session).toEqual({ data, refreshedAt: expect.any(String), pdsUrl: PDS, service: SERVICE })
    expect(new Date(session.refreshedAt).toISOString()).toBe(session.refreshedAt)
    expect(agent.session).toBe(session)
  })

  it.each([
    [401, 'AuthenticationRequired', 'Invalid identifier or password'],
    [401, 'AuthFactorTokenRequired', 'A sign in code has been sent to your email address'],
    [401, 'AccountTakedown', 'Account has been taken down'],
    [429, 'RateLimitExceeded', 'Rate Limit Exceeded'],
  ])('returns a %i %s answer as an XrpcResponseError result', async (status, error, message) => {
    const scope = nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(status, xrpcError(error, message))
    const result = await PasswordAgent.login({ service: SERVICE, identifier: 'alice.example', password: 'wrong' })
    scope.done()
    expect(result.success).toBe(false)
    if (result.success) return
    expect(result).toBeInstanceOf(XrpcResponseError)
    expect(result.error).toBe(error)
    expect(result.message).toBe(message)
    expect(String(result.message)).not.toContain('wrong')
  })

  it('sends the 2FA code as authFactorToken', async () => {
    const scope = nock(SERVICE)
      .post('/xrpc/com.atproto.server.createSession', {
        identifier: 'alice.example',
        password: 'pw',
        authFactorToken: '123456',
      })
      .reply(200, sessionData())
    const result = await PasswordAgent.login({
      service: SERVICE,
      identifier: 'alice.example',
      password: 'pw',
      authFactorToken: '123456',
    })
    scope.done()
    expect(result.success).toBe(true)
  })

  it('throws on unexpected failures: network error, 5xx, invalid answer', async () => {
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').replyWithError('connect ECONNREFUSED')
    await expect(PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b' })).rejects.toMatchObject({
      name: 'ServiceUnreachableError',
      message: `createSession at ${SERVICE} for a failed (connect ECONNREFUSED): check the service URL and the network`,
    })
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(502, xrpcError('UpstreamFailure'))
    await expect(PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b' })).rejects.toMatchObject({
      name: 'XrpcResponseError',
      error: 'UpstreamFailure',
    })
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, { accessJwt: 'x' })
    await expect(PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b' })).rejects.toMatchObject({
      name: 'InvalidSessionResponseError',
      status: 200,
      message: `createSession at ${SERVICE} for a got HTTP 200 (application/json), not a session answer: check the service URL`,
    })
    expect(nock.isDone()).toBe(true)
  })

  it('uses the fetch option for every call', async () => {
    const data = sessionData()
    const seen: string[] = []
    const fetch = async (input: string | URL | Request) => {
      const url = String(input instanceof Request ? input.url : input)
      seen.push(url)
      if (url.endsWith('createSession')) return Response.json(data)
      return Response.json({ handle: 'alice.example', did: DID })
    }
    const result = await PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b', fetch })
    if (!result.success) throw result
    await new Client(result.value).xrpc(describeRepo, { params: { repo: DID } })
    expect(seen).toEqual([
      `${SERVICE}/xrpc/com.atproto.server.createSession`,
      `${PDS}/xrpc/com.atproto.repo.describeRepo?repo=${encodeURIComponent(DID)}`,
    ])
  })
})

describe('a handle written with a leading "@"', () => {
  const CREATE = '/xrpc/com.atproto.server.createSession'

  it('is sent without it, in the object form, the URL form and resumeOrLogin', async () => {
    const { MemorySessionStore } = await import('../lib/index.ts')
    const logins = [
      () => PasswordAgent.login({ service: SERVICE, identifier: '@alice.example', password: 'pw' }),
      () => PasswordAgent.login(`https://${encodeURIComponent('@alice.example')}:pw@entryway.example`),
      () =>
        PasswordAgent.resumeOrLogin({
          service: SERVICE,
          identifier: '@alice.example',
          password: 'pw',
          store: new MemorySessionStore(),
        }),
    ]
    for (const login of logins) {
      const scope = nock(SERVICE)
        .post(CREATE, { identifier: 'alice.example', password: 'pw' })
        .reply(200, sessionData())
      expect(await login()).toMatchObject({ success: true })
      scope.done()
    }
  })

  it('reaches resolveService without it', async () => {
    const resolveService = jest.fn(async (_identifier: string, _options: unknown) => ({ service: SERVICE }))
    const scope = nock(SERVICE).post(CREATE, { identifier: 'alice.example', password: 'pw' }).reply(200, sessionData())
    await PasswordAgent.login({ identifier: '@alice.example', password: 'pw', resolveService })
    scope.done()
    expect(resolveService).toHaveBeenCalledWith('alice.example', { fetch: expect.any(Function) })
  })

  it('is removed from the handle of createAccount', async () => {
    const data = sessionData()
    const scope = nock(SERVICE)
      .post('/xrpc/com.atproto.server.createAccount', { handle: 'alice.example', password: 'pw' })
      .reply(200, { accessJwt: data.accessJwt, refreshJwt: data.refreshJwt, handle: 'alice.example', did: DID })
    const result = await PasswordAgent.createAccount({ handle: '@alice.example', password: 'pw' }, { service: SERVICE })
    scope.done()
    expect(result.success).toBe(true)
  })

  // No handle holds "@" or ":": what follows the "@" is no handle, so the
  // identifier goes as typed and the server answers for it.
  it.each(['@', '@did:plc:alice234567abcdefghijklm', '@alice@example.com'])(
    '%j is sent as it is',
    async (identifier) => {
      const scope = nock(SERVICE)
        .post(CREATE, { identifier, password: 'pw' })
        .reply(401, xrpcError('AuthenticationRequired', 'Invalid identifier or password'))
      const result = await PasswordAgent.login({ service: SERVICE, identifier, password: 'pw' })
      scope.done()
      expect(result).toMatchObject({ success: false, error: 'AuthenticationRequired' })
    },
  )
})

describe('PasswordAgent as a lex-client Agent', () => {
  it('routes Client calls to the PDS on another origin than the entryway, with the access token', async () => {
    const agent = await login()
    const token = agent.session.data.accessJwt
    const scope = nock(PDS, bearer(token))
      .get('/xrpc/com.atproto.repo.describeRepo')
      .query({ repo: DID })
      .reply(200, { handle: 'alice.example', did: DID })
      .post('/xrpc/com.atproto.repo.createRecord', (b) => b.collection === 'com.example.thing')
      .reply(200, {
        uri: `at://${DID}/com.example.thing/1`,
        cid: 'bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5qy6sjyv3r2f4a4',
      })
    const client = new Client(agent)
    expect(client.did).toBe(DID)
    const repo = await client.call(describeRepo, { repo: DID })
    expect(repo.handle).toBe('alice.example')
    const created = await client.xrpc(createRecord, {
      body: { repo: DID, collection: 'com.example.thing', record: { $type: 'com.example.thing', text: 'hi' } },
    })
    expect(created.body.uri).toContain('com.example.thing')
    scope.done()
  })

  it('refreshes transparently on ExpiredToken and replays the call', async () => {
    const onRefreshed = jest.fn()
    const agent = await login({ onRefreshed })
    const old = agent.session
    const next = sessionData()
    const scope = nock(PDS)
      .get('/xrpc/com.atproto.repo.describeRepo')
      .query(true)
      .matchHeader('authorization', `Bearer ${old.data.accessJwt}`)
      .reply(400, xrpcError('ExpiredToken', 'Token has expired'), JSON_HEADERS)
      .get('/xrpc/com.atproto.repo.describeRepo')
      .query(true)
      .matchHeader('authorization', `Bearer ${next.accessJwt}`)
      .reply(200, { handle: 'alice.example', did: DID })
    const refresh = nock(SERVICE, bearer(old.data.refreshJwt))
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, next)
    const repo = await new Client(agent).call(describeRepo, { repo: DID })
    expect(repo.did).toBe(DID)
    scope.done()
    refresh.done()
    expect(onRefreshed).toHaveBeenCalledTimes(2) // login + refresh
    expect(agent.session.data).toEqual(next)
  })

  it('makes exactly one refreshSession call for 50 concurrent requests at expiry', async () => {
    const agent = await login()
    const old = agent.session.data
    const next = sessionData()
    let refreshes = 0
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .times(50)
      .reply(() => {
        refreshes++
        return [200, next]
      })
    const pds = nock(PDS)
      .get('/xrpc/com.atproto.repo.describeRepo')
      .query(true)
      .times(50)
      .matchHeader('authorization', `Bearer ${old.accessJwt}`)
      .reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
      .get('/xrpc/com.atproto.repo.describeRepo')
      .query(true)
      .times(50)
      .matchHeader('authorization', `Bearer ${next.accessJwt}`)
      .reply(200, { handle: 'alice.example', did: DID })
    const client = new Client(agent)
    const results = await Promise.all(Array.from({ length: 50 }, () => client.call(describeRepo, { repo: DID })))
    expect(results).toHaveLength(50)
    expect(refreshes).toBe(1)
    pds.done()
  })

  it('holds requests while onRefreshed runs', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let entered!: () => void
    const hookEntered = new Promise<void>((r) => (entered = r))
    let inHook = false
    const agent = await login()
    const next = sessionData()
    // Re-wire hooks through a fresh agent on the same session, with a slow onRefreshed.
    const slow = new PasswordAgent(agent.session, {
      hooks: {
        async onRefreshed() {
          inHook = true
          entered()
          await gate
          inHook = false
        },
      },
    })
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, next)
    const order: string[] = []
    const pds = nock(PDS)
      .get('/x')
      .reply(200, () => {
        order.push(inHook ? 'request during hook' : 'request after hook')
        return 'ok'
      })
    const refreshing = slow.refresh()
    await hookEntered
    const request = slow.fetch(`${PDS}/x`)
    await new Promise((r) => setTimeout(r, 50)) // time enough for a request that would not wait to go out
    expect(inHook).toBe(true)
    expect(order).toEqual([])
    release()
    await refreshing
    expect((await request).status).toBe(200)
    expect(order).toEqual(['request after hook'])
    pds.done()
  })
})

describe('refresh outcomes', () => {
  it.each([
    [400, 'ExpiredToken'],
    [400, 'InvalidToken'],
    [401, 'AccountTakedown'],
  ])('a definitive %i %s deletes the session: onDeleted, destroyed, "Logged out"', async (status, error) => {
    const onDeleted = jest.fn()
    const onRefreshFailure = jest.fn()
    const agent = await login({ onDeleted, onRefreshFailure })
    const session = agent.session
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(status, xrpcError(error))
    await expect(agent.refresh()).rejects.toMatchObject({ error })
    expect(onDeleted).toHaveBeenCalledWith(session)
    expect(onRefreshFailure).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(true)
    await expect(agent.fetch('/xrpc/a.b.c')).rejects.toThrow('Logged out')
    expect(() => agent.session).toThrow(LoggedOutError)
  })

  it.each([
    ['503', (s: nock.Interceptor) => s.reply(503, xrpcError('ServiceUnavailable'))],
    ['500 with an ExpiredToken body', (s: nock.Interceptor) => s.reply(500, xrpcError('ExpiredToken'))],
    ['network error', (s: nock.Interceptor) => s.replyWithError('socket hang up')],
    ['HTML page', (s: nock.Interceptor) => s.reply(502, '<html>bad gateway</html>', { 'content-type': 'text/html' })],
  ])('a transient %s keeps the session and calls onRefreshFailure', async (_name, reply) => {
    const onDeleted = jest.fn()
    let failure: [Session, Error] | undefined
    const agent = await login({
      onDeleted,
      onRefreshFailure(session, error) {
        failure = [session, error]
      },
    })
    const session = agent.session
    reply(nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession'))
    await expect(agent.refresh()).rejects.toBeInstanceOf(Error)
    expect(failure?.[0]).toBe(session)
    expect(failure?.[1]).toBeInstanceOf(Error)
    expect(onDeleted).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(false)
    expect(agent.session).toBe(session)
  })

  it('treats a refresh answer for another DID as definitive', async () => {
    const onDeleted = jest.fn()
    const agent = await login({ onDeleted })
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, sessionData({ did: 'did:plc:mallory' }))
    await expect(agent.refresh()).rejects.toMatchObject({
      name: 'SessionMismatchError',
      message: `refreshSession at ${SERVICE} answered for did:plc:mallory, not ${DID}: log in again with the password`,
    })
    expect(onDeleted).toHaveBeenCalledTimes(1)
    expect(agent.destroyed).toBe(true)
  })

  it('backfills didDoc and email with getSession when refreshSession omits them', async () => {
    const agent = await login()
    const { didDoc: _d, email: _e, emailConfirmed: _c, ...bare } = sessionData()
    const moved = didDoc('https://pds2.example')
    const scope = nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, bare)
      .get('/xrpc/com.atproto.server.getSession')
      .matchHeader('authorization', `Bearer ${bare.accessJwt}`)
      .reply(200, {
        did: DID,
        handle: 'alice.example',
        email: 'alice@example.com',
        emailConfirmed: true,
        didDoc: moved,
      })
    const next = await agent.refresh()
    scope.done()
    expect(next.data.didDoc).toEqual(moved)
    expect(next.data.email).toBe('alice@example.com')
    expect(next.data.accessJwt).toBe(bare.accessJwt)
    expect(next.pdsUrl).toBe('https://pds2.example')
  })

  it('bounds a whole refresh, refreshSession and the getSession backfill, by one refreshTimeoutMs deadline', async () => {
    // Two deadlines would let a refresh take twice refreshTimeoutMs.
    const deadline = new AbortController()
    const timeout = jest.spyOn(AbortSignal, 'timeout').mockReturnValue(deadline.signal)
    try {
      const { didDoc: _d, ...bare } = sessionData()
      let backfillStarted!: () => void
      const backfill = new Promise<void>((resolve) => (backfillStarted = resolve))
      const agent = new PasswordAgent(makeSession(), {
        refreshTimeoutMs: 5_000,
        fetch: (input, init) => {
          if (String(input).includes('refreshSession')) return Promise.resolve(Response.json(bare))
          backfillStarted()
          return new Promise((_resolve, reject) =>
            init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)),
          )
        },
      })
      const pending = agent.refresh()
      await backfill
      deadline.abort(new DOMException('timed out', 'TimeoutError'))
      const next = await pending // the refresh stands; only the backfill is given up
      expect(next.data.accessJwt).toBe(bare.accessJwt)
      expect(timeout.mock.calls).toEqual([[5_000]])
    } finally {
      timeout.mockRestore()
    }
  })

  it('keeps the previous PDS when neither refreshSession nor getSession has a DID document', async () => {
    const agent = await login()
    const { didDoc: _d, ...bare } = sessionData({ emailConfirmed: undefined })
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, bare)
      .get('/xrpc/com.atproto.server.getSession')
      .reply(200, { did: DID, handle: 'alice.example' })
    expect((await agent.refresh()).pdsUrl).toBe(PDS)
  })

  it('spends no getSession on a server that never sends a DID document (the reference PDS default)', async () => {
    const { didDoc: _d, ...noDoc } = sessionData()
    const agent = await login(undefined, noDoc)
    expect(agent.session.pdsUrl).toBeNull()
    const { didDoc: _e, ...next } = sessionData()
    let getSessions = 0
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, next)
      .get('/xrpc/com.atproto.server.getSession')
      .optionally()
      .reply(() => {
        getSessions++
        return [200, {}]
      })
    await agent.refresh()
    expect(getSessions).toBe(0)
    nock.cleanAll()
  })

  it('serialises refresh and logout: logout uses the refreshed token', async () => {
    const agent = await login()
    const next = sessionData()
    const scope = nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .delay(30)
      .reply(200, next)
      .post('/xrpc/com.atproto.server.deleteSession')
      .matchHeader('authorization', `Bearer ${next.refreshJwt}`)
      .reply(200)
    const [refreshed] = await Promise.all([agent.refresh(), agent.logout()])
    expect(refreshed.data).toEqual(next)
    scope.done()
    expect(agent.destroyed).toBe(true)
  })
})

describe('PasswordAgent.resume', () => {
  it('refreshes before returning and announces the new session', async () => {
    const saved = makeSession()
    const next = sessionData()
    const onRefreshed = jest.fn()
    const scope = nock(SERVICE, bearer(saved.data.refreshJwt))
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(200, next)
    const agent = await PasswordAgent.resume(saved, { hooks: { onRefreshed } })
    scope.done()
    expect(agent.did).toBe(DID)
    expect(agent.session.data).toEqual(next)
    expect(onRefreshed).toHaveBeenCalledTimes(1)
  })

  it('throws after onDeleted when the saved session is dead', async () => {
    const onDeleted = jest.fn()
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(400, xrpcError('ExpiredToken', 'Token has been revoked'))
    await expect(PasswordAgent.resume(makeSession(), { hooks: { onDeleted } })).rejects.toMatchObject({
      error: 'ExpiredToken',
    })
    expect(onDeleted).toHaveBeenCalledTimes(1)
  })

  it('returns the agent with the saved tokens when the entryway is down', async () => {
    const saved = makeSession()
    const onRefreshFailure = jest.fn()
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(503, xrpcError('ServiceUnavailable'))
    const agent = await PasswordAgent.resume(saved, { hooks: { onRefreshFailure } })
    expect(agent.session).toBe(saved)
    expect(onRefreshFailure).toHaveBeenCalledTimes(1)
  })
})

describe('logout and delete', () => {
  it('deletes the server session with the refresh token, then every request says "Logged out"', async () => {
    const onDeleted = jest.fn()
    const agent = await login({ onDeleted })
    const session = agent.session
    const scope = nock(SERVICE, bearer(session.data.refreshJwt))
      .post('/xrpc/com.atproto.server.deleteSession')
      .reply(200)
    await agent.logout()
    scope.done()
    expect(onDeleted).toHaveBeenCalledWith(session)
    expect(agent.destroyed).toBe(true)
    await expect(new Client(agent).call(describeRepo, { repo: DID })).rejects.toThrow('Logged out')
    await expect(agent.fetch(`${PDS}/x`)).rejects.toThrow('Logged out')
    await expect(agent.refresh()).rejects.toThrow('Logged out')
    await agent.logout() // idempotent: no request (none is mocked), no second onDeleted
    expect(onDeleted).toHaveBeenCalledTimes(1)
  })

  it('keeps the session and rejects on a transient failure, calling onDeleteFailure', async () => {
    const onDeleted = jest.fn()
    const onDeleteFailure = jest.fn()
    const agent = await login({ onDeleted, onDeleteFailure })
    nock(SERVICE).post('/xrpc/com.atproto.server.deleteSession').reply(503, xrpcError('ServiceUnavailable'))
    await expect(agent.logout()).rejects.toBeInstanceOf(XrpcResponseError)
    expect(onDeleteFailure).toHaveBeenCalledTimes(1)
    expect(onDeleted).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(false)
  })

  it('PasswordAgent.delete revokes a saved session without resuming it', async () => {
    const saved = makeSession()
    const scope = nock(SERVICE, bearer(saved.data.refreshJwt)).post('/xrpc/com.atproto.server.deleteSession').reply(200)
    await PasswordAgent.delete(saved)
    scope.done()
  })
})

describe('agent.fetch', () => {
  it('works as the fetch of ofetch, relative paths going to the PDS', async () => {
    const agent = await login()
    const scope = nock(PDS, bearer(agent.session.data.accessJwt))
      .get('/xrpc/com.atproto.repo.describeRepo')
      .query({ repo: DID })
      .reply(200, { handle: 'alice.example', did: DID })
    const $fetch = createFetch({ fetch: agent.fetch })
    const repo = await $fetch<{ did: string }>('/xrpc/com.atproto.repo.describeRepo', { query: { repo: DID } })
    expect(repo.did).toBe(DID)
    scope.done()
  })

  it('is bound and the same function every time, detached from the agent', async () => {
    const agent = await login()
    const { fetch } = agent
    expect(agent.fetch).toBe(fetch)
    const scope = nock(PDS, bearer(agent.session.data.accessJwt)).get('/xrpc/_health').reply(200, 'ok')
    expect(await (await fetch.call(undefined, '/xrpc/_health')).text()).toBe('ok')
    scope.done()
  })

  it('fetches other origins without credentials', async () => {
    const agent = await login()
    const scope = nock('https://elsewhere.example', { badheaders: ['authorization'] })
      .get('/x')
      .reply(200, 'ok')
    expect(await (await agent.fetch('https://elsewhere.example/x')).text()).toBe('ok')
    scope.done()
  })

  it('keeps no secrets in JSON.stringify or util.inspect', async () => {
    const { inspect } = await import('node:util')
    const agent = await login()
    const { accessJwt, refreshJwt } = agent.session.data
    for (const text of [JSON.stringify(agent), inspect(agent, { depth: 10, showHidden: true })]) {
      expect(text).toContain(DID)
      expect(text).not.toContain(accessJwt)
      expect(text).not.toContain(refreshJwt)
    }
  })
})

describe('faults do not poison the agent', () => {
  it('reports a throwing hook through onHookError and keeps the session consistent', async () => {
    const reported: [unknown, string][] = []
    const agent = await login({
      onRefreshed() {
        throw new Error('disk full')
      },
      onHookError(error, hook) {
        reported.push([error, hook])
      },
    })
    const next = sessionData()
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, next)
    const refreshed = await agent.refresh()
    expect(refreshed.data).toEqual(next)
    expect(agent.session).toBe(refreshed)
    expect(reported.map(([e, h]) => [(e as Error).message, h])).toEqual([
      ['disk full', 'onRefreshed'],
      ['disk full', 'onRefreshed'],
    ])
    nock(PDS).get('/x').reply(200, 'still works')
    expect(await (await agent.fetch(`${PDS}/x`)).text()).toBe('still works')
  })

  it('falls back to console.error for a rejecting hook', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const agent = await login({ onRefreshed: async () => Promise.reject(new Error('nope')) })
      expect(agent.destroyed).toBe(false)
      expect(spy).toHaveBeenCalledWith('lex-password-agent: the onRefreshed hook failed', expect.any(Error))
    } finally {
      spy.mockRestore()
    }
  })

  it('backs off after a transient refresh failure: requests do not storm the entryway', async () => {
    const onRefreshFailure = jest.fn()
    const agent = await login({ onRefreshFailure })
    let refreshCalls = 0
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .times(10)
      .reply(() => {
        refreshCalls++
        return [503, xrpcError('ServiceUnavailable')]
      })
    const pds = nock(PDS).get('/x').times(5).reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
    for (let i = 0; i < 5; i++) {
      const res = await agent.fetch(`${PDS}/x`)
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual(xrpcError('ExpiredToken'))
    }
    pds.done()
    expect(refreshCalls).toBe(1)
    expect(onRefreshFailure).toHaveBeenCalledTimes(1)
    expect(agent.destroyed).toBe(false)
    // An explicit refresh always tries.
    await expect(agent.refresh()).rejects.toBeInstanceOf(XrpcResponseError)
    expect(refreshCalls).toBe(2)
    nock.cleanAll()
  })

  it('times out a hanging refresh, releases waiting requests with their first answer, keeps the session', async () => {
    const onRefreshFailure = jest.fn()
    const data = sessionData()
    // The entryway accepts refreshSession and never answers (until the signal aborts).
    const hanging = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
      String(input).endsWith('refreshSession')
        ? new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal!.reason)))
        : globalThis.fetch(input, init)
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, data)
    const result = await PasswordAgent.login({
      service: SERVICE,
      identifier: 'a',
      password: 'b',
      refreshTimeoutMs: 200,
      fetch: hanging,
      hooks: { onRefreshFailure },
    })
    if (!result.success) throw result
    const agent = result.value
    nock(PDS).get('/x').times(3).reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
    const started = Date.now()
    const answers = await Promise.all([1, 2, 3].map(() => agent.fetch(`${PDS}/x`)))
    expect(answers.map((r) => r.status)).toEqual([400, 400, 400])
    expect(Date.now() - started).toBeLessThan(4_000)
    expect(onRefreshFailure).toHaveBeenCalledTimes(1)
    expect(onRefreshFailure.mock.calls[0]![1]).toMatchObject({ name: 'SessionTimeoutError' })
    expect(agent.session.data).toEqual(data)
  })

  it('lets an aborted request stop waiting without aborting the shared refresh', async () => {
    const agent = await login()
    const old = agent.session.data
    const next = sessionData()
    let started!: () => void
    const refreshStarted = new Promise<void>((r) => (started = r))
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const refresh = nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(async () => {
        started()
        await gate
        return [200, next]
      })
    const pds = nock(PDS)
      .get('/x')
      .matchHeader('authorization', `Bearer ${old.accessJwt}`)
      .reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
      .get('/x')
      .matchHeader('authorization', `Bearer ${next.accessJwt}`)
      .reply(200, 'ok')
    const ctrl = new AbortController()
    const aborted = agent.fetch(`${PDS}/x`, { signal: ctrl.signal })
    await refreshStarted // its ExpiredToken started the refresh it now waits for
    const patient = agent.fetch(`${PDS}/x`) // waits for the same refresh
    ctrl.abort()
    const first = await aborted // while the refresh is still held
    expect(first.status).toBe(400)
    release()
    expect(await (await patient).text()).toBe('ok')
    expect(agent.session.data).toEqual(next)
    refresh.done()
    pds.done()
  })
})

describe('hooks that call back, invalid answers, clock skew and backoff', () => {
  it('a failure hook may call refresh() or logout() again without hanging the agent', async () => {
    let again: Promise<unknown> | undefined
    const agent = await login({
      onRefreshFailure() {
        again ??= this.refresh().catch((e: unknown) => e) // once: each failure runs this hook again
      },
      onDeleteFailure() {
        again = this.logout().catch((e: unknown) => e)
      },
    })
    const refreshes = nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .times(2)
      .reply(503, xrpcError('ServiceUnavailable'))
    const failed = await agent.refresh().catch((e: unknown) => e)
    expect(failed).toBeInstanceOf(XrpcResponseError)
    expect(again).toBeInstanceOf(Promise) // the hook ran
    const second = await again // and its refresh was a new one (the first was over), which settled
    expect(second).toBeInstanceOf(XrpcResponseError)
    expect(second).not.toBe(failed)
    refreshes.done()
    const logouts = nock(SERVICE)
      .post('/xrpc/com.atproto.server.deleteSession')
      .reply(503, xrpcError('ServiceUnavailable'))
      .post('/xrpc/com.atproto.server.deleteSession')
      .reply(200)
    again = undefined
    await expect(agent.logout()).rejects.toBeInstanceOf(XrpcResponseError)
    expect(again).toBeInstanceOf(Promise)
    expect(await again).toBeUndefined() // the hook's own logout went through
    logouts.done()
    expect(agent.destroyed).toBe(true)
  })

  it('a failure or deletion hook that awaits refresh() does not wait for itself (no hook timeout)', async () => {
    const reported: unknown[] = []
    let calls = 0
    let deletedSaw: unknown
    const hooks: SessionHooks<PasswordAgent> = {
      async onRefreshFailure() {
        if (calls++ === 0) await this.refresh().catch(() => {})
      },
      async onDeleted() {
        deletedSaw = await this.refresh().catch((e: unknown) => e)
      },
      onHookError: (err) => void reported.push(err),
    }
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, sessionData())
    const res = await PasswordAgent.login({
      service: SERVICE,
      identifier: 'a',
      password: 'b',
      hooks,
      refreshTimeoutMs: 2_000,
    })
    if (!res.success) throw res
    const agent = res.value
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').times(2).reply(503, xrpcError('ServiceUnavailable'))
    const start = Date.now()
    await expect(agent.refresh()).rejects.toBeInstanceOf(XrpcResponseError)
    expect(calls).toBe(2) // the hook's own refresh ran (and failed) too
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(400, xrpcError('ExpiredToken'))
    await expect(agent.refresh()).rejects.toBeInstanceOf(XrpcResponseError)
    expect(agent.destroyed).toBe(true)
    expect(deletedSaw).toBeInstanceOf(LoggedOutError)
    expect(reported).toEqual([]) // neither hook was cut short by the 2 s hook timeout
    expect(Date.now() - start).toBeLessThan(2_000)
  })

  it('a 200 refresh answer that is not a valid session is transient and never carries the tokens', async () => {
    const { inspect } = await import('node:util')
    const onRefreshFailure = jest.fn()
    const agent = await login({ onRefreshFailure })
    const bad = sessionData({ handle: 'not a handle!' })
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, bad)
    const err = await agent.refresh().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'InvalidSessionResponseError', status: 200 })
    for (const text of [
      inspect(err, { depth: 10, showHidden: true }),
      JSON.stringify(err),
      String((err as Error).stack),
    ]) {
      expect(text).not.toContain(bad.accessJwt)
      expect(text).not.toContain(bad.refreshJwt)
    }
    expect(onRefreshFailure).toHaveBeenCalledWith(expect.anything(), err)
    expect(agent.destroyed).toBe(false)
  })

  it('login throws an invalid 200 answer without the tokens it carried', async () => {
    const { inspect } = await import('node:util')
    const bad = sessionData({ handle: 'not a handle!' })
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, bad)
    const err = await PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'InvalidSessionResponseError', status: 200 })
    expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(bad.refreshJwt)
  })

  it("resume with if-expired times the token by receipt when our clock is far from the server's", async () => {
    const serverNow = Math.floor(Date.now() / 1000) - 3 * 3600 // server 3 h behind
    const saved = makeSession(
      { refreshedAt: new Date().toISOString() },
      { accessJwt: fakeJwt({ iat: serverNow, exp: serverNow + 7200 }) },
    )
    const fetch = jest.fn<typeof globalThis.fetch>()
    await PasswordAgent.resume(saved, { refresh: 'if-expired', fetch })
    expect(fetch).not.toHaveBeenCalled()
  })

  it('a backed-off refresh for an outdated token resolves with the current session', async () => {
    const agent = await login()
    const first = agent.session
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(503, xrpcError('ServiceUnavailable'))
    await expect(agent.refresh()).rejects.toBeInstanceOf(XrpcResponseError)
    const older = { ...first, data: { ...first.data, accessJwt: 'eyJ.b2xk.c2ln' } }
    await expect(agent.sessionHolder.refresh(older)).resolves.toBe(first)
    await expect(agent.sessionHolder.refresh(first)).rejects.toBeInstanceOf(XrpcResponseError)
  })
})

describe('aborted requests while a refresh runs', () => {
  // A refresh that takes its time (slow entryway, slow lock, slow onRefreshed).
  function slowRefresh() {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let refreshes = 0
    const fetch = async (input: string | URL | Request) => {
      if (String(input).endsWith('refreshSession')) {
        refreshes++
        await gate
        return new Response(JSON.stringify(sessionData()), { headers: JSON_HEADERS })
      }
      return new Response('ok')
    }
    return { fetch, release, refreshes: () => refreshes }
  }

  it.each([
    ['the preset, refreshAhead off', false, () => makeSession()],
    [
      'the preset, token due for refreshAhead',
      undefined,
      () => {
        const iat = Math.floor(Date.now() / 1000) - 7170 // a 2 h token with 30 s left
        return makeSession(
          { refreshedAt: new Date(iat * 1000).toISOString() },
          { accessJwt: fakeJwt({ iat, exp: iat + 7200 }) },
        )
      },
    ],
  ] as const)(
    '%s: a request waiting for a refresh rejects at once with its abort reason, and the refresh goes on',
    async (_name, refreshAhead, saved) => {
      const { fetch, release, refreshes } = slowRefresh()
      const agent = new PasswordAgent(saved(), { fetch, refreshAhead })
      const refreshing = refreshAhead === false ? agent.refresh() : undefined
      const ctrl = new AbortController()
      const reason = new Error('user gave up')
      const waiting = agent.fetch('/xrpc/a.b.c', { signal: ctrl.signal })
      const patient = agent.fetch('/xrpc/a.b.c')
      await new Promise((r) => setTimeout(r, 20))
      ctrl.abort(reason)
      const outcome = await Promise.race([
        waiting.then(
          () => 'resolved',
          (e: unknown) => e,
        ),
        new Promise((r) => setTimeout(() => r('still waiting'), 300)),
      ])
      expect(outcome).toBe(reason)
      release()
      await refreshing
      expect((await patient).status).toBe(200)
      expect(refreshes()).toBe(1)
      expect(agent.destroyed).toBe(false)
    },
  )

  it('a request whose signal is already aborted does not wait for a running refresh', async () => {
    const { fetch, release } = slowRefresh()
    const agent = new PasswordAgent(makeSession(), { fetch, refreshAhead: false })
    const refreshing = agent.refresh()
    const reason = new Error('already gone')
    const outcome = await Promise.race([
      agent.fetch('/xrpc/a.b.c', { signal: AbortSignal.abort(reason) }).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
      new Promise((r) => setTimeout(() => r('still waiting'), 300)),
    ])
    expect(outcome).toBe(reason)
    release()
    await refreshing
  })
})

describe('tokens that are not JWT-shaped', () => {
  it.each([
    ['an accessJwt with a newline', { accessJwt: 'eyJ.bad\nsecret-access.sig' }],
    ['an accessJwt that is no JWT', { accessJwt: 'opaque-secret-access' }],
    ['an empty refreshJwt', { refreshJwt: '' }],
    ['a refreshJwt that is no JWT', { refreshJwt: 'opaque secret refresh' }],
  ])('a 200 refresh answer with %s is refused as transient, before it is saved or used', async (_name, bad) => {
    const { inspect } = await import('node:util')
    const onRefreshFailure = jest.fn()
    const onRefreshed = jest.fn()
    const agent = await login({ onRefreshFailure, onRefreshed })
    onRefreshed.mockClear()
    const before = agent.session
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, sessionData(bad))
    const err = await agent.refresh().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'InvalidSessionResponseError', status: 200 })
    expect(onRefreshFailure).toHaveBeenCalledWith(before, err)
    expect(onRefreshed).not.toHaveBeenCalled()
    expect(agent.session).toBe(before)
    expect(agent.destroyed).toBe(false)
    const secret = Object.values(bad)[0]!
    if (secret) expect(inspect(err, { depth: 10, showHidden: true })).not.toContain(secret)
    // Requests still go out, with the old token and no error quoting the new one.
    nock(PDS).get('/x').reply(200, 'ok')
    expect((await agent.fetch(`${PDS}/x`)).status).toBe(200)
  })

  it('login refuses a createSession answer whose tokens are not JWT-shaped, without quoting them', async () => {
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.createSession')
      .reply(200, sessionData({ accessJwt: 'opaque-secret-access' }))
    const err = await PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b' }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'InvalidSessionResponseError', status: 200 })
    expect(String((err as Error).stack)).not.toContain('opaque-secret-access')
  })
})

describe('a custom store', () => {
  it('a malformed session from a custom store is not adopted (warned, never quoted)', async () => {
    const onWarning = jest.fn()
    const saved = makeSession()
    const bad = {
      ...saved,
      refreshedAt: new Date(Date.now() + 60_000).toISOString(),
      data: { ...saved.data, accessJwt: 'opaque secret token' },
    }
    const store = { get: async () => bad as Session, set: async () => {}, delete: async () => {} }
    const fresh = sessionData()
    const scope = nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, fresh)
    const agent = new PasswordAgent(saved, { store, hooks: { onWarning }, refreshAhead: false })
    await agent.refresh()
    scope.done()
    expect(agent.session.data.accessJwt).toBe(fresh.accessJwt)
    expect(onWarning).toHaveBeenCalledWith(expect.stringContaining('not a valid Session'))
    expect(JSON.stringify(onWarning.mock.calls)).not.toContain('opaque secret token')
  })
})

describe('a hook that never settles', () => {
  it('is reported after refreshTimeoutMs and no longer waited for: refresh, requests and logout go on', async () => {
    const reported: [unknown, string][] = []
    let calls = 0
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, sessionData())
    const result = await PasswordAgent.login({
      service: SERVICE,
      identifier: 'a',
      password: 'b',
      refreshTimeoutMs: 200,
      hooks: {
        onRefreshed: () => (++calls === 1 ? undefined : new Promise(() => {})), // hangs from the first refresh on
        onDeleted: () => new Promise(() => {}),
        onHookError(error, hook) {
          reported.push([error, hook])
        },
      },
    })
    if (!result.success) throw result
    const agent = result.value
    const next = sessionData()
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, next)
    const started = Date.now()
    const refreshed = agent.refresh()
    nock(PDS).get('/x').reply(200, 'ok')
    const waiting = agent.fetch(`${PDS}/x`) // waits for the refresh and its hook
    expect((await refreshed).data).toEqual(next)
    expect((await waiting).status).toBe(200)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(reported).toEqual([[expect.objectContaining({ name: 'SessionTimeoutError' }), 'onRefreshed']])
    nock(SERVICE).post('/xrpc/com.atproto.server.deleteSession').reply(200)
    await agent.logout()
    expect(agent.destroyed).toBe(true)
    expect(reported.map(([, hook]) => hook)).toEqual(['onRefreshed', 'onDeleted'])
  })
})

describe('shared state: the store and refresh sharers', () => {
  it("logout never removes another account's session from the store", async () => {
    const { MemorySessionStore } = await import('../lib/index.ts')
    const bob = makeSession({}, { did: 'did:plc:bob234567abcdefghijklm', handle: 'bob.example' })
    const store = new MemorySessionStore(bob)
    nock(SERVICE).post('/xrpc/com.atproto.server.deleteSession').reply(200)
    const alice = new PasswordAgent(makeSession(), { store })
    await alice.logout()
    expect(alice.destroyed).toBe(true)
    expect(await store.get()).toEqual(bob)
  })

  it('every caller sharing a refresh settles after its onDeleted / onRefreshFailure ran, as refresh() documents', async () => {
    const order: string[] = []
    const hooks: SessionHooks<PasswordAgent> = {
      onDeleted: async () => {
        await new Promise((r) => setTimeout(r, 20))
        order.push('onDeleted')
      },
    }
    const agent = await login(hooks)
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(400, xrpcError('ExpiredToken'))
    await Promise.all([
      agent.refresh().catch(() => order.push('first')),
      agent.refresh().catch(() => order.push('second')),
    ])
    expect(order).toEqual(['onDeleted', 'first', 'second'])
  })
})
