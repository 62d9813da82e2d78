import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { XrpcResponseError } from '@atproto/lex-client'
import type { ServerResponse } from 'node:http'
import { inspect } from 'node:util'
import nock from 'nock'
import {
  InvalidSessionResponseError,
  isLexPasswordAgentError,
  LoggedOutError,
  PasswordAgent,
  ServiceUnreachableError,
  SessionAnswerTooLargeError,
  SessionEndedError,
  SessionTimeoutError,
  type Session,
  type SessionHooks,
} from '../lib/index.ts'
import {
  closedPort,
  nsidOf,
  sendJson,
  startServer,
  streamJson,
  type Handler,
  type LoopbackServer,
  type Received,
} from './helpers/fault-server.ts'
import { didDoc, sessionData, xrpcError } from './helpers/fixtures.ts'

// Faults here are real sockets on 127.0.0.1: nock must not sit in between.
beforeAll(() => nock.restore())

const TIMEOUT_MS = 400
/** Most lines `util.inspect` may print for an error a refresh rejects with (stacks and causes included). */
const MAX_PRINTED_LINES = 30
const MiB = 1024 * 1024
const REFRESH = 'com.atproto.server.refreshSession'
const DELETE = 'com.atproto.server.deleteSession'

let servers: LoopbackServer[] = []
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()))
  servers = []
})
async function server(handler?: Handler) {
  const s = await startServer(handler)
  servers.push(s)
  return s
}

const status =
  (code: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) =>
    sendJson(res, code, body, headers)
const raw =
  (code: number, type: string, body: string): Handler =>
  (_req, res) => {
    res.writeHead(code, { 'content-type': type })
    res.end(body)
  }
const resetMidResponse: Handler = (_req, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' })
  res.write('{"accessJwt":"eyJhbGciOiJIUzI1NiJ9.')
  setTimeout(() => res.socket?.destroy(), 20)
}

type Outcome = 'kept' | 'deleted'
/** A fault on the session call: `refused` means nothing listens on the service port. */
type Fault = { handler: Handler | 'refused'; rejects: abstract new (...args: never[]) => Error; error?: string }

