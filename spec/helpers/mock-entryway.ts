// A loopback fake of an entryway + PDS with real token rules, for tests and
// benchmarks that need many processes or real sockets: access JWTs expire
// after `accessTtlMs` (400 ExpiredToken after that), refresh tokens are
// strictly single-use (a reuse is 400 ExpiredToken "Token has been revoked",
// stricter than the reference PDS's 2 h grace), and every request is counted.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type MockEntryway = {
  url: string
  did: string
  /** Requests per XRPC method. */
  counts: Map<string, number>
  /** refreshSession attempts per refresh token (a value > 1 is a double refresh). */
  refreshUses: Map<string, number>
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

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

export async function startMockEntryway(opts: { accessTtlMs?: number; handle?: string } = {}): Promise<MockEntryway> {
  let accessTtlMs = opts.accessTtlMs ?? 7_200_000
  const did = 'did:plc:mockmockmockmockmockmock'
  const handle = opts.handle ?? 'alice.test'
  const counts = new Map<string, number>()
  const refreshUses = new Map<string, number>()
  const valid = new Set<string>() // unused refresh tokens
  const revokedAccess = new Set<string>()
  let seq = 0
  let latest = ''
  const jwt = (claims: Record<string, unknown>) => `${b64({ typ: 'at+jwt', alg: 'HS256' })}.${b64(claims)}.c2ln`

  const issue = () => {
    const n = ++seq
    const now = Date.now()
    const accessJwt = jwt({ scope: 'com.atproto.access', sub: did, iat: Math.floor(now / 1000), exp: (now + accessTtlMs) / 1000, n })
    const refreshJwt = jwt({ scope: 'com.atproto.refresh', sub: did, jti: `r${n}`, exp: Math.floor(now / 1000) + 86400 })
    valid.add(refreshJwt)
    latest = refreshJwt
    return { did, handle, accessJwt, refreshJwt, email: 'alice@example.test', emailConfirmed: true, active: true }
  }
  const claims = (auth: string | undefined) => {
    try {
      return JSON.parse(Buffer.from((auth ?? '').replace(/^Bearer /, '').split('.')[1] ?? '', 'base64url').toString())
    } catch {
      return null
    }
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
          if (c?.scope !== 'com.atproto.refresh') return send(400, { error: 'InvalidToken', message: 'Invalid token type' })
          if (nsid.endsWith('refreshSession')) refreshUses.set(token, (refreshUses.get(token) ?? 0) + 1)
          if (!valid.delete(token)) return send(400, { error: 'ExpiredToken', message: 'Token has been revoked' })
          return nsid.endsWith('refreshSession') ? send(200, issue()) : send(200)
        }
      }
      if (!c || c.scope !== 'com.atproto.access') return send(401, { error: 'AuthMissing', message: 'Authentication Required' })
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
