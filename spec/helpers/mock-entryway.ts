// A loopback fake of an entryway + PDS with real token rules, for tests and
// benchmarks that need many processes or real sockets: access JWTs expire
// after `accessTtlMs` (400 ExpiredToken after that), refresh tokens are
// strictly single-use (a reuse is 400 ExpiredToken "Token has been revoked",
// stricter than the reference PDS's 2 h grace), and every request is counted.
// With `refreshGrace: 'unused-successor'`, a spent refresh token is accepted
// again while the successor it was rotated to is still unused: the rotation a
// client killed before saving it (see spec/integration/agent-kill.spec.ts).
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** One refreshSession request, as the server saw it (a digest, never the token). */
export type RefreshUse = {
  /** {@link tokenDigest} of the refresh token presented. */
  digest: string
  /** The caller's `x-worker-pid` header, if it sent one. */
  pid: number | undefined
  /** When the server read the request (epoch ms, sub-ms precision). */
  at: number
  /** A new generation, the unsaved successor handed out again, or refused. */
  outcome: 'rotated' | 'grace' | 'revoked'
}

/** A short digest of a token, for logs and comparisons. */
export const tokenDigest = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16)

export type MockEntrywayOptions = {
  accessTtlMs?: number
  handle?: string
  /**
   * `'none'` (default): a spent refresh token is always 400 ExpiredToken.
   * `'unused-successor'`: presenting a spent token R again returns R's
   * successor S (with a fresh access token) as long as S was never presented
   * itself, as the reference PDS's grace would; once S was used, R is revoked.
   */
  refreshGrace?: 'none' | 'unused-successor'
  /**
   * Answer refreshSession this long after rotating (default 0), like a remote
   * entryway: the window in which a client holds new tokens it has not saved yet.
   */
  refreshLatencyMs?: number
}

export type MockEntryway = {
  url: string
  did: string
  /** Requests per XRPC method. */
  counts: Map<string, number>
  /** refreshSession attempts per refresh token (a value > 1 is a double refresh). */
  refreshUses: Map<string, number>
  /** Every refreshSession request in arrival order. */
  refreshLog: RefreshUse[]
  /** Callers (`x-worker-pid`) whose refreshSession the server has rotated but not answered yet. */
  refreshesInFlight: () => number[]
  /** The token a spent `refreshJwt` would be answered with under the grace now, if any. */
  graceSuccessor: (refreshJwt: string) => string | undefined
  /** The newest refresh token issued. */
  latestRefreshJwt: () => string
  /** Mint a session as createSession would. */
  issue: () => Record<string, unknown>
  /** Lifetime of access tokens issued from now on. */
  setAccessTtl: (ms: number) => void
  /** Revoke every access token issued so far (server-side revocation). */
  revokeAccess: () => void
  total: () => number
  close: () => Promise<void>
}

const REVOKED = { error: 'ExpiredToken', message: 'Token has been revoked' }
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

