// The agent pool at scale (#16), against the loopback mock of bench/pool-mock.ts
// (its own process: an entryway origin and 20 PDS origins, each its own port).
//
// 1. Scale: 100,000 accounts seeded into a real redis-server on loopback (started
//    here, stopped at the end) through `RedisAccountStore` (ioredis with
//    auto-pipelining, so the seeding is pipelined), all access tokens issued at
//    once with one short lifetime; a `PasswordAgentPool` (cap 10,000) on that
//    store, the preset as is; 200,000 requests over accounts drawn uniformly at
//    random, 200 in flight. Reported: throughput, peak RSS, store reads per
//    request (a wrapper counts `get` on the account stores), refreshes against
//    the token generations that were due (seen by the mock at or after their
//    refresh-ahead instant) and expired, and refreshes per second.
// 2. Fair sharing: 20 PDS origins, 10 workers per origin (each on that origin's
//    accounts, a MemoryAccountStore with fresh tokens), requests/s to the 19
//    other origins while one origin answers 429 with `RateLimit-Reset`, then
//    while it refuses connections, over a baseline where all 20 work; once with
//    the preset as is, once with `retry()` and `rateLimit()` added through the
//    pool's `fetch` option (one instance of each shared by the pool's agents).
import { spawn } from 'node:child_process'
import { Redis } from 'ioredis'
import {
  MemoryAccountStore,
  PasswordAgentPool,
  type AccountStore,
  type PasswordAgent,
  type PasswordAgentPoolOptions,
  type Session,
  type SessionStore,
} from 'lex-password-agent'
import { rateLimit, retry } from 'lex-password-agent/middleware'
import { pipeline } from 'lex-password-agent'
import { RedisAccountStore } from 'lex-password-agent/redis-store'
import type { DidString } from '@atproto/lex-schema'
import { startRedis } from '../spec/helpers/redis.ts'
import { emit, log, median, sleep } from './common.ts'
import { pdsIndex, tokens } from './pool-tokens.ts'

const ACCOUNTS = Number(process.env.BENCH_POOL_ACCOUNTS ?? 100_000)
const CAP = Number(process.env.BENCH_POOL_CAP ?? 10_000)
const REQUESTS = Number(process.env.BENCH_POOL_REQUESTS ?? 200_000)
const CONCURRENCY = Number(process.env.BENCH_POOL_CONCURRENCY ?? 200)
const PDS_COUNT = 20
/** Lifetime of every seeded access token, in seconds: all issued at once, they come due during the run. */
const TTL_S = Number(process.env.BENCH_POOL_TTL_S ?? 25)
/**
 * Lifetime of the refreshed ones (default 2 h: each account refreshes once, which keeps the
 * run short; `BENCH_POOL_NEW_TTL_S=25` makes every generation short-lived).
 */
const NEW_TTL_S = Number(process.env.BENCH_POOL_NEW_TTL_S ?? 7200)
const FAIR_ACCOUNTS = 2_000
const FAIR_WORKERS_PER_ORIGIN = 10
const FAIR_PHASE_MS = Number(process.env.BENCH_POOL_FAIR_PHASE_MS ?? 1_000)
const FAIR_ROUNDS = Number(process.env.BENCH_POOL_FAIR_ROUNDS ?? 6)
/** How far ahead origin 0's `RateLimit-Reset` is, in seconds. */
const FAIR_RESET_S = 1
const PATH = '/xrpc/com.example.ping'
const INIT = { method: 'GET', headers: { accept: 'application/json' } }

const didOf = (i: number) => `did:plc:bench${i.toString(36).padStart(19, '0')}` as DidString

type Mock = { entryway: string; pds: string[]; close: () => Promise<void> }
async function startMock(): Promise<Mock> {
  const script = new URL('./pool-mock.ts', import.meta.url).pathname
  const child = spawn(process.execPath, [...process.execArgv, script], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_POOL_PDS: String(PDS_COUNT), BENCH_POOL_NEW_TTL_S: String(NEW_TTL_S) },
  })
  const urls = await new Promise<{ entryway: string; pds: string[] }>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!))
    })
    child.on('exit', (code) => reject(new Error(`pool mock exited (${code})`)))
  })
  return {
    ...urls,
    close: () =>
      new Promise<void>((resolve) => {
        child.on('exit', () => resolve())
        child.stdin!.end()
      }),
  }
}

