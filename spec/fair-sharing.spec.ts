// Fair sharing of the network (#16): an entryway outage delays refreshes
// without holding up requests whose tokens are still valid; a 429 is
// honoured for its scope (createSession: the identifier; PDS writes: the
// account); a failing PDS origin never slows the accounts on other origins.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { DidString } from '@atproto/lex-schema'
import { pipeline } from '../lib/core/fetch.ts'
import { SessionHolder } from '../lib/core/session-holder.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { refreshAhead } from '../middleware/refresh-ahead.ts'
import { PasswordAgent } from '../lib/password-agent.ts'
import { PasswordAgentPool } from '../lib/password-agent-pool.ts'
import { MemoryAccountStore } from '../lib/index.ts'
import { RateLimitedError } from '../lib/core/errors.ts'
import type { FetchLike } from '../lib/core/fetch.ts'
import { didOf, fakeAccounts, FAKE_SERVICE } from './helpers/fake-accounts.ts'
import { recordingFetch } from './helpers/fake-source.ts'
import { JSON_HEADERS, PDS, didDoc, fakeJwt, session, sessionData } from './helpers/fixtures.ts'

// A 2 h token with `s` seconds left, as the reference PDS issues them.
const expiringIn = (s: number) => {
  const now = Math.floor(Date.now() / 1000)
  const iat = now + s - 7200
  return session({ refreshedAt: new Date(iat * 1000).toISOString() }, { accessJwt: fakeJwt({ iat, exp: iat + 7200 }) })
}
const isRefresh = (url: string) => url.endsWith('/xrpc/com.atproto.server.refreshSession')
const bearer = (s: { data: { accessJwt: string } }) => `Bearer ${s.data.accessJwt}`

/**
 * A fetch whose refreshSession hangs until `release()` (then answers with
 * fresh tokens), or until the holder's timeout aborts it; anything else 200.
 */