export async function startMockEntryway(opts: MockEntrywayOptions = {}): Promise<MockEntryway> {
  let accessTtlMs = opts.accessTtlMs ?? 7_200_000
  const did = 'did:plc:mockmockmockmockmockmock'
  const handle = opts.handle ?? 'alice.test'
  const counts = new Map<string, number>()
  const refreshUses = new Map<string, number>()
  const valid = new Set<string>() // unused refresh tokens
  const successor = new Map<string, string>() // spent refresh token → the one it was rotated to
  const refreshLog: RefreshUse[] = []
  const grace = opts.refreshGrace ?? 'none'
  const latencyMs = opts.refreshLatencyMs ?? 0
  const inFlight = new Map<RefreshUse, number>()
  const revokedAccess = new Set<string>()
  let seq = 0
  let latest = ''
  const jwt = (claims: Record<string, unknown>) => `${b64({ typ: 'at+jwt', alg: 'HS256' })}.${b64(claims)}.c2ln`

  // `again`: the grace answer, a fresh access token for an already issued refresh token.
  const issue = (again?: string) => {
    const n = ++seq
    const now = Date.now()
    const accessJwt = jwt({
      scope: 'com.atproto.access',
      sub: did,
      iat: Math.floor(now / 1000),
      exp: (now + accessTtlMs) / 1000,
      n,
    })
    const refreshJwt =
      again ?? jwt({ scope: 'com.atproto.refresh', sub: did, jti: `r${n}`, exp: Math.floor(now / 1000) + 86400 })
    if (!again) {
      valid.add(refreshJwt)
      latest = refreshJwt
    }
    return { did, handle, accessJwt, refreshJwt, email: 'alice@example.test', emailConfirmed: true, active: true }
  }
  const claims = (auth: string | undefined) => {
    try {
      return JSON.parse(Buffer.from((auth ?? '').replace(/^Bearer /, '').split('.')[1] ?? '', 'base64url').toString())
    } catch {
      return null
    }
  }

  const graceFor = (token: string) => {
    const next = successor.get(token)
    return grace === 'unused-successor' && next !== undefined && valid.has(next) ? next : undefined
  }

  const server = http.createServer((req, res) => {
    const nsid = (req.url ?? '').replace(/^\/xrpc\//, '').split('?')[0]!
    counts.set(nsid, (counts.get(nsid) ?? 0) + 1)
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
      res.end(body === undefined ? undefined : JSON.stringify(body))
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const auth = req.headers.authorization
      const c = claims(auth)
      switch (nsid) {
        case 'com.atproto.server.createSession':
          return send(200, issue())
        case 'com.atproto.server.refreshSession':
        case 'com.atproto.server.deleteSession': {
          const token = (auth ?? '').replace(/^Bearer /, '')
          if (c?.scope !== 'com.atproto.refresh')
            return send(400, { error: 'InvalidToken', message: 'Invalid token type' })
          if (nsid.endsWith('deleteSession')) {
            return valid.delete(token) ? send(200) : send(400, REVOKED)
          }
          refreshUses.set(token, (refreshUses.get(token) ?? 0) + 1)
          const pid = Number(req.headers['x-worker-pid']) || undefined
          const at = performance.timeOrigin + performance.now()
          const use: RefreshUse = { digest: tokenDigest(token), pid, at, outcome: 'rotated' }
          refreshLog.push(use)
          const answer = (): [number, unknown] => {
            if (valid.delete(token)) {
              const body = issue()
              successor.set(token, body.refreshJwt)
              return [200, body]
            }
            const again = graceFor(token)
            use.outcome = again ? 'grace' : 'revoked'
            return again ? [200, issue(again)] : [400, REVOKED]
          }
          const [status, body] = answer()
          if (!latencyMs) return send(status, body)
          if (pid !== undefined) inFlight.set(use, pid)
          return void setTimeout(() => {
            inFlight.delete(use)
            send(status, body)
          }, latencyMs)
        }
      }
      if (!c || c.scope !== 'com.atproto.access')
        return send(401, { error: 'AuthMissing', message: 'Authentication Required' })
      if (c.exp * 1000 <= Date.now() || revokedAccess.has(String(c.n))) {
        return send(400, { error: 'ExpiredToken', message: 'Token has expired' })
      }
      return send(200, { ok: true, did, bytes: Buffer.concat(chunks).length })
    })
  })
  // Longer than any client keeps an idle socket, so the client never reuses one we are closing (ECONNRESET).
  server.keepAliveTimeout = 65_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    did,
    counts,
    refreshUses,
    refreshLog,
    refreshesInFlight: () => [...inFlight.values()],
    graceSuccessor: graceFor,
    latestRefreshJwt: () => latest,
    issue,
    setAccessTtl: (ms) => {
      accessTtlMs = ms
    },
    revokeAccess: () => {
      for (let i = 1; i <= seq; i++) revokedAccess.add(String(i))
    },
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
