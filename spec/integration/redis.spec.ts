import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { Redis } from 'ioredis'
import { PasswordAgent } from '../../lib/password-agent.ts'
import { RedisSessionStore } from '../../lib/redis-session-store.ts'
import { session } from '../helpers/fixtures.ts'
import { startMockEntryway, type MockEntryway } from '../helpers/mock-entryway.ts'
import { redisUnavailableReason, startRedis, type TestRedis } from '../helpers/redis.ts'
import { totals, type WorkerCounts } from '../helpers/worker-totals.ts'

// RedisSessionStore against a real redis-server (127.0.0.1, random port, no
// persistence), and the multi-worker proof: 8 processes, one shared session.
const root = path.resolve(__dirname, '../..')
const skip = redisUnavailableReason()
if (skip) console.warn(`redis suite SKIPPED: ${skip}`)
const suite = skip ? describe.skip : describe

function worker(env: Record<string, string>) {
  return new Promise<{ code: number | null; signal: string | null; counts?: WorkerCounts; stdout: string }>(
    (resolve) => {
      const child = execFile(
        process.execPath,
        ['--conditions=lex-password-agent-source', 'spec/integration/fixtures/store-worker.ts'],
        { cwd: root, env: { ...process.env, CONCURRENCY: '4', ...env }, timeout: 60_000 },
        (_err, stdout) => {
          const last = stdout.trim().split('\n').pop() ?? ''
          resolve({
            code: child.exitCode,
            signal: child.signalCode,
            counts: last.startsWith('{"requests"') ? JSON.parse(last) : undefined,
            stdout,
          })
        },
      )
    },
  )
}

suite('RedisSessionStore on a real redis-server', () => {
  let redis: TestRedis
  let client: Redis
  beforeAll(async () => {
    redis = await startRedis()
    client = new Redis(redis.url)
  })
  afterAll(async () => {
    client?.disconnect()
    await redis?.stop()
  })

  it('stores exactly the Session JSON under one key, and deletes it', async () => {
    const store = new RedisSessionStore(client, { key: 'alice', prefix: 't1:' })
    expect(await store.get()).toBeUndefined()
    const s = session()
    await store.set(s)
    expect(JSON.parse((await client.get('t1:session:alice'))!)).toEqual(s)
    expect(await store.get()).toEqual(s)
    await store.delete()
    expect(await client.exists('t1:session:alice')).toBe(0)
  })

  it('lock: mutual exclusion across clients, SET NX PX with a random token, released only by its holder', async () => {
    const other = new Redis(redis.url)
    try {
      const a = new RedisSessionStore(client, { key: 'k', prefix: 't2:', lockTtlMs: 5_000 })
      const b = new RedisSessionStore(other, { key: 'k', prefix: 't2:', lockTtlMs: 5_000 })
      let inside = 0
      let max = 0
      const work = (store: RedisSessionStore) =>
        store.lock('L', async () => {
          inside++
          max = Math.max(max, inside)
          const token = await client.get('t2:lock:L')
          expect(token).toMatch(/^[0-9a-f-]{36}$/)
          expect(await client.pttl('t2:lock:L')).toBeGreaterThan(0)
          await new Promise((r) => setTimeout(r, 10))
          inside--
        })
      await Promise.all(Array.from({ length: 10 }, (_, i) => work(i % 2 ? a : b)))
      expect(max).toBe(1)
      expect(await client.exists('t2:lock:L')).toBe(0)
      // A holder whose lock expired and was taken must not release the new holder's lock.
      await a.lock('M', async () => {
        await client.set('t2:lock:M', 'someone-else', 'PX', 5_000)
      })
      expect(await client.get('t2:lock:M')).toBe('someone-else')
    } finally {
      other.disconnect()
    }
  })

  it('renews the lock while the holder works past its TTL', async () => {
    const store = new RedisSessionStore(client, { key: 'k', prefix: 't3:', lockTtlMs: 300 })
    let stolen = false
    const thief = new RedisSessionStore(client, { key: 'k', prefix: 't3:', lockTtlMs: 300, acquireTimeoutMs: 60_000 })
    const holding = store.lock('L', () => new Promise((r) => setTimeout(r, 1_000)))
    await new Promise((r) => setTimeout(r, 50))
    const thieving = thief.lock('L', async () => {
      stolen = true
    })
    await new Promise((r) => setTimeout(r, 700)) // > 2 TTLs: only renewal keeps it
    expect(stolen).toBe(false)
    await holding
    await thieving
    expect(stolen).toBe(true)
  })

  describe('8 workers sharing one session', () => {
    let server: MockEntryway
    beforeAll(async () => {
      server = await startMockEntryway({ accessTtlMs: 1_500 })
    })
    afterAll(() => server.close())

    it('never log out, refresh each generation at most once, and leave the newest session; a worker killed holding the lock does not stop the others', async () => {
      const store = new RedisSessionStore(client, { key: 'fleet', prefix: 't4:' })
      const login = await PasswordAgent.login({ service: server.url, identifier: 'alice.test', password: 'pw', store })
      if (!login.success) throw login
      const env = {
        REDIS_URL: redis.url,
        STORE_KEY: 'fleet',
        STORE_PREFIX: 't4:',
        LOCK_TTL_MS: '1000',
        DURATION_MS: '9000',
      }
      const killed = worker({ ...env, KILL_WHILE_LOCKED: '1' })
      const victim = await killed
      expect(victim.signal).toBe('SIGKILL')
      expect(victim.stdout).toContain('{"locked":true}')
      // The dead worker's lock is still there; the fleet must carry on once it expires.
      expect(await client.exists(`t4:lock:lex-password-agent:${server.did}`)).toBe(1)
      const results = await Promise.all(Array.from({ length: 8 }, () => worker(env)))
      const report = {
        ...totals(results.map((r) => r.counts!)),
        refreshSessionCalls: server.counts.get('com.atproto.server.refreshSession') ?? 0, // as the server counted them
        generationsRefreshedTwice: [...server.refreshUses.values()].filter((n) => n > 1).length,
      }
      console.log(`redis multi-worker: ${JSON.stringify(report)}`)
      expect(results.every((r) => r.code === 0)).toBe(true)
      expect(report.logouts).toBe(0)
      expect(report.failed).toBe(0)
      expect(report.refreshFailures).toBe(0)
      expect(report.generationsRefreshedTwice).toBe(0)
      expect(report.requests).toBeGreaterThan(500)
      expect(report.refreshSessionCalls).toBeGreaterThanOrEqual(4)
      expect((await store.get())?.data.refreshJwt).toBe(server.latestRefreshJwt())
    }, 90_000)
  })

  it('validates its options', () => {
    expect(() => new RedisSessionStore(client, { key: '' })).toThrow(
      new TypeError('RedisSessionStore: "key" must be a non-empty string'),
    )
    expect(() => new RedisSessionStore({} as never, { key: 'k' })).toThrow(/"redis" must be a Redis client/)
    expect(() => new RedisSessionStore(client, { key: 'k', lockTtlMs: 0 })).toThrow(/"lockTtlMs"/)
  })
})