function hangingEntryway() {
  let release = () => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  const { fetch, calls } = recordingFetch(async (call) => {
    if (!isRefresh(call.url)) return new Response('ok')
    const signal = call.init?.signal
    await new Promise<void>((resolve, reject) => {
      void released.then(resolve)
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
    return new Response(JSON.stringify(sessionData()), { headers: JSON_HEADERS })
  })
  const sent = () => calls.filter((c) => !isRefresh(c.url))
  return { fetch, calls, sent, release }
}

const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
  const start = performance.now()
  const value = await p
  return [value, performance.now() - start]
}

describe('an entryway outage', () => {
  it('delays a due refresh without holding up requests whose token is still valid (agent)', async () => {
    const saved = expiringIn(30) // inside the default 60 s margin, valid for 30 s more
    const net = hangingEntryway()
    const agent = new PasswordAgent(saved, {
      fetch: net.fetch,
      refreshTimeoutMs: 10_000,
      refreshAhead: { jitterMs: 0 },
    })
    // The first request waits at most 1 s for the refresh, then goes out with its valid token.
    const [first, firstMs] = await timed(agent.fetch('/xrpc/app.bsky.actor.getProfile'))
    expect(first.status).toBe(200)
    expect(firstMs).toBeGreaterThanOrEqual(900)
    expect(firstMs).toBeLessThan(2500)
    // The next ones do not wait at all while that refresh goes on.
    const [rest, restMs] = await timed(
      Promise.all(Array.from({ length: 5 }, () => agent.fetch('/xrpc/app.bsky.actor.getProfile'))),
    )
    expect(rest.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(restMs).toBeLessThan(500)
    expect(net.sent().map((c) => c.headers.get('authorization'))).toEqual(Array(6).fill(bearer(saved)))
    // One refresh, still running; once the entryway answers, requests use the new token.
    expect(net.calls.filter((c) => isRefresh(c.url))).toHaveLength(1)
    net.release()
    const renewed = await agent.sessionHolder.refresh(saved)
    await agent.fetch('/xrpc/app.bsky.actor.getProfile')
    expect(net.sent().at(-1)!.headers.get('authorization')).toBe(bearer(renewed))
  }, 10_000)

  it('still gives the new token to a request when the refresh answers within the wait', async () => {
    const saved = expiringIn(30)
    const net = hangingEntryway()
    const agent = new PasswordAgent(saved, { fetch: net.fetch, refreshAhead: { jitterMs: 0 } })
    setTimeout(net.release, 200)
    const [res, ms] = await timed(agent.fetch('/xrpc/app.bsky.actor.getProfile'))
    expect(res.status).toBe(200)
    expect(ms).toBeLessThan(900)
    expect(net.sent()[0]!.headers.get('authorization')).toBe(bearer(agent.sessionHolder.session!))
    expect(agent.sessionHolder.session!.data.accessJwt).not.toBe(saved.data.accessJwt)
  })

  it('makes a request whose token expired wait for the refresh, as before', async () => {
    const saved = expiringIn(-5)
    const net = hangingEntryway()
    const agent = new PasswordAgent(saved, { fetch: net.fetch, refreshAhead: { jitterMs: 0 } })
    setTimeout(net.release, 1500)
    const [res, ms] = await timed(agent.fetch('/xrpc/app.bsky.actor.getProfile'))
    expect(res.status).toBe(200)
    expect(ms).toBeGreaterThanOrEqual(1400)
    // It went out once, with the new token: never with the expired one.
    expect(net.sent()).toHaveLength(1)
    expect(net.sent()[0]!.headers.get('authorization')).not.toBe(bearer(saved))
  })

  it('makes a stream upload that could outlive the token wait for the refresh, as before', async () => {
    const saved = expiringIn(30)
    const net = hangingEntryway()
    const agent = new PasswordAgent(saved, { fetch: net.fetch, refreshAhead: { jitterMs: 0 } })
    setTimeout(net.release, 1500)
    const body = new ReadableStream({ start: (c) => c.close() })
    const init = { method: 'POST', body, duplex: 'half' } as RequestInit
    const [, ms] = await timed(agent.fetch('/xrpc/com.atproto.repo.uploadBlob', init))
    expect(ms).toBeGreaterThanOrEqual(1400)
    expect(net.sent()[0]!.headers.get('authorization')).not.toBe(bearer(saved))
  })

  it('waits at most half the time a token has left', async () => {
    // A token that expires at the next whole second, 500 to 1000 ms from now.
    if (Date.now() % 1000 > 500) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000)))
    const exp = Math.floor(Date.now() / 1000) + 1
    const left = exp * 1000 - Date.now()
    const iat = exp - 7200
    const saved = session({ refreshedAt: new Date(iat * 1000).toISOString() }, { accessJwt: fakeJwt({ iat, exp }) })
    const net = hangingEntryway()
    const agent = new PasswordAgent(saved, { fetch: net.fetch, refreshTimeoutMs: 5000, refreshAhead: { jitterMs: 0 } })
    const [res, ms] = await timed(agent.fetch('/xrpc/app.bsky.actor.getProfile'))
    expect(res.status).toBe(200)
    expect(ms).toBeGreaterThanOrEqual(left / 2 - 50)
    expect(ms).toBeLessThan(left / 2 + 400)
    expect(net.sent()[0]!.headers.get('authorization')).toBe(bearer(saved))
    net.release()
  })

  it('works the same with the middlewares composed around a SessionHolder', async () => {
    const saved = expiringIn(30)
    const net = hangingEntryway()
    const holder = new SessionHolder(saved, { fetch: net.fetch, timeoutMs: 10_000 })
    const f = pipeline([refreshAhead({ session: holder, jitterMs: 0 }), authHeader({ session: holder })], net.fetch)
    const [, firstMs] = await timed(f(`${PDS}/xrpc/x`))
    expect(firstMs).toBeLessThan(2500)
    const [, restMs] = await timed(f(`${PDS}/xrpc/x`))
    expect(restMs).toBeLessThan(500)
    expect(net.sent().map((c) => c.headers.get('authorization'))).toEqual([bearer(saved), bearer(saved)])
    net.release()
    await holder.refresh(saved)
  })
})

