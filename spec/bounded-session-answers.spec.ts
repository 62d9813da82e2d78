import { afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import {
  InvalidSessionResponseError,
  PasswordAgent,
  SessionAnswerTooLargeError,
  type Session,
  type SessionHooks,
} from '../lib/index.ts'
import { nsidOf, sendJson, startServer, streamJson, type Handler, type LoopbackServer } from './helpers/fault-server.ts'
import { didDoc, sessionData, xrpcError } from './helpers/fixtures.ts'

// Real sockets on 127.0.0.1 (what is read, and what stays in memory, is the point): no nock in between.
beforeAll(() => nock.restore())

const MiB = 1024 * 1024
const DEFAULT_LIMIT = MiB
const PASSWORD = 'hunter2-secret'
const CREATE = 'com.atproto.server.createSession'
const REFRESH = 'com.atproto.server.refreshSession'
const GET = 'com.atproto.server.getSession'
const DELETE = 'com.atproto.server.deleteSession'

let servers: LoopbackServer[] = []
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})

/** An entryway answering each session method with its handler (404 for the rest). */
async function entryway(handlers: Record<string, Handler>) {
  const s = await startServer((req, res) => {
    const handler = handlers[nsidOf(req) ?? '']
    return handler ? handler(req, res) : sendJson(res, 404, xrpcError('XRPCNotSupported'))
  })
  servers.push(s)
  return s
}

const hooks = () =>
  ({
    onRefreshed: jest.fn(),
    onRefreshFailure: jest.fn(),
    onDeleted: jest.fn(),
    onDeleteFailure: jest.fn(),
    onHookError: jest.fn(),
  }) satisfies SessionHooks<PasswordAgent>

const sessionOn = (service: string, data = sessionData()): Session => ({
  data,
  refreshedAt: new Date().toISOString(),
  pdsUrl: null,
  service,
})
/** A valid JSON answer padded with whitespace to `size` bytes. */
const padded =
  (body: unknown, size: number): Handler =>
  (_req, res) => {
    const json = JSON.stringify(body)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(json + ' '.repeat(size - Buffer.byteLength(json)))
  }
const tooLarge = (limit = DEFAULT_LIMIT) => new RegExp(`larger than ${limit} bytes`)
/** The rejection of `promise`, or undefined. */
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e as Error,
  )

/** Oversized (2 MiB) answers: declared by Content-Length (refused unread) and chunked (cut off while read). */
const OVERSIZED: [string, (status?: number) => Handler][] = [
  ['with Content-Length', (status = 200) => streamJson(2 * MiB, { status, contentLength: true })],
  ['chunked', (status = 200) => streamJson(2 * MiB, { status })],
]

describe('login (createSession) with an answer larger than the limit', () => {
  it.each(OVERSIZED)('throws a SessionAnswerTooLargeError (%s) that holds no credentials', async (_name, handler) => {
    const server = await entryway({ [CREATE]: handler() })
    const h = hooks()
    const err = await failure(
      PasswordAgent.login({ service: server.url, identifier: 'alice.example', password: PASSWORD, hooks: h }),
    )
    expect(err).toBeInstanceOf(SessionAnswerTooLargeError)
    expect(err).toBeInstanceOf(InvalidSessionResponseError)
    expect(err).toMatchObject({ status: 200, maxBytes: DEFAULT_LIMIT })
    expect(err!.message).toMatch(tooLarge())
    expect(err!.message).not.toContain(PASSWORD)
    expect(err!.message).not.toContain('aaaa') // no body content
    expect(h.onRefreshed).not.toHaveBeenCalled()
  })

  it.each(OVERSIZED)('throws on an oversized 401 too (%s): no error code is read from it', async (_name, handler) => {
    const server = await entryway({ [CREATE]: handler(401) })
    const err = await failure(
      PasswordAgent.login({ service: server.url, identifier: 'alice.example', password: PASSWORD }),
    )
    expect(err).toBeInstanceOf(SessionAnswerTooLargeError)
    expect(err).toMatchObject({ status: 401 })
  })
})

describe('refresh (refreshSession) with an answer larger than the limit', () => {
  it.each(OVERSIZED)('is transient (%s): session kept, onRefreshFailure, not onDeleted', async (_name, handler) => {
    const server = await entryway({ [REFRESH]: handler() })
    const h = hooks()
    const session = sessionOn(server.url)
    const agent = new PasswordAgent(session, { hooks: h })
    const err = await failure(agent.refresh())
    expect(err).toBeInstanceOf(SessionAnswerTooLargeError)
    expect(err!.message).toMatch(tooLarge())
    expect(h.onRefreshFailure).toHaveBeenCalledWith(session, err)
    expect(h.onDeleted).not.toHaveBeenCalled()
    expect(h.onRefreshed).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(false)
    expect(agent.session).toBe(session)
  })
})

describe('logout (deleteSession) with an answer larger than the limit', () => {
  it.each(OVERSIZED)('is transient (%s): onDeleteFailure, session kept', async (_name, handler) => {
    const server = await entryway({ [DELETE]: handler() })
    const h = hooks()
    const session = sessionOn(server.url)
    const agent = new PasswordAgent(session, { hooks: h })
    const err = await failure(agent.logout())
    expect(err).toBeInstanceOf(SessionAnswerTooLargeError)
    expect(h.onDeleteFailure).toHaveBeenCalledWith(session, err)
    expect(h.onDeleted).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(false)
    expect(agent.session).toBe(session)
  })
})