/** Faults common to refresh and logout, and what the session call rejects with. */
const common: [string, Outcome, Fault][] = [
  ['connection refused', 'kept', { handler: 'refused', rejects: ServiceUnreachableError }],
  [
    'connection reset before the answer',
    'kept',
    { handler: (_q, res) => res.socket!.destroy(), rejects: ServiceUnreachableError },
  ],
  ['connection reset mid-response (200)', 'kept', { handler: resetMidResponse, rejects: InvalidSessionResponseError }],
  ['timeout (never answers)', 'kept', { handler: () => {}, rejects: SessionTimeoutError }],
  [
    '500',
    'kept',
    {
      handler: status(500, xrpcError('InternalServerError')),
      rejects: XrpcResponseError,
      error: 'InternalServerError',
    },
  ],
  [
    '502',
    'kept',
    { handler: status(502, xrpcError('UpstreamFailure')), rejects: XrpcResponseError, error: 'UpstreamFailure' },
  ],
  [
    '503',
    'kept',
    { handler: status(503, xrpcError('NotEnoughResources')), rejects: XrpcResponseError, error: 'NotEnoughResources' },
  ],
  [
    '429 with RateLimit-Reset',
    'kept',
    {
      handler: (_q, res) =>
        sendJson(res, 429, xrpcError('RateLimitExceeded'), {
          'ratelimit-limit': '30',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(Math.floor(Date.now() / 1000) + 300),
        }),
      rejects: XrpcResponseError,
      error: 'RateLimitExceeded',
    },
  ],
  [
    '502 with an HTML page',
    'kept',
    { handler: raw(502, 'text/html', '<html><h1>502 Bad Gateway</h1></html>'), rejects: InvalidSessionResponseError },
  ],
  [
    '500 with an ExpiredToken body',
    'kept',
    { handler: status(500, xrpcError('ExpiredToken')), rejects: XrpcResponseError, error: 'ExpiredToken' },
  ],
  [
    '400 ExpiredToken as text/plain (a proxy page)',
    'kept',
    { handler: raw(400, 'text/plain', '{"error":"ExpiredToken"}'), rejects: InvalidSessionResponseError },
  ],
  [
    '200 with truncated JSON',
    'kept',
    { handler: raw(200, 'application/json', '{"accessJwt":"eyJhbGciOi'), rejects: InvalidSessionResponseError },
  ],
  [
    '400 with truncated JSON',
    'kept',
    { handler: raw(400, 'application/json', '{"error":"ExpiredTok'), rejects: InvalidSessionResponseError },
  ],
  // Past the default 1 MiB: refused by its Content-Length, or cut off while read.
  [
    '200 of 2 MiB with Content-Length',
    'kept',
    { handler: streamJson(2 * MiB, { contentLength: true }), rejects: SessionAnswerTooLargeError },
  ],
  ['200 of 2 MiB, chunked', 'kept', { handler: streamJson(2 * MiB), rejects: SessionAnswerTooLargeError }],
  [
    '400 of 2 MiB, chunked (no error code read)',
    'kept',
    { handler: streamJson(2 * MiB, { status: 400 }), rejects: SessionAnswerTooLargeError },
  ],
  [
    '400 ExpiredToken',
    'deleted',
    {
      handler: status(400, xrpcError('ExpiredToken', 'Token has been revoked')),
      rejects: SessionEndedError,
      error: 'ExpiredToken',
    },
  ],
  [
    '400 InvalidToken',
    'deleted',
    { handler: status(400, xrpcError('InvalidToken')), rejects: SessionEndedError, error: 'InvalidToken' },
  ],
  [
    '400 AccountTakedown',
    'deleted',
    { handler: status(400, xrpcError('AccountTakedown')), rejects: SessionEndedError, error: 'AccountTakedown' },
  ],
  [
    '401 AccountTakedown',
    'deleted',
    { handler: status(401, xrpcError('AccountTakedown')), rejects: SessionEndedError, error: 'AccountTakedown' },
  ],
  [
    '401 ExpiredToken',
    'deleted',
    { handler: status(401, xrpcError('ExpiredToken')), rejects: SessionEndedError, error: 'ExpiredToken' },
  ],
]

let faultsTried = 0
let sessionsLost = 0
afterAll(() => {
  console.info(`faults.spec: ${faultsTried} faults tried, ${sessionsLost} sessions lost`)
})

/** An entryway with `fault` on `method`, a PDS that says ExpiredToken to the first token, and an agent on both. */
async function setup(method: string, fault: Fault) {
  const hooks = {
    onRefreshed: jest.fn(),
    onRefreshFailure: jest.fn(),
    onDeleted: jest.fn(),
    onDeleteFailure: jest.fn(),
    onHookError: jest.fn(),
  } satisfies SessionHooks<PasswordAgent>
  const pds = await server()
  const entryway = fault.handler === 'refused' ? undefined : await server()
  const service = entryway?.url ?? `http://127.0.0.1:${await closedPort()}`
  const data = sessionData({ didDoc: didDoc(pds.url) })
  const session: Session = { data, refreshedAt: new Date().toISOString(), pdsUrl: pds.url, service }
  pds.handler = (req, res) =>
    req.headers.authorization === `Bearer ${data.accessJwt}`
      ? sendJson(res, 400, xrpcError('ExpiredToken', 'Token has expired'))
      : sendJson(res, 200, { ok: true })
  if (entryway) {
    const faulty = fault.handler as Handler
    entryway.handler = (req, res) =>
      nsidOf(req) === method ? faulty(req, res) : sendJson(res, 404, xrpcError('XRPCNotSupported'))
  }
  const agent = new PasswordAgent(session, { hooks, refreshTimeoutMs: TIMEOUT_MS })
  const calls = () => entryway?.requests.filter((r: Received) => nsidOf(r) === method).length ?? 0
  return { agent, session, hooks, pds, entryway, calls }
}