describe('a 429 is honoured for the scope it applies to', () => {
  /** The fake entryway, but createSession for the identifiers in `limited` answers 429 with `headers`. */
  const limitedLogins = (limited: Set<string>, headers: () => Record<string, string>) => {
    const server = fakeAccounts()
    let createSessions = 0
    const fetch: FetchLike = async (input, init) => {
      const request = new Request(input, init)
      if (!request.url.endsWith('/xrpc/com.atproto.server.createSession')) return server.fetch(input, init)
      createSessions++
      const { identifier } = (await request.clone().json()) as { identifier: string }
      if (!limited.has(identifier)) return server.fetch(request)
      const body = JSON.stringify({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' })
      return new Response(body, { status: 429, headers: { ...JSON_HEADERS, ...headers() } })
    }
    return { fetch, createSessions: () => createSessions }
  }
  const loginOf = (pool: PasswordAgentPool, identifier: string) =>
    pool.login({ service: FAKE_SERVICE, identifier, password: `pw-${identifier.replace(/^@/, '').toLowerCase()}` })

  it("createSession: the pool refuses an identifier's logins until the reset, without a request; others go on", async () => {
    const resetAt = Math.floor(Date.now() / 1000) + 300
    const net = limitedLogins(new Set(['alice']), () => ({
      'ratelimit-limit': '30',
      'ratelimit-remaining': '0',
      'ratelimit-reset': String(resetAt),
      date: new Date().toUTCString(),
    }))
    const pool = new PasswordAgentPool({ store: new MemoryAccountStore(), fetch: net.fetch })
    const first = await loginOf(pool, 'alice')
    expect(first.success).toBe(false)
    expect(net.createSessions()).toBe(1)
    // The same identifier, however written: refused here, no second request.
    for (const identifier of ['alice', '@alice', 'ALICE', '@Alice']) {
      const again = await loginOf(pool, identifier)
      if (again.success) throw new Error('login went through')
      expect(again).toBeInstanceOf(RateLimitedError)
      expect(again.error).toBe('RateLimitExceeded')
      expect(again.status).toBe(429)
      expect(again.message).toMatch(
        /^createSession for alice was rate limited by the server: retry after \S+Z \(in 30\d s\)/i,
      )
      // resetAt is the server's window (rounded up to the second).
      expect(
        Math.abs((again as unknown as RateLimitedError).resetAt!.getTime() - (resetAt + 1) * 1000),
      ).toBeLessThanOrEqual(1000)
    }
    expect(net.createSessions()).toBe(1)
    // Another identifier is unaffected.
    const bob = await loginOf(pool, 'bob')
    expect(bob.success).toBe(true)
    expect(net.createSessions()).toBe(2)
  })

  it('createSession: once the window reopens (Retry-After), the identifier logs in again', async () => {
    const limited = new Set(['carol'])
    const net = limitedLogins(limited, () => ({ 'retry-after': '1' }))
    const pool = new PasswordAgentPool({ store: new MemoryAccountStore(), fetch: net.fetch })
    expect((await loginOf(pool, 'carol')).success).toBe(false)
    expect((await loginOf(pool, 'carol')).success).toBe(false)
    expect(net.createSessions()).toBe(1)
    limited.clear()
    await new Promise((r) => setTimeout(r, 1100))
    expect((await loginOf(pool, 'carol')).success).toBe(true)
    expect(net.createSessions()).toBe(2)
  })

  it('createSession: a 429 that does not say when is not remembered (no guess)', async () => {
    const net = limitedLogins(new Set(['dave']), () => ({}))
    const pool = new PasswordAgentPool({ store: new MemoryAccountStore(), fetch: net.fetch })
    expect((await loginOf(pool, 'dave')).success).toBe(false)
    expect((await loginOf(pool, 'dave')).success).toBe(false)
    expect(net.createSessions()).toBe(2)
  })

  it("PDS writes: a 429 answered to one account's agent never delays another account's agent", async () => {
    const server = fakeAccounts()
    let writes = 0
    // The PDS limits alice's writes (per account) for 5 minutes; bob's go through.
    const fetch: FetchLike = async (input, init) => {
      const request = new Request(input, init)
      if (!request.url.endsWith('/xrpc/com.atproto.repo.createRecord')) return server.fetch(input, init)
      writes++
      const res = await server.fetch(request)
      const { did } = (await res.json()) as { did: string }
      if (did !== didOf('alice'))
        return new Response(JSON.stringify({ uri: `at://${did}/x/1` }), { headers: JSON_HEADERS })
      const reset = String(Math.floor(Date.now() / 1000) + 300)
      return new Response(JSON.stringify({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }), {
        status: 429,
        headers: { ...JSON_HEADERS, 'ratelimit-remaining': '0', 'ratelimit-reset': reset, 'retry-after': '300' },
      })
    }
    const pool = new PasswordAgentPool({ store: new MemoryAccountStore(), fetch })
    const agentOf = async (name: string) => {
      const result = await loginOf(pool, name)
      if (!result.success) throw new Error(`login of ${name} failed`)
      return result.value
    }
    const alice = await agentOf('alice')
    const bob = await agentOf('bob')
    const write = (agent: PasswordAgent) =>
      agent.fetch('/xrpc/com.atproto.repo.createRecord', { method: 'POST', body: '{}' })
    const start = performance.now()
    const [limited, fine] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, () => write(alice))),
      Promise.all(Array.from({ length: 20 }, () => write(bob))),
    ])
    const ms = performance.now() - start
    expect(limited.map((r) => r.status)).toEqual(Array(20).fill(429))
    expect(fine.map((r) => r.status)).toEqual(Array(20).fill(200))
    // Bob's writes, after alice's 429s: still at once.
    const [after, afterMs] = await timed(Promise.all(Array.from({ length: 20 }, () => write(bob))))
    expect(after.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(ms).toBeLessThan(1000)
    expect(afterMs).toBeLessThan(500)
    expect(writes).toBe(60) // no retry, no queue: each write sent once
  })
})

