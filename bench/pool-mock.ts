// The loopback mock for bench/pool.ts, run as its own process (its CPU and
// memory are not the client's): an entryway origin (refreshSession) and
// `BENCH_POOL_PDS` PDS origins (default 20), each its own port on 127.0.0.1.
// Prints `{"entryway": …, "pds": […]}` once listening; exits when its stdin
// closes.
//
// Tokens are unsigned JWT-shaped strings (the client never checks signatures):
// the access token's payload has `sub` (the DID), `iat`, `exp` and `gen` (the
// account's token generation, 0 for the seeded ones), the refresh token's the
// same plus the access token's `aiat`/`aexp`. Rules, as the reference PDS:
// an access token is good until its `exp` (then `400 ExpiredToken`), the
// refresh token is single use (a second use is counted as a reuse and refused).
// A request on the wrong PDS origin for its DID is counted as misrouted.
//
// Counted: requests per PDS origin and status, ExpiredToken answers, every
// refresh (per wall-clock second, and whether the generation it ends had
// expired, was in the refresh-ahead window (last quarter of its life, as
// `refreshAhead` computes it for short tokens) or neither: premature), reused
// refresh tokens, and the generations seen (by a request or a refresh) after
// their refresh-ahead instant and after their expiry.
//
// Control (entryway origin): `GET /stats`, `POST /reset` (counters only, not
// the generations), `POST /mode?pds=<i>&mode=ok|429|refuse&resetS=<s>` (a PDS
// that answers 429 with `RateLimit-Reset`, or whose port is closed).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { claims, dueMs, pdsIndex, tokens, type Claims } from './pool-tokens.ts'

const PDS_COUNT = Number(process.env.BENCH_POOL_PDS ?? 20)
const NEW_TTL_S = Number(process.env.BENCH_POOL_NEW_TTL_S ?? 25)

/** Each DID's current generation (absent: 0, the seeded one). */
const generation = new Map<string, number>()

function newCounters() {
  return {
    perPds: Array.from({ length: PDS_COUNT }, () => ({ ok: 0, expired: 0, limited: 0, other: 0 })),
    misrouted: 0,
    refreshes: 0,
    refreshesAfterExpiry: 0,
    refreshesInWindow: 0,
    refreshesPremature: 0,
    reusedRefreshTokens: 0,
    /** refreshes per epoch second */
    refreshesPerSecond: {} as Record<string, number>,
    /** `did#gen` of generations seen at or after their refresh-ahead instant / their expiry */
    dueSeen: new Set<string>(),
    expiredSeen: new Set<string>(),
  }
}
let counters = newCounters()

function see(c: Claims, now: number) {
  const key = `${c.sub}#${c.gen}`
  const iat = c.aiat ?? c.iat
  const exp = c.aexp ?? c.exp
  if (now >= dueMs(iat, exp)) counters.dueSeen.add(key)
  if (now >= exp * 1000) counters.expiredSeen.add(key)
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}
const bearer = (req: http.IncomingMessage) => /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]

type Mode = { mode: 'ok' | '429' | 'refuse'; resetS: number }
const modes: Mode[] = Array.from({ length: PDS_COUNT }, () => ({ mode: 'ok', resetS: 2 }))

function pdsHandler(index: number): http.RequestListener {
  return (req, res) => {
    req.resume()
    req.on('end', () => {
      const count = counters.perPds[index]!
      const mode = modes[index]!
      if (mode.mode === '429') {
        count.limited++
        const reset = Math.ceil(Date.now() / 1000) + mode.resetS
        return json(
          res,
          429,
          { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' },
          { 'ratelimit-limit': '3000', 'ratelimit-remaining': '0', 'ratelimit-reset': String(reset) },
        )
      }
      const c = claims(bearer(req))
      if (!c || c.scope !== 'com.atproto.access') {
        count.other++
        return json(res, 401, { error: 'AuthMissing', message: 'Authentication Required' })
      }
      const now = Date.now()
      see(c, now)
      if (pdsIndex(c.sub, PDS_COUNT) !== index) counters.misrouted++
      if (now >= c.exp * 1000) {
        count.expired++
        return json(res, 400, { error: 'ExpiredToken', message: 'Token has expired' })
      }
      count.ok++
      json(res, 200, { ok: true })
    })
  }
}

function refresh(req: http.IncomingMessage, res: http.ServerResponse) {
  const c = claims(bearer(req))
  if (!c || c.scope !== 'com.atproto.refresh') return json(res, 400, { error: 'InvalidToken', message: 'bad token' })
  const now = Date.now()
  see(c, now)
  const current = generation.get(c.sub) ?? 0
  if (c.gen !== current) {
    counters.reusedRefreshTokens++
    return json(res, 400, { error: 'ExpiredToken', message: 'Token has been revoked' })
  }
  counters.refreshes++
  if (now >= c.aexp! * 1000) counters.refreshesAfterExpiry++
  else if (now >= dueMs(c.aiat!, c.aexp!)) counters.refreshesInWindow++
  else counters.refreshesPremature++
  const second = String(Math.floor(now / 1000))
  counters.refreshesPerSecond[second] = (counters.refreshesPerSecond[second] ?? 0) + 1
  const gen = current + 1
  generation.set(c.sub, gen)
  json(res, 200, tokens(c.sub, gen, Math.floor(now / 1000), NEW_TTL_S))
}

const stats = () => {
  const { dueSeen, expiredSeen, ...rest } = counters
  return { ...rest, generationsDueSeen: dueSeen.size, generationsExpiredSeen: expiredSeen.size }
}

const entryway = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x')
  req.resume()
  req.on('end', () => {
    if (url.pathname === '/xrpc/com.atproto.server.refreshSession' && req.method === 'POST') return refresh(req, res)
    if (url.pathname === '/stats') return json(res, 200, stats())
    if (url.pathname === '/reset' && req.method === 'POST') {
      counters = newCounters()
      return json(res, 200, {})
    }
    if (url.pathname === '/mode' && req.method === 'POST') {
      const i = Number(url.searchParams.get('pds'))
      const mode = url.searchParams.get('mode') as Mode['mode']
      modes[i] = { mode, resetS: Number(url.searchParams.get('resetS') ?? 2) }
      return setMode(i, mode).then(() => json(res, 200, {}))
    }
    json(res, 404, { error: 'MethodNotImplemented', message: url.pathname })
  })
})

const servers: http.Server[] = []
const ports: number[] = []
const listen = (server: http.Server, port = 0) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })

/** `refuse` closes the PDS's port (connections are refused); `ok`/`429` reopen it. */
async function setMode(i: number, mode: Mode['mode']) {
  const server = servers[i]!
  if (mode === 'refuse' && server.listening) {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  } else if (mode !== 'refuse' && !server.listening) {
    await listen(server, ports[i])
  }
}

for (let i = 0; i < PDS_COUNT; i++) {
  const server = http.createServer(pdsHandler(i))
  server.keepAliveTimeout = 65_000
  servers.push(server)
  ports.push(await listen(server))
}
entryway.keepAliveTimeout = 65_000
const entrywayPort = await listen(entryway)
process.stdout.write(
  `${JSON.stringify({ entryway: `http://127.0.0.1:${entrywayPort}`, pds: ports.map((p) => `http://127.0.0.1:${p}`) })}\n`,
)
process.stdin.resume()
process.stdin.on('end', () => {
  for (const s of [...servers, entryway]) {
    s.closeAllConnections()
    s.close()
  }
})
