// An in-process fake entryway + PDS for many accounts, as a `fetch`: no
// sockets. createSession for `<name>` (password `pw-<name>`) answers for
// `did:plc:<name>`; refresh tokens are single-use; `expireAll()` makes every
// access token issued so far answer 400 ExpiredToken; every call is counted.
import type { FetchLike } from '../../lib/core/fetch.ts'
import { fakeJwt } from './fixtures.ts'

export const FAKE_SERVICE = 'https://entryway.example'

export type FakeAccounts = {
  fetch: FetchLike
  /** Calls per XRPC method, all accounts. */
  counts: Map<string, number>
  /** refreshSession calls per DID. */
  refreshes: Map<string, number>
  /** Every access token issued so far now answers 400 ExpiredToken. */
  expireAll: () => void
  total: () => number
}

export const didOf = (name: string) => `did:plc:${name}` as const

export function fakeAccounts(): FakeAccounts {
  const counts = new Map<string, number>()
  const refreshes = new Map<string, number>()
  const validRefresh = new Set<string>()
  const expired = new Set<string>()
  const issued: string[] = []
  const claims = (auth: string | null) => {
    try {
      return JSON.parse(Buffer.from((auth ?? '').replace(/^Bearer /, '').split('.')[1]!, 'base64url').toString())
    } catch {
      return null
    }
  }
  const issue = (did: string) => {
    const accessJwt = fakeJwt({ sub: did })
    const refreshJwt = fakeJwt({ scope: 'com.atproto.refresh', sub: did }, 90 * 86400)
    issued.push(accessJwt)
    validRefresh.add(refreshJwt)
    return { did, handle: `${did.slice(8)}.test`, accessJwt, refreshJwt, active: true }
  }
  const json = (status: number, body?: unknown) =>
    new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    })
  const fetch: FetchLike = async (input, init) => {
    const request = new Request(input, init)
    const url = new URL(request.url)
    const nsid = url.pathname.replace(/^\/xrpc\//, '')
    counts.set(nsid, (counts.get(nsid) ?? 0) + 1)
    const auth = request.headers.get('authorization')
    const token = (auth ?? '').replace(/^Bearer /, '')
    const c = claims(auth)
    switch (nsid) {
      case 'com.atproto.server.createSession': {
        const { identifier, password } = (await request.json()) as { identifier: string; password: string }
        if (password !== `pw-${identifier}`)
          return json(401, { error: 'AuthenticationRequired', message: 'Invalid identifier or password' })
        return json(200, issue(didOf(identifier)))
      }
      case 'com.atproto.server.refreshSession':
        if (c?.scope !== 'com.atproto.refresh' || !validRefresh.delete(token))
          return json(400, { error: 'ExpiredToken', message: 'Token has been revoked' })
        refreshes.set(c.sub, (refreshes.get(c.sub) ?? 0) + 1)
        return json(200, issue(c.sub))
      case 'com.atproto.server.deleteSession':
        return validRefresh.delete(token) ? json(200) : json(400, { error: 'ExpiredToken', message: 'revoked' })
    }
    if (c?.scope !== 'com.atproto.access')
      return json(401, { error: 'AuthMissing', message: 'Authentication Required' })
    if (expired.has(token)) return json(400, { error: 'ExpiredToken', message: 'Token has expired' })
    return json(200, { did: c.sub })
  }
  return {
    fetch,
    counts,
    refreshes,
    expireAll: () => issued.forEach((t) => expired.add(t)),
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
  }
}