describe('the getSession backfill after a refresh, with an answer larger than the limit', () => {
  it.each(OVERSIZED)('is skipped (%s): the refreshed session stands', async (_name, handler) => {
    const { didDoc: _d, email: _e, emailConfirmed: _c, ...bare } = sessionData()
    const server = await entryway({ [REFRESH]: (_req, res) => sendJson(res, 200, bare), [GET]: handler() })
    const h = hooks()
    const session: Session = {
      ...sessionOn(server.url, sessionData({ didDoc: didDoc('https://pds.example') })),
      pdsUrl: 'https://pds.example',
    }
    const agent = new PasswordAgent(session, { hooks: h })
    const next = await agent.refresh()
    expect(server.requests.map(nsidOf)).toEqual([REFRESH, GET])
    expect(next.data).toEqual(bare)
    expect(next.pdsUrl).toBe('https://pds.example') // kept, as without a DID document
    expect(agent.session).toBe(next)
    expect(h.onRefreshed).toHaveBeenCalledWith(next)
    expect(h.onRefreshFailure).not.toHaveBeenCalled()
    expect(h.onHookError).not.toHaveBeenCalled()
  })
})

describe('maxSessionAnswerBytes', () => {
  it('raises the limit for login and the agent it returns (refresh)', async () => {
    const server = await entryway({
      [CREATE]: padded(sessionData(), 1.5 * MiB),
      [REFRESH]: padded(sessionData(), 1.5 * MiB),
    })
    const login = (options = {}) =>
      PasswordAgent.login({ service: server.url, identifier: 'alice.example', password: PASSWORD, ...options })
    expect(await failure(login())).toBeInstanceOf(SessionAnswerTooLargeError)
    const result = await login({ maxSessionAnswerBytes: 2 * MiB })
    if (!result.success) throw new Error('login failed')
    const agent = result.value
    const first = agent.session
    expect((await agent.refresh()).data.accessJwt).not.toBe(first.data.accessJwt)
  })

  it('lowers the limit for login, createAccount, resume and delete', async () => {
    const data = sessionData()
    const server = await entryway({
      [CREATE]: (_req, res) => sendJson(res, 200, data),
      'com.atproto.server.createAccount': (_req, res) => sendJson(res, 200, data),
      [REFRESH]: (_req, res) => sendJson(res, 200, sessionData()),
      [DELETE]: (_req, res) => sendJson(res, 200, { ok: true, padding: 'x'.repeat(200) }),
    })
    const limit = { maxSessionAnswerBytes: 100 }
    const login = await failure(
      PasswordAgent.login({ service: server.url, identifier: 'alice.example', password: PASSWORD, ...limit }),
    )
    expect(login).toBeInstanceOf(SessionAnswerTooLargeError)
    expect(login!.message).toMatch(tooLarge(100))
    const created = await failure(
      PasswordAgent.createAccount({ handle: 'alice.example', password: PASSWORD }, { service: server.url, ...limit }),
    )
    expect(created).toBeInstanceOf(SessionAnswerTooLargeError)

    const h = hooks()
    const session = sessionOn(server.url, data)
    const resumed = await PasswordAgent.resume(session, { hooks: h, ...limit })
    expect(resumed.session).toBe(session)
    expect(h.onRefreshFailure).toHaveBeenCalledWith(session, expect.any(SessionAnswerTooLargeError))
    await expect(PasswordAgent.delete(session, limit)).rejects.toBeInstanceOf(SessionAnswerTooLargeError)
    // The same calls within the default limit go through.
    await expect(PasswordAgent.delete(session)).resolves.toBeUndefined()
  })
})

describe('memory stays bounded on a huge refreshSession answer (real loopback server)', () => {
  const TOTAL = 300 * MiB

  it.each([
    ['without Content-Length (chunked)', false],
    ['with Content-Length', true],
  ])(
    '%s: RSS grows < 64 MB, little of it is sent, the session is kept',
    async (_name, contentLength) => {
      const stream = streamJson(TOTAL, { contentLength })
      const server = await entryway({ [REFRESH]: stream })
      const h = hooks()
      const session = sessionOn(server.url)
      const agent = new PasswordAgent(session, { hooks: h })

      const before = process.memoryUsage.rss()
      let peak = before
      const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5)
      const err = await failure(agent.refresh()).finally(() => clearInterval(sample))
      peak = Math.max(peak, process.memoryUsage.rss())
      const growth = peak - before
      console.info(
        `bounded-session-answers.spec: 300 MB refreshSession answer ${_name}: RSS +${(growth / MiB).toFixed(1)} MB, ${(stream.sent / MiB).toFixed(1)} MB sent`,
      )

      expect(growth).toBeLessThan(64 * MiB)
      expect(stream.sent).toBeLessThan(64 * MiB) // the read stopped early: the rest was never produced
      expect(err).toBeInstanceOf(InvalidSessionResponseError)
      expect(h.onRefreshFailure).toHaveBeenCalledTimes(1)
      expect(h.onRefreshFailure).toHaveBeenCalledWith(session, expect.any(InvalidSessionResponseError))
      expect(h.onDeleted).not.toHaveBeenCalled()
      expect(agent.destroyed).toBe(false)
      expect(agent.session).toBe(session)
      expect(agent.session.data.accessJwt).toBe(session.data.accessJwt)
    },
    30_000,
  )
})
