import { afterEach, describe, expect, it } from '@jest/globals'
import { Client, XrpcFetchError, XrpcResponseError } from '@atproto/lex-client'
import { inspect } from 'node:util'
import { logIn, retryTime, whatToDo } from '../examples/errors.ts'
import { getSession } from '../lib/core/lexicons.ts'
import {
  InvalidSessionResponseError,
  isLexPasswordAgentError,
  LockTimeoutError,
  LoggedOutError,
  PasswordAgent,
  RateLimitedError,
  ServiceUnreachableError,
  SessionEndedError,
  SessionTimeoutError,
  type FetchLike,
  type LoginOptions,
  type Session,
} from '../lib/index.ts'
import { closedPort, sendJson, startServer, type Handler, type LoopbackServer } from './helpers/fault-server.ts'
import { DID, session as makeSession, sessionData, xrpcError } from './helpers/fixtures.ts'

// Every error the package throws for a network fault, a service that is not an
// atproto service, a timeout or a session the server ended: one line that names
// the call, the service and the account and says what to do; the original kept
// as `cause`; no token or password; printed short. Login refusals stay the
// server's. Real sockets on 127.0.0.1 (spec/setup.ts lets loopback through nock).

const PASSWORD = 'hunter2-secret'
const CHECK = 'check the service URL'
/**
 * Most lines `util.inspect` may print for one of these errors: its stack and
 * its cause's (10 frames each, Node's default) and a few properties. Before,
 * lex-client's errors printed 70 to 140 (its schema, the Response).
 */
const MAX_LINES = 30

let servers: LoopbackServer[] = []
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})
async function server(handler: Handler) {
  const s = await startServer(handler)
  servers.push(s)
  return s
}
const answer =
  (status: number, type: string, body: string, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': type, ...headers })
    res.end(body)
  }

/** What a login throws (`undefined` if it resolved). */
async function loginError(options: Partial<LoginOptions> & { service: string }): Promise<Error | undefined> {
  return PasswordAgent.login({ identifier: 'alice.example', password: PASSWORD, ...options }).then(
    () => undefined,
    (err: Error) => err,
  )
}

