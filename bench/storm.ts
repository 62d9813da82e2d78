// Expiry storm: 1,000 requests in flight when the access token dies, against
// the loopback mock entryway/PDS from the specs (real token rules, every
// request counted). Two cases: natural expiry (the JWT's `exp` has passed) and
// server-side revocation (the token is refused before its `exp`). Reported per
// library: refreshSession calls and total server requests during the storm.
import { AtpAgent } from '@atproto/api'
import { PasswordSession } from '@atproto/lex-password-session'
import { PasswordAgent } from 'lex-password-agent'
import { startMockEntryway, type MockEntryway } from '../spec/helpers/mock-entryway.ts'
import { emit, log, sleep } from './common.ts'

const N = Number(process.env.BENCH_STORM_N ?? 1000)
const PATH = '/xrpc/com.example.ping'
const LONG_TTL = 7_200_000

type Handler = (path: `/${string}`, init: RequestInit) => Promise<Response>
type Library = { key: string; label: string; login: (server: MockEntryway) => Promise<Handler> }

const credentials = { identifier: 'alice.test', password: 'pw' }

const libraries: Library[] = [
  {
    key: 'ours',
    label: 'lex-password-agent (preset, defaults)',
    login: async (server) => {
      const result = await PasswordAgent.login({ service: server.url, ...credentials })
      if (!result.success) throw result
      const agent = result.value
      return (path, init) => agent.fetchHandler(path, init)
    },
  },
  {
    key: 'upstream',
    label: '@atproto/lex-password-session',
    login: async (server) => {
      const session = await PasswordSession.login({ service: server.url, ...credentials })
      return (path, init) => session.fetchHandler(path, init)
    },
  },
  {
    key: 'api',
    label: '@atproto/api AtpAgent',
    login: async (server) => {
      const agent = new AtpAgent({ service: server.url })
      await agent.login(credentials)
      return (path, init) => agent.sessionManager.fetchHandler(path, init)
    },
  },
]

async function storm(server: MockEntryway, handler: Handler) {
  server.counts.clear()
  const answers = await Promise.all(
    Array.from({ length: N }, () => handler(PATH, { method: 'GET', headers: { accept: 'application/json' } })),
  )
  await Promise.all(answers.map((r) => r.arrayBuffer()))
  return {
    ok: answers.filter((r) => r.ok).length,
    refreshSession: server.counts.get('com.atproto.server.refreshSession') ?? 0,
    getSession: server.counts.get('com.atproto.server.getSession') ?? 0,
    serverRequests: server.total(),
  }
}

export async function main() {
  const server = await startMockEntryway({ accessTtlMs: LONG_TTL })
  const results = []
  try {
    for (const lib of libraries) {
      // Natural expiry: a 1 s token, the storm starts once it has lapsed.
      server.setAccessTtl(1_000)
      const expiring = await lib.login(server)
      server.setAccessTtl(LONG_TTL) // the refreshed token outlives the storm
      await sleep(1_100)
      const natural = await storm(server, expiring)

      // Revocation: a fresh 2 h token that the server stops accepting.
      const fresh = await lib.login(server)
      server.revokeAccess()
      const revoked = await storm(server, fresh)

      log(`storm ${lib.key}: natural ${JSON.stringify(natural)}, revocation ${JSON.stringify(revoked)}`)
      results.push({ key: lib.key, label: lib.label, natural, revoked })
    }
  } finally {
    await server.close()
  }
  return { n: N, libraries: results }
}

if (import.meta.main) emit('storm', await main())
