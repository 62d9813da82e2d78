import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FileSessionStore } from '../../lib/file-session-store.ts'
import { PasswordAgent } from '../../lib/password-agent.ts'
import { startMockEntryway, type MockEntryway } from '../helpers/mock-entryway.ts'
import { startPds, type TestPds } from '../helpers/pds.ts'
import { totals, type WorkerCounts } from '../helpers/worker-totals.ts'

// 8 Node processes share one saved session through FileSessionStore and hammer
// a loopback entryway whose access tokens live 1.5 s and whose refresh tokens
// are strictly single-use: any double refresh would log a worker out.
const root = path.resolve(__dirname, '../..')
const WORKERS = 8
const DURATION_MS = 9_000
const ACCESS_TTL_MS = 1_500

let server: MockEntryway
let dir: string

beforeAll(async () => {
  server = await startMockEntryway({ accessTtlMs: ACCESS_TTL_MS })
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lpa-multi-'))
})
afterAll(async () => {
  await server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

function worker(storeFile: string, extra: Record<string, string> = {}) {
  return new Promise<WorkerCounts>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=lex-password-agent-source', 'spec/integration/fixtures/store-worker.ts'],
      {
        cwd: root,
        env: { ...process.env, STORE_FILE: storeFile, DURATION_MS: String(DURATION_MS), CONCURRENCY: '4', ...extra },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    )
  })
}

describe('8 processes sharing one file store', () => {
  it('never log out, refresh each token generation at most once, and leave the newest session in the file', async () => {
    const storeFile = path.join(dir, 'session.json')
    const store = new FileSessionStore(storeFile)
    const login = await PasswordAgent.login({ service: server.url, identifier: 'alice.test', password: 'pw', store })
    if (!login.success) throw login
    expect(fs.statSync(storeFile).mode & 0o777).toBe(0o600)

    const results = await Promise.all(Array.from({ length: WORKERS }, () => worker(storeFile)))
    const refreshes = server.counts.get('com.atproto.server.refreshSession') ?? 0
    const reuse = [...server.refreshUses.values()].filter((n) => n > 1).length
    const report = {
      ...totals(results),
      refreshSessionCalls: refreshes, // as the server counted them
      generationsRefreshedTwice: reuse,
      expiredTokenAnswers: results.reduce((a, r) => a + (r.statuses['400'] ?? 0), 0),
    }
    console.log(`multi-process: ${JSON.stringify(report)}`)

    expect(report.logouts).toBe(0)
    expect(report.refreshFailures).toBe(0)
    expect(reuse).toBe(0)
    expect(report.failed).toBe(0)
    expect(report.requests).toBeGreaterThan(500)
    // Many expiries happened, and each one cost about one refresh for everyone together.
    expect(refreshes).toBeGreaterThanOrEqual(Math.floor(DURATION_MS / ACCESS_TTL_MS) - 1)
    expect(refreshes).toBeLessThanOrEqual(Math.ceil((DURATION_MS + 3_000) / (ACCESS_TTL_MS - 600)) + 2)
    const final = await store.get()
    expect(final?.data.refreshJwt).toBe(server.latestRefreshJwt())
  }, 90_000)
})

describe('8 processes sharing one file store, on the reference PDS (3 s access tokens)', () => {
  let pds: TestPds
  beforeAll(async () => {
    pds = await startPds({ accessTtlS: 3 })
  }, 120_000) // startPds allows the PDS 90 s on a loaded machine
  afterAll(() => pds?.stop())

  it('never log out and refresh about once per expiry across all processes', async () => {
    const account = await pds.createAccount('fleet')
    const storeFile = path.join(dir, 'pds-session.json')
    const store = new FileSessionStore(storeFile)
    const login = await PasswordAgent.login({
      service: pds.url,
      identifier: account.handle,
      password: account.password,
      store,
    })
    if (!login.success) throw login
    // getSession checks the token (public reads would not notice an expired one).
    const results = await Promise.all(
      Array.from({ length: WORKERS }, () =>
        worker(storeFile, { PATH: '/xrpc/com.atproto.server.getSession', CONCURRENCY: '2' }),
      ),
    )
    const report = totals(results)
    console.log(`multi-process on the reference PDS: ${JSON.stringify(report)}`)
    expect(report.logouts).toBe(0)
    expect(report.failed).toBe(0)
    expect(report.refreshFailures).toBe(0)
    expect(report.requests).toBeGreaterThan(200)
    // The reference PDS still accepts a rotated-out refresh token for 2 h, so a
    // double refresh would go unnoticed there: the workers report what they spent.
    expect(report.generationsRefreshedTwice).toBe(0)
    expect(report.refreshSessionCalls).toBeGreaterThanOrEqual(2)
    // A generation lives at least ~1.4 s here: exp is counted from iat, which the
    // PDS floors to the second (up to 1 s lost), and the workers refresh up to
    // 600 ms ahead. Plus the first refresh on resume and a little start-up time.
    expect(report.refreshSessionCalls).toBeLessThanOrEqual(Math.ceil((DURATION_MS + 2_000) / 1_400) + 1)
    const final = await store.get()
    const check = await fetch(`${pds.url}/xrpc/com.atproto.server.getSession`, {
      headers: { authorization: `Bearer ${final!.data.accessJwt}` },
    })
    expect(check.status).toBe(200)
  }, 120_000)
})