const control = async (mock: Mock, path: string, method = 'POST') => {
  const res = await fetch(`${mock.entryway}${path}`, { method })
  return res.json() as Promise<any>
}

function session(mock: Mock, did: DidString, iat: number, ttlS: number): Session {
  return {
    data: tokens(did, 0, iat, ttlS) as Session['data'],
    refreshedAt: new Date(iat * 1000).toISOString(),
    pdsUrl: mock.pds[pdsIndex(did, PDS_COUNT)]!,
    service: mock.entryway,
  }
}

/**
 * An AccountStore that counts the reads and writes of its accounts' stores,
 * telling the reads made under the account's lock (a refresh checking for a
 * newer stored session) from the others (the pool building an agent).
 */
function counting(inner: AccountStore) {
  const counts = { get: 0, getUnderLock: 0, set: 0, delete: 0 }
  const locked = new Set<string>()
  const store: AccountStore = {
    account(did) {
      const account = inner.account(did)
      const wrapped: SessionStore = {
        get: () => {
          counts.get++
          if (locked.has(did)) counts.getUnderLock++
          return account.get()
        },
        set: (s) => (counts.set++, account.set(s)),
        delete: () => (counts.delete++, account.delete()),
      }
      const lock = account.lock
      if (lock) {
        wrapped.lock = (name, fn) =>
          lock(name, async () => {
            locked.add(did)
            try {
              return await fn()
            } finally {
              locked.delete(did)
            }
          })
      }
      return wrapped
    },
    list: () => inner.list(),
  }
  return { store, counts }
}

/** Peak RSS, sampled every 50 ms while `fn` runs (and the process's maxRSS). */
async function withRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRssMB: number; startRssMB: number }> {
  const startRss = process.memoryUsage.rss()
  let peak = startRss
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50)
  try {
    const value = await fn()
    peak = Math.max(peak, process.memoryUsage.rss())
    return { value, peakRssMB: peak / 2 ** 20, startRssMB: startRss / 2 ** 20 }
  } finally {
    clearInterval(timer)
  }
}