function tally(outcome: Outcome, agent: PasswordAgent) {
  faultsTried++
  if (outcome === 'kept' && agent.destroyed) sessionsLost++
}

describe('refresh fault matrix (real loopback entryway)', () => {
  it.each(common)('agent.refresh() on %s: session %s', async (_name, outcome, fault) => {
    const { agent, session, hooks, calls } = await setup(REFRESH, fault)
    const err = await agent.refresh().then(
      () => undefined,
      (e: unknown) => e,
    )
    tally(outcome, agent)
    expect(err).toBeInstanceOf(fault.rejects)
    if (fault.error) expect(err).toMatchObject({ error: fault.error })
    // Printed short (no lexicon schema, no Response), naming the service, never a token.
    const printed = inspect(err)
    expect(printed.split('\n').length).toBeLessThanOrEqual(MAX_PRINTED_LINES)
    expect(printed).not.toMatch(/Schema|Response \{/)
    // Ours say which service failed (an XRPC error answer keeps the server's own message).
    if (isLexPasswordAgentError(err) && !(err instanceof SessionAnswerTooLargeError)) {
      expect(err.message).toContain(session.service)
    }
    for (const token of [session.data.accessJwt, session.data.refreshJwt]) expect(printed).not.toContain(token)
    expect(calls()).toBe(fault.handler === 'refused' ? 0 : 1) // never retried on its own
    expect(hooks.onRefreshed).not.toHaveBeenCalled()
    if (outcome === 'kept') {
      expect(hooks.onRefreshFailure).toHaveBeenCalledTimes(1)
      expect(hooks.onRefreshFailure).toHaveBeenCalledWith(session, err)
      expect(hooks.onDeleted).not.toHaveBeenCalled()
      expect(agent.destroyed).toBe(false)
      expect(agent.session).toBe(session)
    } else {
      expect(hooks.onDeleted).toHaveBeenCalledTimes(1)
      expect(hooks.onDeleted).toHaveBeenCalledWith(session)
      expect(hooks.onRefreshFailure).not.toHaveBeenCalled()
      expect(agent.destroyed).toBe(true)
      expect(() => agent.session).toThrow(LoggedOutError)
    }
    expect(hooks.onDeleteFailure).not.toHaveBeenCalled()
    expect(hooks.onHookError).not.toHaveBeenCalled()
  })

  it.each(common)(
    'a request that meets ExpiredToken, then %s on refresh: gets the original 400, session %s',
    async (_name, outcome, fault) => {
      const { agent, session, hooks, pds, calls } = await setup(REFRESH, fault)
      const res = await agent.fetch('/xrpc/com.example.ping')
      tally(outcome, agent)
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual(xrpcError('ExpiredToken', 'Token has expired'))
      expect(pds.requests).toHaveLength(1) // not replayed
      expect(calls()).toBe(fault.handler === 'refused' ? 0 : 1)
      if (outcome === 'kept') {
        expect(hooks.onRefreshFailure).toHaveBeenCalledTimes(1)
        expect(hooks.onDeleted).not.toHaveBeenCalled()
        expect(agent.destroyed).toBe(false)
        expect(agent.session).toBe(session)
      } else {
        expect(hooks.onDeleted).toHaveBeenCalledTimes(1)
        expect(hooks.onRefreshFailure).not.toHaveBeenCalled()
        expect(agent.destroyed).toBe(true)
        await expect(agent.fetch('/xrpc/com.example.ping')).rejects.toThrow(LoggedOutError)
        expect(pds.requests).toHaveLength(1)
      }
    },
  )
})

describe('logout fault matrix (real loopback entryway)', () => {
  const logoutRows: [string, Outcome, Fault][] = [
    ...common,
    ['200 with an empty body', 'deleted', { handler: (_q, res) => res.writeHead(200).end(), rejects: Error }],
    ['200 {}', 'deleted', { handler: status(200, {}), rejects: Error }],
  ]

  it.each(logoutRows)('logout() on %s: session %s', async (name, outcome, fault) => {
    const { agent, session, hooks, calls, entryway } = await setup(DELETE, fault)
    const err = await agent.logout().then(
      () => undefined,
      (e: unknown) => e,
    )
    tally(outcome, agent)
    expect(calls()).toBe(fault.handler === 'refused' ? 0 : 1)
    expect(hooks.onRefreshFailure).not.toHaveBeenCalled()
    expect(hooks.onHookError).not.toHaveBeenCalled()
    if (outcome === 'kept') {
      expect(err).toBeInstanceOf(fault.rejects)
      if (fault.error) expect(err).toMatchObject({ error: fault.error })
      expect(hooks.onDeleteFailure).toHaveBeenCalledTimes(1)
      expect(hooks.onDeleteFailure).toHaveBeenCalledWith(session, err)
      expect(hooks.onDeleted).not.toHaveBeenCalled()
      expect(agent.destroyed).toBe(false)
      expect(agent.session).toBe(session)
      if (entryway) {
        // The kept session can still be logged out once the entryway answers.
        entryway.handler = (_q, res) => res.writeHead(200).end()
        await agent.logout()
        expect(agent.destroyed).toBe(true)
        expect(hooks.onDeleted).toHaveBeenCalledWith(session)
      }
    } else if (name.startsWith('200')) {
      expect(err).toBeUndefined()
      expect(hooks.onDeleted).toHaveBeenCalledTimes(1)
      expect(hooks.onDeleted).toHaveBeenCalledWith(session)
      expect(hooks.onDeleteFailure).not.toHaveBeenCalled()
      expect(agent.destroyed).toBe(true)
    } else {
      // A dead refresh token: the session is gone on the server either way.
      expect(err).toBeUndefined()
      expect(hooks.onDeleted).toHaveBeenCalledTimes(1)
      expect(hooks.onDeleteFailure).not.toHaveBeenCalled()
      expect(agent.destroyed).toBe(true)
    }
  })

  it('PasswordAgent.delete rejects on a transient fault and resolves on a definitive answer', async () => {
    const down = await setup(DELETE, {
      handler: status(503, xrpcError('NotEnoughResources')),
      rejects: XrpcResponseError,
    })
    await expect(PasswordAgent.delete(down.session, { refreshTimeoutMs: TIMEOUT_MS })).rejects.toBeInstanceOf(
      XrpcResponseError,
    )
    const dead = await setup(DELETE, { handler: status(400, xrpcError('InvalidToken')), rejects: XrpcResponseError })
    await expect(PasswordAgent.delete(dead.session, { refreshTimeoutMs: TIMEOUT_MS })).resolves.toBeUndefined()
  })
})

describe('token generations', () => {
  /**
   * An entryway that issues generation n+1 for the refresh token of the newest
   * generation n (older refresh tokens are revoked), and a PDS that says
   * ExpiredToken to access tokens below `rejectBelow`.
   */
  async function generations(options: { refreshDelayMs?: number } = {}) {
    const pds = await server()
    const entryway = await server()
    const issued = [sessionData({ didDoc: didDoc(pds.url) })]
    // `hold`: slow requests wait for it (instead of 150 ms); `arrived` is told when one reaches the PDS.
    const state: { rejectBelow: number; hold?: Promise<void>; arrived?: () => void } = { rejectBelow: 0 }
    const gen = (authorization: string | undefined, kind: 'accessJwt' | 'refreshJwt') =>
      issued.findIndex((d) => authorization === `Bearer ${d[kind]}`)
    entryway.handler = async (req, res) => {
      if (nsidOf(req) !== REFRESH) return sendJson(res, 404, xrpcError('XRPCNotSupported'))
      if (gen(req.headers.authorization, 'refreshJwt') !== issued.length - 1) {
        return sendJson(res, 400, xrpcError('ExpiredToken', 'Token has been revoked'))
      }
      if (options.refreshDelayMs) await new Promise((r) => setTimeout(r, options.refreshDelayMs))
      issued.push(sessionData({ didDoc: didDoc(pds.url) }))
      sendJson(res, 200, issued.at(-1))
    }
    const seenByPds: number[] = []
    pds.handler = async (req, res) => {
      const n = gen(req.headers.authorization, 'accessJwt')
      seenByPds.push(n)
      if (req.path.startsWith('/xrpc/com.example.slow')) {
        state.arrived?.()
        await (state.hold ?? new Promise((r) => setTimeout(r, 150)))
      }
      if (n >= state.rejectBelow) sendJson(res, 200, { generation: n })
      else sendJson(res, 400, xrpcError('ExpiredToken', 'Token has expired'))
    }
    const session: Session = {
      data: issued[0]!,
      refreshedAt: new Date().toISOString(),
      pdsUrl: pds.url,
      service: entryway.url,
    }
    const refreshed: number[] = []
    const genOf = (s: Session) => issued.findIndex((d) => d.accessJwt === s.data.accessJwt)
    const agent = new PasswordAgent(session, { hooks: { onRefreshed: (s) => void refreshed.push(genOf(s)) } })
    const refreshCalls = () => entryway.requests.filter((r) => nsidOf(r) === REFRESH).length
    return { agent, state, issued, refreshed, seenByPds, refreshCalls, genOf }
  }

  it('refreshes once for a generation; sequential requests after the refresh do not refresh again', async () => {
    const { agent, state, refreshCalls, seenByPds, genOf } = await generations()
    state.rejectBelow = 1
    for (let i = 0; i < 5; i++) {
      const res = await agent.fetch('/xrpc/com.example.ping')
      expect(await res.json()).toEqual({ generation: 1 })
    }
    expect(refreshCalls()).toBe(1)
    expect(genOf(agent.session)).toBe(1)
    expect(seenByPds).toEqual([0, 1, 1, 1, 1, 1])
  })

  it('an ExpiredToken for an older generation reuses the newer session instead of refreshing again', async () => {
    const { agent, state, refreshCalls, seenByPds } = await generations()
    // The slow request leaves with generation 0 and is held at the PDS while generation 1 arrives.
    let release!: () => void
    state.hold = new Promise<void>((r) => (release = r))
    const arrived = new Promise<void>((r) => (state.arrived = r))
    const slow = agent.fetch('/xrpc/com.example.slow')
    await arrived
    await agent.refresh()
    state.rejectBelow = 1
    release()
    const res = await slow
    expect(await res.json()).toEqual({ generation: 1 })
    expect(refreshCalls()).toBe(1)
    expect(seenByPds).toEqual([0, 1])
  })

  it('concurrent expiries share one refresh, and the session only moves forward', async () => {
    const { agent, state, refreshed, refreshCalls, seenByPds, genOf } = await generations({ refreshDelayMs: 50 })
    for (let round = 1; round <= 3; round++) {
      state.rejectBelow = round // the PDS now refuses generation round - 1
      // A slow request still carrying the old generation, then a burst and an explicit refresh at once.
      const stale = agent.fetch('/xrpc/com.example.slow')
      await new Promise((r) => setTimeout(r, 20))
      const burst = Array.from({ length: 10 }, () => agent.fetch('/xrpc/com.example.ping'))
      const explicit = agent.refresh()
      const answers = await Promise.all([stale, ...burst].map(async (r) => (await r).json()))
      expect(genOf(await explicit)).toBe(round)
      expect(answers).toEqual(Array(11).fill({ generation: round }))
      expect(refreshCalls()).toBe(round)
      expect(genOf(agent.session)).toBe(round)
    }
    expect(refreshed).toEqual([1, 2, 3])
    // Once a generation was in use, the PDS never saw an older one again.
    for (let n = 1; n <= 3; n++) {
      expect(seenByPds).toContain(n)
      expect(seenByPds.slice(seenByPds.indexOf(n)).filter((g) => g < n)).toEqual([])
    }
  })
})
