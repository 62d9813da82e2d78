// The loopback services the runtime matrix runs against, started from Node:
// four origins on 127.0.0.1, one server (port) each.
//
//   entryway  createSession / refreshSession / getSession / deleteSession, plus
//             the control paths /_mock/expire (?keep=latest: all but the
//             newest access token) and /_mock/stats;
//   pds       the account's PDS (named in the DID document the entryway hands
//             out): app.bsky.actor.getProfile, com.atproto.repo.uploadBlob
//             and any other XRPC call, each checking its access token;
//   foreign   another origin that must never see a token: answers anything;
//   page      the browser's page origin: serves `pageFiles` (path → content).
//
// Token rules as the real server's, stricter where it helps the test: access
// tokens are JWT-shaped with an `exp` (400 ExpiredToken after it, or after
// POST /_mock/expire), refresh tokens are single-use (a reuse is 400
// ExpiredToken "Token has been revoked"). Every request is counted per origin
// and method, with whether it carried an Authorization header; GET
// /_mock/stats returns the counts. CORS everywhere (preflights answered and
// counted apart), so a page on its own origin can call every other one.
//
// `tls: { key, cert }` serves every origin over HTTPS with HTTP/2 (and
// HTTP/1.1): Chromium streams a request body only over HTTP/2.
import { createHash } from 'node:crypto'
import http from 'node:http'
import http2 from 'node:http2'

export const DID = 'did:plc:runtimematrixaliceaaaaaa'
export const HANDLE = 'alice.test'
export const PASSWORD = 'hunter2-runtime-matrix'
const ORIGINS = ['entryway', 'pds', 'foreign', 'page']
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, atproto-proxy, atproto-accept-labelers',
  'access-control-max-age': '0',
}
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * Starts the four origins. Options: `accessTtlMs` (default 10 min: long
 * enough that no refresh-ahead fires during a run, so every refresh counted is
 * one the scenario caused), `tls`, `pageFiles` (`{ '/index.html': { type, body } }`).
 */
