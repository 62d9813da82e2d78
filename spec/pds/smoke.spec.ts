// Proves the PDS harness itself: a real @atproto/pds on loopback, reached with plain fetch.
// Needs `bash spec/pds/install.sh` first.
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals'
import { startPds, isPdsInstalled, type TestAccount, type TestPds } from '../helpers/pds.ts'

const ACCESS_TTL_S = 2

async function xrpc(pds: TestPds, nsid: string, init: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {}
  if (init.token) headers['authorization'] = `Bearer ${init.token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${pds.url}/xrpc/${nsid}`, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined }
}

const claims = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { iat: number; exp: number; sub: string }

describe('PDS harness (real @atproto/pds on 127.0.0.1)', () => {
  let pds: TestPds
  let alice: TestAccount

  beforeAll(async () => {
    pds = await startPds({ accessTtlS: ACCESS_TTL_S })
    alice = await pds.createAccount('alice')
  }, 120_000) // the PDS itself may take up to 90 s to start on a loaded machine

  afterAll(async () => {
    await pds?.stop()
  }, 15_000)

  it('listens on 127.0.0.1 and creates accounts', () => {
    expect(isPdsInstalled()).toBe(true)
    expect(pds.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(pds.publicUrl).toMatch(/^http:\/\/localhost:\d+$/)
    expect(alice.handle).toBe('alice.test')
    expect(alice.did).toMatch(/^did:plc:/)
  })

  it('createSession with plain fetch returns 200 and a session', async () => {
    const res = await xrpc(pds, 'com.atproto.server.createSession', {
      body: { identifier: alice.handle, password: alice.password },
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ did: alice.did, handle: alice.handle, active: true })
    expect(typeof res.body?.['accessJwt']).toBe('string')
  })

  it('answers a minted, already expired access token with 400 ExpiredToken', async () => {
    const expired = pds.mintAccessJwt(alice.did, { expSecondsFromNow: -60 })
    const res = await xrpc(pds, 'com.atproto.server.getSession', { token: expired })
    expect(res.status).toBe(400)
    expect(res.body?.['error']).toBe('ExpiredToken')

    const valid = pds.mintAccessJwt(alice.did, { expSecondsFromNow: 60 })
    expect((await xrpc(pds, 'com.atproto.server.getSession', { token: valid })).status).toBe(200)
  })

  it('issues access tokens that expire after accessTtlS', async () => {
    const login = await xrpc(pds, 'com.atproto.server.createSession', {
      body: { identifier: alice.handle, password: alice.password },
    })
    const accessJwt = String(login.body?.['accessJwt'])
    const refreshJwt = String(login.body?.['refreshJwt'])
    const { iat, exp } = claims(accessJwt)
    expect(exp - iat).toBe(ACCESS_TTL_S)
    // iat is whole seconds, so the token has at least ACCESS_TTL_S - 1 seconds left here
    expect((await xrpc(pds, 'com.atproto.server.getSession', { token: accessJwt })).status).toBe(200)

    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 300))
    const expired = await xrpc(pds, 'com.atproto.server.getSession', { token: accessJwt })
    expect(expired.status).toBe(400)
    expect(expired.body?.['error']).toBe('ExpiredToken')

    // the refresh token is still good: refreshSession (a POST with no body) gives a working one
    const res = await fetch(`${pds.url}/xrpc/com.atproto.server.refreshSession`, {
      method: 'POST',
      headers: { authorization: `Bearer ${refreshJwt}` },
    })
    expect(res.status).toBe(200)
    const next = (await res.json()) as { accessJwt: string }
    expect((await xrpc(pds, 'com.atproto.server.getSession', { token: next.accessJwt })).status).toBe(200)
  }, 15_000)
})
