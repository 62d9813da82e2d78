import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'
import type { AccountStore } from '../../lib/index.ts'
import { FileAccountStore } from '../../lib/file-account-store.ts'
import { PasswordAgentPool } from '../../lib/password-agent-pool.ts'
import { RedisAccountStore } from '../../lib/redis-account-store.ts'
import { fakeAccounts, type FakeAccounts } from '../helpers/fake-accounts.ts'
import { redisUnavailableReason, startRedis, type TestRedis } from '../helpers/redis.ts'

// Pools in separate processes on one store: 20 accounts whose access tokens all
// expired, 4 workers each making 4 concurrent requests per account with a cap
// of 5 agents: every account is refreshed exactly once in all (single-use
// refresh tokens: a second refresh of one generation would end the session),
// the others adopt the new session from the store.
const root = path.resolve(__dirname, '../..')
const ACCOUNTS = 20
const WORKERS = 4

type Counts = { requests: number; ok: number; deleted: number; refreshed: number; accounts: number }
function worker(env: Record<string, string>) {
  return new Promise<{ code: number | null; counts?: Counts; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--conditions=lex-password-agent-source', 'spec/integration/fixtures/pool-worker.ts'],
      { cwd: root, env: { ...process.env, CONCURRENCY: '4', ...env }, timeout: 60_000 },
      (_err, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? ''
        resolve({ code: child.exitCode, counts: last.startsWith('{') ? JSON.parse(last) : undefined, stderr })
      },
    )
  })
}

let server: http.Server
let fake: FakeAccounts
let url: string
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const body = chunks.length ? Buffer.concat(chunks) : undefined
      const headers = Object.entries(req.headers).flatMap(([k, v]) =>
        typeof v === 'string' ? [[k, v] as [string, string]] : [],
      )
      const answer = await fake.fetch(`${url}${req.url}`, { method: req.method, headers, body })
      res.writeHead(answer.status, Object.fromEntries(answer.headers))
      res.end(Buffer.from(await answer.arrayBuffer()))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

async function run(store: AccountStore, env: Record<string, string>) {
  fake = fakeAccounts()
  const pool = new PasswordAgentPool({ store })
  for (let i = 0; i < ACCOUNTS; i++) {
    const result = await pool.login({ service: url, identifier: `user${i}`, password: `pw-user${i}` })
    expect(result.success).toBe(true)
  }
  fake.expireAll()
  const results = await Promise.all(Array.from({ length: WORKERS }, () => worker(env)))
  for (const r of results) {
    expect([r.code, r.stderr]).toEqual([0, ''])
    const { refreshed, ...rest } = r.counts!
    expect(rest).toEqual({ requests: ACCOUNTS * 4, ok: ACCOUNTS * 4, deleted: 0, accounts: ACCOUNTS })
    // A worker that read an account after another refreshed it got the new session at once (no hook).
    expect(refreshed).toBeLessThanOrEqual(ACCOUNTS)
  }
  // Every account's new session was announced by the worker that refreshed it, at least.
  expect(results.reduce((n, r) => n + r.counts!.refreshed, 0)).toBeGreaterThanOrEqual(ACCOUNTS)
  // One refresh per account in all, by whichever worker got its lock first.
  expect(fake.counts.get('com.atproto.server.refreshSession')).toBe(ACCOUNTS)
  expect([...fake.refreshes.values()]).toEqual(Array(ACCOUNTS).fill(1))
  console.log(
    `pool multi-process: ${WORKERS} workers x ${ACCOUNTS} accounts x 4 requests, ${fake.counts.get('com.atproto.server.refreshSession')} refreshSession`,
  )
}

describe('pools in several processes on one store', () => {
  it('FileAccountStore: one refresh per account, adopted by the other workers', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pool-mp-'))
    try {
      await run(new FileAccountStore(dir), { ACCOUNTS_DIR: dir })
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  const skip = redisUnavailableReason()
  ;(skip ? it.skip : it)(
    `RedisAccountStore: the same${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      let redis: TestRedis | undefined
      let client: Redis | undefined
      try {
        redis = await startRedis()
        client = new Redis(redis.url)
        await run(new RedisAccountStore(client, { prefix: 'mp:' }), { REDIS_URL: redis.url, PREFIX: 'mp:' })
      } finally {
        client?.disconnect()
        await redis?.stop()
      }
    },
    60_000,
  )
})