/** The checks every thrown error of this spec must pass, besides its message. */
function expectShortAndClean(err: unknown, secrets: string[] = [PASSWORD]) {
  expect(isLexPasswordAgentError(err)).toBe(true)
  const printed = inspect(err)
  expect(printed.split('\n').length).toBeLessThanOrEqual(MAX_LINES)
  expect(printed).not.toMatch(/Schema|Response \{|Procedure/) // no lexicon schema, no Response
  expect((err as Error).message).not.toContain('\n')
  for (const secret of secrets) expect(printed).not.toContain(secret)
}

/** Node's fetch failing the way undici does: a TypeError whose cause says why. */
const failingFetch =
  (cause: Error): FetchLike =>
  async () => {
    throw new TypeError('fetch failed', { cause })
  }

describe('login: thrown failures name the service and the account, and say what to check', () => {
  it('connection refused', async () => {
    const port = await closedPort()
    const service = `http://127.0.0.1:${port}`
    const err = await loginError({ service })
    expect(err).toBeInstanceOf(ServiceUnreachableError)
    expect(err).toMatchObject({
      code: 'ERR_SERVICE_UNREACHABLE',
      message: `createSession at ${service} for alice.example failed (connect ECONNREFUSED 127.0.0.1:${port}): ${CHECK} and the network`,
      cause: { code: 'ECONNREFUSED' },
    })
    expectShortAndClean(err)
    expect(whatToDo(err)).toBe('check the service URL and the network, then try again (a session is kept)')
  })

  it.each([
    ['DNS failure', 'getaddrinfo ENOTFOUND pds.invalid', 'ENOTFOUND', 'getaddrinfo ENOTFOUND pds.invalid'],
    ['TLS failure', 'self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
    ['every address refused (an AggregateError says nothing)', '', 'ECONNREFUSED', 'ECONNREFUSED'],
  ])('%s', async (_name, message, code, reason) => {
    const cause = Object.assign(message ? new Error(message) : new AggregateError([]), { code })
    const err = await loginError({ service: 'https://pds.invalid', fetch: failingFetch(cause) })
    expect(err).toBeInstanceOf(ServiceUnreachableError)
    expect(err!.message).toBe(
      `createSession at https://pds.invalid for alice.example failed (${reason}): ${CHECK} and the network`,
    )
    expect(err!.cause).toBe(cause)
    expectShortAndClean(err)
  })

  it('a redirect (session calls never follow one)', async () => {
    const s = await server((_req, res) => res.writeHead(302, { location: 'https://elsewhere.example/' }).end())
    const err = await loginError({ service: s.url })
    expect(err).toBeInstanceOf(ServiceUnreachableError)
    expect(err!.message).toBe(
      `createSession at ${s.url} for alice.example failed (${s.url} answered /xrpc/com.atproto.server.createSession with a redirect, which session calls never follow): ${CHECK} and the network`,
    )
    expectShortAndClean(err)
  })

  it.each([
    ['an HTML page (404)', 404, 'text/html; charset=utf-8', '<html>Not found</html>', '404 (text/html)'],
    ['an HTML page (200)', 200, 'text/html', '<html>Welcome</html>', '200 (text/html)'],
    [
      'a 404 XRPC error (no createSession here)',
      404,
      'application/json',
      '{"error":"XRPCNotSupported"}',
      '404 (application/json)',
    ],
    ['a 501 XRPC error', 501, 'application/json', '{"error":"MethodNotImplemented"}', '501 (application/json)'],
    ['a 502 HTML page from a proxy', 502, 'text/html', '<h1>Bad Gateway</h1>', '502 (text/html)'],
    ['a 401 that is no JSON', 401, 'text/plain', 'Unauthorized', '401 (text/plain)'],
    ['truncated JSON', 200, 'application/json', '{"accessJwt":"eyJhbGciOi', '200 (application/json)'],
    ['no body at all', 200, '', '', '200'],
  ])('%s: not an atproto answer', async (_name, status, type, body, got) => {
    const s = await server(type ? answer(status, type, body) : (_req, res) => res.writeHead(status).end())
    const err = await loginError({ service: s.url })
    expect(err).toBeInstanceOf(InvalidSessionResponseError)
    expect(err).toMatchObject({
      code: 'ERR_INVALID_SESSION_RESPONSE',
      status,
      message: `createSession at ${s.url} for alice.example got HTTP ${got}, not a session answer: ${CHECK}`,
    })
    // lex-client's own error is the cause, except for a 2xx (whose payload could hold tokens).
    if (status > 299) expect(err!.cause).toBeInstanceOf(XrpcResponseError)
    else expect(err!.cause).toBeUndefined()
    expectShortAndClean(err)
  })

  it('no answer within refreshTimeoutMs', async () => {
    const s = await server(() => {}) // never answers
    const err = await loginError({ service: s.url, refreshTimeoutMs: 150 })
    expect(err).toBeInstanceOf(SessionTimeoutError)
    expect(err).toMatchObject({
      code: 'ERR_SESSION_TIMEOUT',
      message: `createSession at ${s.url} for alice.example got no answer in 150 ms: ${CHECK} and the network, or raise refreshTimeoutMs`,
      cause: { name: 'TimeoutError' },
    })
    expectShortAndClean(err)
  })

  it('names a handle or DID, never an email, and removes the leading "@" of a handle', async () => {
    const service = `http://127.0.0.1:${await closedPort()}`
    for (const [identifier, account] of [
      ['alice@example.com', ''],
      ['@alice.example', ' for alice.example'],
      [DID, ` for ${DID}`],
    ]) {
      const err = await loginError({ service, identifier })
      expect(err!.message).toMatch(new RegExp(`^createSession at ${service}${account} failed \\(`))
      expect(inspect(err)).not.toContain('alice@example.com')
    }
  })
})

describe('login: refusals are the result, with the server error and message unchanged', () => {
  it.each([
    [401, 'AuthenticationRequired', 'Invalid identifier or password'],
    [401, 'AuthFactorTokenRequired', 'A sign in code has been sent to your email address'],
    [400, 'AccountTakedown', 'Account has been taken down'],
    [400, 'InvalidRequest', 'Input/identifier must be a string'],
  ])('%i %s', async (status, error, message) => {
    const s = await server((_req, res) => sendJson(res, status, xrpcError(error, message)))
    const result = await PasswordAgent.login({ service: s.url, identifier: 'alice.example', password: PASSWORD })
    expect(result).toMatchObject({ success: false, error, message, status })
    expect(result).toBeInstanceOf(XrpcResponseError)
    // Printed short too (its method, Response and payload stay readable).
    const printed = inspect(result)
    expect(printed.split('\n').length).toBeLessThanOrEqual(12)
    expect(printed).not.toMatch(/Schema|Response \{/)
    expect(result).toHaveProperty('method.nsid', 'com.atproto.server.createSession')
    expect(result).toHaveProperty('payload.body', { error, message })
  })

  it('RateLimitExceeded: retry after RateLimit-Reset (an epoch), or Retry-After', async () => {
    const reset = Math.floor(Date.now() / 1000) + 300
    const limited = await server((_req, res) =>
      sendJson(res, 429, xrpcError('RateLimitExceeded', 'Rate Limit Exceeded'), {
        'ratelimit-limit': '30',
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(reset),
      }),
    )
    const result = await PasswordAgent.login({ service: limited.url, identifier: 'alice.example', password: 'x' })
    expect(result).toBeInstanceOf(RateLimitedError)
    expect(result).toMatchObject({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded', status: 429 })
    if (result.success) throw new Error('logged in')
    expect(retryTime(result)).toEqual(new Date(reset * 1000))
    await expect(logIn({ service: limited.url, identifier: 'alice.example', password: 'x' })).rejects.toThrow(
      new Error(`Too many logins: try again after ${new Date(reset * 1000).toISOString()}`),
    )

    // A proxy's 429: an HTML page with Retry-After only.
    const proxy = await server(answer(429, 'text/html', '<h1>Too Many Requests</h1>', { 'retry-after': '120' }))
    const before = Date.now()
    const viaProxy = await PasswordAgent.login({ service: proxy.url, identifier: 'alice.example', password: 'x' })
    expect(viaProxy).toMatchObject({ success: false, error: 'RateLimitExceeded', status: 429 })
    if (viaProxy.success) throw new Error('logged in')
    const at = retryTime(viaProxy)!.getTime()
    expect(at).toBeGreaterThanOrEqual(before + 120_000)
    expect(at).toBeLessThanOrEqual(Date.now() + 120_000)
  })

  it('logIn() of examples/errors.ts says why for each refusal', async () => {
    const cases: [string, string, string][] = [
      [
        'AuthenticationRequired',
        'Invalid identifier or password',
        'Wrong identifier or password (Invalid identifier or password): check both, or use an app password',
      ],
      [
        'AuthFactorTokenRequired',
        'A sign in code has been sent to your email address',
        'The account sent a code by email: log in again with it as authFactorToken',
      ],
      ['AccountTakedown', 'Account has been taken down', 'The account is taken down (Account has been taken down)'],
      ['InvalidRequest', 'Bad input', 'Login refused: InvalidRequest: Bad input'],
    ]
    for (const [error, message, said] of cases) {
      const s = await server((_req, res) => sendJson(res, 401, xrpcError(error, message)))
      await expect(logIn({ service: s.url, identifier: 'alice.example', password: 'x' })).rejects.toThrow(
        new Error(said),
      )
    }
  })
})

describe('refresh, resume and logout: thrown failures name the service and the DID', () => {
  /** A saved session whose service is `service`. */
  const saved = (service: string): Session => makeSession({ service, pdsUrl: service })
  const tokens = (s: Session) => [s.data.accessJwt, s.data.refreshJwt]

  it('resume of a revoked session: SessionEndedError, after onDeleted; the refusal is its cause', async () => {
    const s = await server((_req, res) => sendJson(res, 400, xrpcError('ExpiredToken', 'Token has been revoked')))
    const session = saved(s.url)
    let deleted = 0
    const err = await PasswordAgent.resume(session, { hooks: { onDeleted: () => void deleted++ } }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(deleted).toBe(1)
    expect(err).toBeInstanceOf(SessionEndedError)
    expect(err).toBeInstanceOf(XrpcResponseError) // `err.error === 'ExpiredToken'` checks keep working
    expect(err).toMatchObject({
      code: 'ERR_SESSION_ENDED',
      error: 'ExpiredToken',
      status: 400,
      message: `refreshSession at ${s.url} for ${DID} refused (ExpiredToken: Token has been revoked): log in again with the password`,
    })
    expect(err!.cause).toBeInstanceOf(XrpcResponseError)
    expect(err!.cause).toMatchObject({ error: 'ExpiredToken', message: 'Token has been revoked' })
    expectShortAndClean(err, tokens(session))
    expect(whatToDo(err)).toBe('log in again with the password')
  })

  it.each([
    [401, 'InvalidToken', 'Token could not be verified'],
    [400, 'AccountTakedown', 'Account has been taken down'],
  ])('refresh() refused for good (%i %s): SessionEndedError', async (status, error, message) => {
    const s = await server((_req, res) => sendJson(res, status, xrpcError(error, message)))
    const agent = new PasswordAgent(saved(s.url))
    await expect(agent.refresh()).rejects.toMatchObject({
      name: 'SessionEndedError',
      error,
      status,
      message: `refreshSession at ${s.url} for ${DID} refused (${error}: ${message}): log in again with the password`,
    })
    expect(agent.destroyed).toBe(true)
  })

  it('refresh() on an unreachable service: ServiceUnreachableError, session kept', async () => {
    const port = await closedPort()
    const service = `http://127.0.0.1:${port}`
    const agent = new PasswordAgent(saved(service))
    const err = await agent.refresh().then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err).toBeInstanceOf(ServiceUnreachableError)
    expect(err!.message).toBe(
      `refreshSession at ${service} for ${DID} failed (connect ECONNREFUSED 127.0.0.1:${port}): ${CHECK} and the network`,
    )
    expect(agent.destroyed).toBe(false)
    expectShortAndClean(err, tokens(agent.session))
  })

  it('a refresh answered with an HTML page: InvalidSessionResponseError', async () => {
    const s = await server(answer(200, 'text/html', '<html>login</html>'))
    const agent = new PasswordAgent(saved(s.url))
    await expect(agent.refresh()).rejects.toMatchObject({
      name: 'InvalidSessionResponseError',
      message: `refreshSession at ${s.url} for ${DID} got HTTP 200 (text/html), not a session answer: ${CHECK}`,
    })
  })

  it('a refresh that issues tokens that are not JWTs: InvalidSessionResponseError without them', async () => {
    const bad = sessionData({ refreshJwt: 'opaque-token-value' })
    const s = await server((_req, res) => sendJson(res, 200, bad))
    const agent = new PasswordAgent(saved(s.url))
    const err = await agent.refresh().then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err).toMatchObject({
      name: 'InvalidSessionResponseError',
      message: `refreshSession at ${s.url} for ${DID} got HTTP 200, not a session answer: ${CHECK}`,
    })
    expectShortAndClean(err, [bad.accessJwt, bad.refreshJwt])
  })

  it('logout() and refresh() with no answer within refreshTimeoutMs: SessionTimeoutError, session kept', async () => {
    const s = await server(() => {})
    const agent = new PasswordAgent(saved(s.url), { refreshTimeoutMs: 100 })
    for (const [call, name] of [
      [() => agent.logout(), 'deleteSession'],
      [() => agent.refresh(), 'refreshSession'],
    ] as const) {
      const err = await call().then(
        () => undefined,
        (e: Error) => e,
      )
      expect(err).toBeInstanceOf(SessionTimeoutError)
      expect(err!.message).toBe(
        `${name} at ${s.url} for ${DID} got no answer in 100 ms: ${CHECK} and the network, or raise refreshTimeoutMs`,
      )
      expectShortAndClean(err, tokens(agent.session))
    }
    expect(agent.destroyed).toBe(false)
  })
})

describe("errors lex-client's Client wraps around ours", () => {
  it('a Client call after logout: XrpcFetchError whose cause is our LoggedOutError', async () => {
    const s = await server((_req, res) => res.writeHead(200).end())
    const agent = new PasswordAgent(saved(s.url))
    await agent.logout()
    const err = await new Client(agent).call(getSession).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(XrpcFetchError)
    expect((err as XrpcFetchError).cause).toBeInstanceOf(LoggedOutError)
    expect(isLexPasswordAgentError((err as XrpcFetchError).cause)).toBe(true)
    expect(whatToDo(err)).toBe('log in again with the password')
  })

  it('whatToDo() answers every code of ours and throws anything else again', () => {
    expect(whatToDo(new LockTimeoutError('held'))).toBe(
      'check the other processes on this store, or raise acquireTimeoutMs',
    )
    const foreign = new Error('not ours')
    expect(() => whatToDo(foreign)).toThrow(foreign)
  })

  /** A saved session on `service`. */
  function saved(service: string): Session {
    return makeSession({ service, pdsUrl: service })
  }
})