async function scale(mock: Mock) {
  const redisServer = await startRedis()
  const redis = new Redis(redisServer.url, { enableAutoPipelining: true, lazyConnect: false })
  try {
    const accounts = new RedisAccountStore(redis, { prefix: 'bench:' })
    // Seed: every access token issued now, one lifetime.
    const t0 = performance.now()
    const iat = Math.floor(Date.now() / 1000)
    for (let i = 0; i < ACCOUNTS; i += 5_000) {
      const batch = []
      for (let j = i; j < Math.min(ACCOUNTS, i + 5_000); j++) {
        const did = didOf(j)
        batch.push(accounts.account(did).set(session(mock, did, iat, TTL_S)))
      }
      await Promise.all(batch)
    }
    const seedS = (performance.now() - t0) / 1000
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    const seededHeapMB = process.memoryUsage().heapUsed / 2 ** 20
    const redisMB = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0) / 2 ** 20
    log(`pool: seeded ${ACCOUNTS} sessions in ${seedS.toFixed(1)} s (redis ${redisMB.toFixed(0)} MB)`)
    await control(mock, '/reset')

    const { store, counts } = counting(accounts)
    const hooks = { deleted: 0, refreshFailures: 0 }
    const pool = new PasswordAgentPool({
      store,
      max: CAP,
      hooks: {
        onDeleted: () => void hooks.deleted++,
        onRefreshFailure: () => void hooks.refreshFailures++,
      },
    })
    const statuses: Record<string, number> = {}
    const perSecond: Record<string, number> = {}
    let errors = 0
    let next = 0
    const start = performance.now()
    const startEpochS = Math.floor(Date.now() / 1000)
    const { peakRssMB, startRssMB } = await withRss(() =>
      Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            next++
            const did = didOf(Math.floor(Math.random() * ACCOUNTS))
            try {
              const agent = (await pool.get(did)) as PasswordAgent
              const res = await agent.fetchHandler(PATH, INIT)
              await res.arrayBuffer()
              statuses[res.status] = (statuses[res.status] ?? 0) + 1
            } catch (error) {
              if (errors++ === 0) log('pool: first error', error)
            }
            const second = String(Math.floor(Date.now() / 1000))
            perSecond[second] = (perSecond[second] ?? 0) + 1
          }
        }),
      ),
    )
    const seconds = (performance.now() - start) / 1000
    gc?.()
    // The pool's 10,000 agents (and any dropped one still referenced) over the heap before the run.
    const poolHeapMB = gc ? process.memoryUsage().heapUsed / 2 ** 20 - seededHeapMB : undefined
    const s = await control(mock, '/stats', 'GET')
    const perSec = (m: Record<string, number>) =>
      Object.entries(m)
        .map(([k, v]) => [Number(k) - iat, v] as const)
        .sort((a, b) => a[0] - b[0])
    const result = {
      accounts: ACCOUNTS,
      cap: CAP,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      distribution: 'uniform',
      pdsOrigins: PDS_COUNT,
      ttlS: TTL_S,
      refreshedTtlS: NEW_TTL_S,
      seedS,
      redisUsedMB: redisMB,
      runStartS: startEpochS - iat,
      seconds,
      rps: REQUESTS / seconds,
      startRssMB,
      peakRssMB,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      poolSize: pool.size,
      poolHeapMB,
      statuses,
      errors,
      storeGets: counts.get,
      storeSets: counts.set,
      storeGetsUnderLock: counts.getUnderLock,
      storeGetsPerRequest: counts.get / REQUESTS,
      refreshes: s.refreshes,
      refreshesAfterExpiry: s.refreshesAfterExpiry,
      refreshesInWindow: s.refreshesInWindow,
      refreshesPremature: s.refreshesPremature,
      reusedRefreshTokens: s.reusedRefreshTokens,
      generationsDueSeen: s.generationsDueSeen,
      generationsExpiredSeen: s.generationsExpiredSeen,
      expiredTokenAnswers: s.perPds.reduce((n: number, p: { expired: number }) => n + p.expired, 0),
      misrouted: s.misrouted,
      onDeleted: hooks.deleted,
      onRefreshFailure: hooks.refreshFailures,
      /** [seconds since the tokens were issued, refreshes in that second] */
      refreshesPerSecond: perSec(s.refreshesPerSecond),
      /** [seconds since the tokens were issued, requests answered in that second] */
      requestsPerSecond: perSec(perSecond),
    }
    log(`pool scale: ${JSON.stringify({ ...result, refreshesPerSecond: undefined, requestsPerSecond: undefined })}`)
    return result
  } finally {
    redis.disconnect()
    await redisServer.stop()
  }
}

type FairConfig = { key: string; label: string; options: () => Partial<PasswordAgentPoolOptions> }
const FAIR_CONFIGS: FairConfig[] = [
  { key: 'preset', label: 'the preset as is (no retry, no rateLimit)', options: () => ({}) },
  {
    key: 'retryRateLimit',
    label: 'the preset + `fetch: pipeline([retry(), rateLimit({ concurrency: Infinity })])`',
    options: () => ({ fetch: pipeline([retry(), rateLimit({ concurrency: Infinity })]) }),
  },
]