describe('backoff after faults is per origin', () => {
  // Real sockets on loopback: a PDS that answers, one that refuses connections,
  // one that answers 503 and one that accepts and never answers.
  const servers: http.Server[] = []
  const origins = { live: '', refused: '', failing: '', hanging: '' }
  const listen = async (handler: http.RequestListener) => {
    const server = http.createServer(handler)
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
  beforeAll(async () => {
    origins.live = await listen((req, res) => {
      res.writeHead(req.headers.authorization ? 200 : 401, JSON_HEADERS)
      res.end(JSON.stringify({ ok: true }))
    })
    origins.failing = await listen((_req, res) => {
      res.writeHead(503, JSON_HEADERS)
      res.end(JSON.stringify({ error: 'InternalServerError', message: 'down' }))
    })
    origins.hanging = await listen(() => {})
    // A port that was just free: connections to it are refused.
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise((resolve) => probe.close(resolve))
    origins.refused = `http://127.0.0.1:${port}`
  })
  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  /** A stored session of `did` on `pds`, its access token fresh (no refresh needed). */
  const stored = (did: DidString, pds: string) =>
    session(
      { pdsUrl: pds, service: FAKE_SERVICE },
      {
        did,
        handle: `${did.slice(8)}.test`,
        didDoc: didDoc(pds, did),
        accessJwt: fakeJwt({ sub: did }),
        refreshJwt: fakeJwt({ scope: 'com.atproto.refresh', sub: did }, 90 * 86400),
      },
    )

  it('a PDS origin refusing connections, failing or hanging never delays the accounts on another origin', async () => {
    const store = new MemoryAccountStore()
    const accounts: Record<keyof typeof origins, DidString[]> = { live: [], refused: [], failing: [], hanging: [] }
    for (const kind of Object.keys(origins) as (keyof typeof origins)[]) {
      for (let i = 0; i < 5; i++) {
        const did = didOf(`${kind}${i}`)
        accounts[kind].push(did)
        await store.account(did).set(stored(did, origins[kind]))
      }
    }
    const pool = new PasswordAgentPool({ store })
    const send = async (did: DidString, signal?: AbortSignal) =>
      (await pool.get(did))!.fetch('/xrpc/app.bsky.actor.getProfile', { signal })
    /** `rounds` rounds of one request per live account: the slowest request and every status. */
    const liveRounds = async (rounds: number) => {
      const statuses: number[] = []
      let slowest = 0
      for (let r = 0; r < rounds; r++) {
        await Promise.all(
          accounts.live.map(async (did) => {
            const start = performance.now()
            statuses.push((await send(did)).status)
            slowest = Math.max(slowest, performance.now() - start)
          }),
        )
      }
      return { statuses, slowest }
    }
    const alone = await liveRounds(20)
    expect(alone.statuses).toEqual(Array(100).fill(200))

    // Now the other origins' accounts keep sending (and failing) meanwhile.
    const stop = new AbortController()
    const failures = { refused: 0, failing: 0 }
    const storm = (kind: 'refused' | 'failing') =>
      Promise.all(
        accounts[kind].map(async (did) => {
          while (!stop.signal.aborted) {
            const res = await send(did).catch(() => undefined)
            expect(res?.status ?? 0).not.toBe(200)
            failures[kind]++
            await new Promise((r) => setImmediate(r))
          }
        }),
      )
    const hanging = accounts.hanging.map((did) => send(did, stop.signal).catch(() => 'aborted'))
    const storms = [storm('refused'), storm('failing')]
    const start = performance.now()
    const during = await liveRounds(20)
    const duringMs = performance.now() - start
    stop.abort()
    await Promise.all(storms)
    expect(await Promise.all(hanging)).toEqual(Array(5).fill('aborted'))

    console.info(
      `fair-sharing.spec: 100 live-origin requests alone: slowest ${alone.slowest.toFixed(1)} ms; ` +
        `beside ${failures.refused} refused, ${failures.failing} 503 and 5 hanging requests to other origins: ` +
        `slowest ${during.slowest.toFixed(1)} ms, all 100 in ${duringMs.toFixed(0)} ms`,
    )
    expect(during.statuses).toEqual(Array(100).fill(200))
    expect(failures.refused).toBeGreaterThan(10)
    expect(failures.failing).toBeGreaterThan(10)
    // No added delay: no request of a live account waited on another origin's faults.
    // (A shared backoff or retry would add 500 ms to 1 s or more per request.)
    expect(during.slowest).toBeLessThan(Math.max(750, alone.slowest * 4))
    expect(duringMs).toBeLessThan(5000)
  }, 15_000)
})