export async function startMockServer({ accessTtlMs = 600_000, tls, pageFiles = {} } = {}) {
  let seq = 0
  const validRefresh = new Set()
  const issued = [] // every token handed out (the runner looks for them in output)
  let revokedBelow = 0 // access tokens with n <= this are expired (forced)
  const counts = Object.fromEntries(ORIGINS.map((o) => [o, {}]))
  const withAuth = Object.fromEntries(ORIGINS.map((o) => [o, 0]))
  const preflights = Object.fromEntries(ORIGINS.map((o) => [o, 0]))
  const answers = { expiredToken: 0, revokedRefresh: 0 }
  const uploads = []
  const urls = {}

  const jwt = (claims) => `${b64({ typ: 'at+jwt', alg: 'HS256' })}.${b64(claims)}.${b64(`sig${seq}`)}`
  const issue = () => {
    const n = ++seq
    const now = Math.floor(Date.now() / 1000)
    const accessJwt = jwt({ scope: 'com.atproto.access', sub: DID, iat: now, exp: now + accessTtlMs / 1000, n })
    const refreshJwt = jwt({ scope: 'com.atproto.refresh', sub: DID, jti: `r${n}-${Math.random()}`, exp: now + 86400 })
    validRefresh.add(refreshJwt)
    issued.push(accessJwt, refreshJwt)
    const didDoc = {
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: DID,
      alsoKnownAs: [`at://${HANDLE}`],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: urls.pds }],
    }
    return { did: DID, handle: HANDLE, accessJwt, refreshJwt, didDoc, email: 'alice@example.test', active: true }
  }
  const claimsOf = (auth) => {
    try {
      return JSON.parse(Buffer.from(auth.replace(/^Bearer /, '').split('.')[1] ?? '', 'base64url').toString())
    } catch {
      return null
    }
  }
  // A valid access token: issued here, not expired by its exp or by /_mock/expire.
  const accessOk = (auth) => {
    const c = claimsOf(auth ?? '')
    if (c?.scope !== 'com.atproto.access' || !issued.includes(auth.slice(7))) return 'missing'
    return c.exp * 1000 <= Date.now() || c.n <= revokedBelow ? 'expired' : 'ok'
  }

  // Every access token issued so far expired; `keepLatest`: all but the newest (which a client must then be using).
  const expire = ({ keepLatest = false } = {}) => (revokedBelow = keepLatest ? seq - 1 : seq)

  const stats = () => ({ counts, withAuth, preflights, answers, uploads, issued: issued.length })

  const handlers = {
    entryway(req, body, send) {
      if (req.path === '/_mock/expire' && req.method === 'POST')
        return send(200, { expiredUpTo: expire({ keepLatest: req.query.get('keep') === 'latest' }) })
      if (req.path === '/_mock/stats') return send(200, stats())
      const token = (req.auth ?? '').replace(/^Bearer /, '')
      switch (req.nsid) {
        case 'com.atproto.server.createSession': {
          const input = JSON.parse(body.toString() || '{}')
          if ((input.identifier !== HANDLE && input.identifier !== DID) || input.password !== PASSWORD)
            return send(401, { error: 'AuthenticationRequired', message: 'Invalid identifier or password' })
          return send(200, issue())
        }
        case 'com.atproto.server.refreshSession':
          if (!validRefresh.delete(token)) {
            answers.revokedRefresh++
            return send(400, { error: 'ExpiredToken', message: 'Token has been revoked' })
          }
          return send(200, issue())
        case 'com.atproto.server.deleteSession':
          return validRefresh.delete(token)
            ? send(200)
            : send(400, { error: 'ExpiredToken', message: 'Token has been revoked' })
        case 'com.atproto.server.getSession': {
          const state = accessOk(req.auth)
          if (state !== 'ok') return unauthorized(state, send)
          const { accessJwt: _a, refreshJwt: _r, ...rest } = issue()
          return send(200, rest)
        }
      }
      return send(404, { error: 'MethodNotImplemented', message: 'Not on the entryway' })
    },
    pds(req, body, send) {
      const state = accessOk(req.auth)
      if (state !== 'ok') return unauthorized(state, send)
      if (req.nsid === 'com.atproto.repo.uploadBlob') {
        // ?redirect=1: the upload is answered with a redirect to the foreign origin (never to be followed).
        if (req.query.has('redirect'))
          return send(307, undefined, { location: `${urls.foreign}/xrpc/com.atproto.repo.uploadBlob` })
        uploads.push({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') })
        return send(200, { size: body.length })
      }
      if (req.nsid === 'app.bsky.actor.getProfile') return send(200, { did: DID, handle: HANDLE })
      return send(200, { ok: true })
    },
    foreign: (_req, _body, send) => send(200, { ok: true }),
    page(req, _body, send, res) {
      const file = pageFiles[req.path === '/' ? '/index.html' : req.path]
      if (!file) return send(404, { error: 'NotFound' })
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' })
      res.end(file.body)
    },
  }
  const unauthorized = (state, send) => {
    if (state === 'expired') {
      answers.expiredToken++
      return send(400, { error: 'ExpiredToken', message: 'Token has expired' })
    }
    return send(401, { error: 'AuthMissing', message: 'Authentication Required' })
  }

  const listen = (origin) => {
    const onRequest = (req, res) => {
      const [path, search] = (req.url ?? '/').split('?')
      const nsid = path.startsWith('/xrpc/') ? path.slice(6) : undefined
      const send = (status, json, headers = {}) => {
        res.writeHead(status, {
          ...CORS,
          ...headers,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        })
        res.end(json === undefined ? undefined : JSON.stringify(json))
      }
      if (req.method === 'OPTIONS') {
        preflights[origin]++
        return send(204)
      }
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        if (!path.startsWith('/_mock/')) {
          const key = nsid ?? path
          counts[origin][key] = (counts[origin][key] ?? 0) + 1
          if (req.headers.authorization !== undefined) withAuth[origin]++
        }
        const info = {
          method: req.method,
          path,
          nsid,
          query: new URLSearchParams(search),
          auth: req.headers.authorization,
        }
        try {
          handlers[origin](info, Buffer.concat(chunks), send, res)
        } catch (err) {
          send(500, { error: 'InternalServerError', message: String(err) })
        }
      })
    }
    const server = tls
      ? http2.createSecureServer({ ...tls, allowHTTP1: true }, onRequest)
      : http.createServer({ keepAliveTimeout: 65_000 }, onRequest)
    const sockets = new Set()
    server.on(tls ? 'secureConnection' : 'connection', (s) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    })
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        urls[origin] = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`
        resolve({ server, sockets })
      })
    })
  }

  const servers = await Promise.all(ORIGINS.map(listen))
  return {
    /** Origin URLs (no trailing slash): entryway, pds, foreign, page. */
    urls: { ...urls },
    stats,
    /** What POST /_mock/expire does, from Node: `{ keepLatest }` keeps the newest access token valid. */
    expire,
    /** Every token issued so far: none may appear in anything a runtime printed. */
    issuedTokens: () => [...issued],
    close: () =>
      Promise.all(
        servers.map(
          ({ server, sockets }) =>
            new Promise((resolve) => {
              for (const s of sockets) s.destroy()
              server.close(() => resolve())
            }),
        ),
      ),
  }
}