async function fair(mock: Mock) {
  const iat = Math.floor(Date.now() / 1000)
  const byOrigin: DidString[][] = Array.from({ length: PDS_COUNT }, () => [])
  const memory = new MemoryAccountStore()
  for (let i = 0; i < FAIR_ACCOUNTS; i++) {
    const did = didOf(ACCOUNTS + i)
    await memory.account(did).set(session(mock, did, iat, 7200))
    byOrigin[pdsIndex(did, PDS_COUNT)]!.push(did)
  }
  const BAD = 0
  const results = []
  for (const config of FAIR_CONFIGS) {
    const pool = new PasswordAgentPool({ store: memory, max: CAP, ...config.options() })
    const phase = async (name: string) => {
      const ok = new Array<number>(PDS_COUNT).fill(0)
      const failed = new Array<number>(PDS_COUNT).fill(0)
      const start = performance.now()
      const deadline = start + FAIR_PHASE_MS
      // Only answers that came before the deadline count (a worker may still be waiting past it).
      await Promise.all(
        byOrigin.flatMap((dids, origin) =>
          Array.from({ length: FAIR_WORKERS_PER_ORIGIN }, async () => {
            while (performance.now() < deadline) {
              const agent = (await pool.get(dids[Math.floor(Math.random() * dids.length)]!)) as PasswordAgent
              let good = false
              try {
                const res = await agent.fetchHandler(PATH, INIT)
                await res.arrayBuffer()
                good = res.ok
              } catch {
                // A refused connection fails at once: pace this worker a little, as a caller would.
                await sleep(10)
              }
              if (performance.now() < deadline) (good ? ok : failed)[origin]!++
            }
          }),
        ),
      )
      const seconds = FAIR_PHASE_MS / 1000
      const others = ok.reduce((n, x, i) => (i === BAD ? n : n + x), 0)
      const r = {
        name,
        othersRps: others / seconds,
        badOk: ok[BAD]!,
        badFailed: failed[BAD]!,
        othersFailed: failed.reduce((n, x, i) => (i === BAD ? n : n + x), 0),
        overrunMs: performance.now() - deadline,
      }
      log(`pool fair ${config.key} ${name}: ${JSON.stringify(r)}`)
      return r
    }
    const setMode = (mode: string) => control(mock, `/mode?pds=${BAD}&mode=${mode}&resetS=${FAIR_RESET_S}`)
    // Warm-up: every agent built and every connection open. Then, in each round, a
    // baseline before and after each faulty phase (the machine is shared and noisy):
    // each faulty phase is compared with the mean of the baselines either side.
    await phase('warm-up')
    const baselines: number[] = []
    const ratios: Record<'429' | 'refuse', number[]> = { '429': [], refuse: [] }
    const faulty: Record<'429' | 'refuse', { badOk: number; badFailed: number; othersFailed: number; rps: number[] }> =
      {
        '429': { badOk: 0, badFailed: 0, othersFailed: 0, rps: [] },
        refuse: { badOk: 0, badFailed: 0, othersFailed: 0, rps: [] },
      }
    let before = (await phase('baseline')).othersRps
    baselines.push(before)
    for (let round = 0; round < FAIR_ROUNDS; round++) {
      for (const mode of ['429', 'refuse'] as const) {
        await setMode(mode)
        const r = await phase(mode)
        await setMode('ok')
        const after = (await phase('baseline')).othersRps
        baselines.push(after)
        ratios[mode].push(r.othersRps / ((before + after) / 2))
        const f = faulty[mode]
        f.badOk += r.badOk
        f.badFailed += r.badFailed
        f.othersFailed += r.othersFailed
        f.rps.push(r.othersRps)
        before = after
      }
    }
    results.push({
      key: config.key,
      label: config.label,
      baselineRps: baselines,
      // The noise: each inner baseline over the mean of its neighbours (what a ratio is when nothing fails).
      baselineRatios: baselines.slice(1, -1).map((b, i) => b / ((baselines[i]! + baselines[i + 2]!) / 2)),
      limited: { ...faulty['429'], ratios: ratios['429'], ratio: median(ratios['429']) },
      refused: { ...faulty.refuse, ratios: ratios.refuse, ratio: median(ratios.refuse) },
    })
  }
  return {
    accounts: FAIR_ACCOUNTS,
    workersPerOrigin: FAIR_WORKERS_PER_ORIGIN,
    phaseS: FAIR_PHASE_MS / 1000,
    rounds: FAIR_ROUNDS,
    resetS: FAIR_RESET_S,
    configs: results,
  }
}

export async function main() {
  const mock = await startMock()
  try {
    const t0 = performance.now()
    const scaleResult = await scale(mock)
    const fairResult = await fair(mock)
    return { scale: scaleResult, fair: fairResult, seconds: (performance.now() - t0) / 1000 }
  } finally {
    await mock.close()
  }
}

if (import.meta.main) emit('pool', await main())
