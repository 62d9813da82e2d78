import { describe, expect, it } from '@jest/globals'
import { LoggedOutError } from '../lib/errors.ts'
import { authHeader } from '../middleware/auth-header.ts'
import { FakeSource, recordingFetch } from './helpers/fake-source.ts'
import { PDS, SERVICE, session } from './helpers/fixtures.ts'

const ok = () => new Response('ok')

describe('authHeader', () => {
  it('adds the bearer access token to requests on the PDS origin', async () => {
    const s = session()
    const { fetch, calls } = recordingFetch(ok)
    await authHeader({ session: new FakeSource(s) })(fetch)(`${PDS}/xrpc/a.b.c`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    expect(calls[0]!.headers.get('content-type')).toBe('application/json')
    expect(calls[0]!.init?.body).toBe('{}')
  })

  it('adds it to session methods on the service, but not to other service calls', async () => {
    const s = session()
    const { fetch, calls } = recordingFetch(ok)
    const mw = authHeader({ session: new FakeSource(s) })(fetch)
    await mw(`${SERVICE}/xrpc/com.atproto.server.getSession`)
    await mw(`${SERVICE}/xrpc/com.atproto.repo.createRecord`)
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
    expect(calls[1]!.headers.has('authorization')).toBe(false)
  })

  it('keeps a caller-supplied Authorization header and adds none of its own', async () => {
    const { fetch, calls } = recordingFetch(ok)
    await authHeader({ session: new FakeSource(session()) })(fetch)(`${PDS}/x`, {
      headers: { Authorization: 'Basic YWRtaW46cGFzcw==' },
    })
    expect(calls[0]!.headers.get('authorization')).toBe('Basic YWRtaW46cGFzcw==')
  })

  it('merges into the headers of a Request input', async () => {
    const s = session()
    const { fetch, calls } = recordingFetch(ok)
    await authHeader({ session: new FakeSource(s) })(fetch)(
      new Request(`${PDS}/x`, { headers: { 'x-trace': '1' } }),
    )
    expect(calls[0]!.headers.get('x-trace')).toBe('1')
    expect(calls[0]!.headers.get('authorization')).toBe(`Bearer ${s.data.accessJwt}`)
  })

  it('never sends the token to another origin', async () => {
    const { fetch, calls } = recordingFetch(ok)
    const mw = authHeader({ session: new FakeSource(session()) })(fetch)
    await mw('https://evil.example/xrpc/a.b.c')
    await mw('http://pds.example/xrpc/a.b.c') // other scheme
    await mw('https://pds.example:8443/xrpc/a.b.c') // other port
    await mw('/xrpc/a.b.c') // unrouted path: unknown origin
    expect(calls.map((c) => c.headers.has('authorization'))).toEqual([false, false, false, false])
  })

  it('rejects with "Logged out" once the session is destroyed', async () => {
    const source = new FakeSource(session())
    source.destroyed = true
    const { fetch, calls } = recordingFetch(ok)
    await expect(authHeader({ session: source })(fetch)(`${PDS}/x`)).rejects.toThrow(LoggedOutError)
    expect(calls).toHaveLength(0)
  })
})
