import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PasswordAgent } from '../../lib/password-agent.ts'
import { startMockEntryway, type MockEntryway } from '../helpers/mock-entryway.ts'

// 1,000 requests in flight when the token dies, over real loopback sockets.
// Natural expiry (JWT exp passed): refreshAhead sees it first, so the server
// gets one refreshSession and 1,000 app requests. Server-side revocation: every
// request gets ExpiredToken, one shared refresh, one replay each.
const N = 1000
let server: MockEntryway

beforeAll(async () => {
  server = await startMockEntryway()
})
afterAll(() => server.close())

async function storm(agent: PasswordAgent) {
  server.counts.clear()
  const answers = await Promise.all(Array.from({ length: N }, () => agent.fetch('/xrpc/com.example.ping')))
  await Promise.all(answers.map((r) => r.arrayBuffer()))
  return {
    ok: answers.filter((r) => r.ok).length,
    refreshes: server.counts.get('com.atproto.server.refreshSession') ?? 0,
    serverRequests: server.total(),
  }
}

async function login() {
  const result = await PasswordAgent.login({
    service: server.url,
    identifier: 'alice.test',
    password: 'pw',
    refreshAhead: { marginMs: 100, jitterMs: 0 },
  })
  if (!result.success) throw result
  return result.value
}

describe(`${N} requests in flight at expiry`, () => {
  it('natural expiry: 1 refreshSession and N + 1 server requests, all succeed', async () => {
    server.setAccessTtl(1_000)
    const agent = await login()
    server.setAccessTtl(7_200_000) // the refreshed token outlives the storm
    await new Promise((r) => setTimeout(r, 1_100)) // let the 1 s token lapse
    const figures = await storm(agent)
    console.log(`expiry storm, natural expiry: ${JSON.stringify(figures)}`)
    expect(figures).toEqual({ ok: N, refreshes: 1, serverRequests: N + 1 })
  }, 60_000)

  it('server-side revocation: 1 refreshSession and 2N + 1 server requests, all succeed', async () => {
    const agent = await PasswordAgent.login({
      service: server.url,
      identifier: 'alice.test',
      password: 'pw',
      refreshAhead: false,
    })
    if (!agent.success) throw agent
    server.revokeAccess()
    const figures = await storm(agent.value)
    console.log(`expiry storm, revocation: ${JSON.stringify(figures)}`)
    expect(figures).toEqual({ ok: N, refreshes: 1, serverRequests: 2 * N + 1 })
  }, 60_000)
})
