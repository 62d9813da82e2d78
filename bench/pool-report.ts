// BENCHMARKS.md's rows and section for bench/pool.ts. bench/run.ts uses them
// when it writes the whole file; run alone, this script runs bench/pool.ts in
// its own process and rewrites only the pool's rows and section of the
// existing BENCHMARKS.md (`node --conditions=lex-password-agent-source --import
// ./scripts/ts-resolve.mjs bench/pool-report.ts`).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { median } from './common.ts'

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const f = (n: number, d = 2) => n.toFixed(d)
const yes = (ok: boolean) => (ok ? 'yes' : '**no**')

/** Whether the refreshes match the generations that needed one (see the section). */
function refreshVerdict(s: any) {
  const unmatched = s.generationsDueSeen - s.refreshes
  const ok =
    s.refreshes <= s.generationsDueSeen &&
    s.refreshesPremature === 0 &&
    s.reusedRefreshTokens === 0 &&
    s.refreshesAfterExpiry === s.generationsExpiredSeen &&
    unmatched <= Math.max(1, s.generationsDueSeen * 0.001)
  return { ok, unmatched }
}

/** The busiest second of refreshes, and how it compares with the requests answered in it. */
function herd(s: any) {
  const requests = new Map<number, number>(s.requestsPerSecond)
  let busiest = [0, 0] as [number, number]
  for (const [second, n] of s.refreshesPerSecond as [number, number][]) if (n > busiest[1]) busiest = [second, n]
  const share = s.refreshes ? busiest[1] / s.refreshes : 0
  return { second: busiest[0], refreshes: busiest[1], requests: requests.get(busiest[0]) ?? 0, share }
}

const fairOk = (c: any) => c.limited.ratio >= 0.9 && c.refused.ratio >= 0.9

/** Rows for the summary table (7 columns: figure, ours, upstream, api, bare, goal, met). */
export function poolRows(pool: any): string {
  const s = pool.scale
  const v = refreshVerdict(s)
  const h = herd(s)
  const fair = pool.fair.configs.map((c: any) => `${f(c.limited.ratio)} / ${f(c.refused.ratio)} (${c.key})`).join('; ')
  return [
    `| pool: ${int(s.accounts)} accounts in Redis, cap ${int(s.cap)}, ${int(s.requests)} requests (${s.distribution}, ${s.concurrency} in flight): req/s, peak RSS, store reads per request | **${int(s.rps)} req/s**, ${int(s.peakRssMB)} MB, ${f(s.storeGetsPerRequest)} reads | — | — | — | — | — |`,
    `| pool: refreshes / token generations used at or after their refresh instant (all ${int(s.accounts)} issued at once) | **${int(s.refreshes)} / ${int(s.generationsDueSeen)}**, ${s.refreshesPremature} premature, ${s.reusedRefreshTokens} reused; ${int(s.accounts - s.refreshes)} accounts not used after it never refreshed; busiest second ${f(h.share * 100, 1)} % of them | — | — | — | equal, never more; no herd | ${yes(v.ok)} |`,
    `| pool: req/s to the 19 other PDS origins while one answers 429 / refuses connections, ÷ baseline | ${fair} | — | — | — | ≈ 1 (≥ 0.9) | ${yes(pool.fair.configs.every(fairOk))} |`,
  ].join('\n')
}

/** The refreshes per second as a small text table with a bar per row. */
function histogram(s: any): string {
  const refreshes = new Map<number, number>(s.refreshesPerSecond)
  const requests = new Map<number, number>(s.requestsPerSecond)
  const seconds = [...refreshes.keys(), ...requests.keys()]
  const first = Math.min(0, ...seconds)
  const last = Math.max(...seconds)
  const width = Math.max(1, Math.ceil((last - first + 1) / 30))
  const rows: [string, number, number][] = []
  for (let t = first; t <= last; t += width) {
    let r = 0
    let q = 0
    for (let k = t; k < t + width; k++) {
      r += refreshes.get(k) ?? 0
      q += requests.get(k) ?? 0
    }
    rows.push([width === 1 ? `${t}` : `${t}–${t + width - 1}`, r, q])
  }
  const max = Math.max(1, ...rows.map((r) => r[1]))
  const due = s.ttlS * 0.75
  const lines = rows.map(([label, r, q]) => {
    const start = Number(label.split('–')[0])
    const mark =
      start <= due && due < start + width
        ? ' ← refresh-ahead instant'
        : start <= s.ttlS && s.ttlS < start + width
          ? ' ← expiry'
          : ''
    return `${label.padStart(7)}  ${int(r).padStart(9)}  ${int(q).padStart(9)}  ${'#'.repeat(Math.round((r / max) * 40))}${mark}`
  })
  return [`${'s'.padStart(7)}  ${'refreshes'.padStart(9)}  ${'requests'.padStart(9)}`, ...lines].join('\n')
}

/** The `## Agent pool at scale` section. */
export function poolSection(pool: any): string {
  const s = pool.scale
  const v = refreshVerdict(s)
  const h = herd(s)
  const fr = pool.fair
  const fairRows = fr.configs
    .map(
      (c: any) =>
        `| ${c.label} | ${int(Math.min(...c.baselineRps))}–${int(Math.max(...c.baselineRps))} | ${f(median(c.baselineRatios))} (${f(Math.min(...c.baselineRatios))}–${f(Math.max(...c.baselineRatios))}) | **${f(c.limited.ratio)}** (${c.limited.ratios.map((r: number) => f(r)).join(', ')}) | ${int(c.limited.badFailed)} | **${f(c.refused.ratio)}** (${c.refused.ratios.map((r: number) => f(r)).join(', ')}) | ${int(c.refused.badFailed)} | ${c.limited.othersFailed + c.refused.othersFailed} |`,
    )
    .join('\n')
  return `## Agent pool at scale

\`bench/pool.ts\`, against \`bench/pool-mock.ts\` (its own process: an entryway origin for
refreshSession and ${s.pdsOrigins} PDS origins, each its own port on 127.0.0.1; access tokens good until their
\`exp\`, then \`400 ExpiredToken\`; single-use refresh tokens; every request and refresh counted).

**Scale.** ${int(s.accounts)} sessions seeded into a real \`redis-server\` on loopback (started by the
bench, stopped at the end) through \`RedisAccountStore\` (ioredis with auto-pipelining: ${f(s.seedS, 1)} s,
${int(s.redisUsedMB)} MB in Redis), every access token issued at the same second with a ${s.ttlS} s lifetime
(refreshed ones: ${s.refreshedTtlS >= 3600 ? `${f(s.refreshedTtlS / 3600, 0)} h, so each account refreshes at most once` : `${s.refreshedTtlS} s`}). One
\`PasswordAgentPool\` (\`max: ${int(s.cap)}\`, the preset as is: \`refreshAhead\` on its defaults, which for a
${s.ttlS} s token means its last quarter) on that store, wrapped to count the account stores' \`get\`s;
${int(s.requests)} requests (\`pool.get(did)\` then \`agent.fetchHandler\`), each on an account drawn **${s.distribution}ly**
at random, ${s.concurrency} in flight. The run started ${s.runStartS} s after the tokens were issued.

| figure | value |
| --- | --- |
| throughput | **${int(s.rps)} req/s** (${f(s.seconds, 1)} s; answers: ${Object.entries(s.statuses)
    .map(([k, n]) => `${int(n as number)} × ${k}`)
    .join(', ')}${s.errors ? `, **${int(s.errors)} errors**` : ''}) |
| RSS | ${int(s.startRssMB)} MB after seeding, peak **${int(s.peakRssMB)} MB** during the run (sampled every 50 ms), ${int(s.poolSize)} agents kept at the end${s.poolHeapMB === undefined ? '' : ` (heap after GC: +${f(s.poolHeapMB, 1)} MB over the heap before the run, ${int((s.poolHeapMB * 2 ** 20) / s.poolSize)} B per kept agent with its session and the pool's bookkeeping)`} |
| store reads | **${f(s.storeGetsPerRequest)} per request**: ${int(s.storeGets)} \`get\`s, ${int(s.storeGetsUnderLock)} of them under the account's lock (a refresh looking for a newer stored session: one per refresh), ${int(s.storeGets - s.storeGetsUnderLock)} to build agents (${f((s.storeGets - s.storeGetsUnderLock) / s.requests)} per request: with ${int(s.cap)} of ${int(s.accounts)} accounts in memory, a uniform draw misses ${f((1 - s.cap / s.accounts) * 100, 0)} %); ${int(s.storeSets)} \`set\`s (one per refresh) |
| refreshes | **${int(s.refreshes)}**: ${int(s.refreshesAfterExpiry)} of a generation that had expired, ${int(s.refreshesInWindow)} ahead of expiry inside the last quarter of its life (\`refreshAhead\`), ${s.refreshesPremature} earlier (premature); ${s.reusedRefreshTokens} reused refresh tokens; ${s.onDeleted} \`onDeleted\`, ${s.onRefreshFailure} \`onRefreshFailure\` |
| token generations that needed a refresh | ${int(s.generationsDueSeen)} seen by the mock (a request or refresh bearing them) at or after their refresh-ahead instant, ${int(s.generationsExpiredSeen)} of them after their expiry; ${int(s.expiredTokenAnswers)} \`ExpiredToken\` answers${s.expiredTokenAnswers === 0 ? ' (no expired access token ever reached a PDS)' : ' (a token that expired after the request left, e.g. while a slow refresh was not awaited: `refreshOnExpired` refreshes and replays such a request; the answers above count how each request ended)'} |
| misrouted requests (a DID's request on another PDS origin) | ${int(s.misrouted)} |

Refreshes against generations: ${int(s.refreshes)} against ${int(s.generationsDueSeen)}: ${
    v.ok
      ? `never more; every generation seen after its expiry was refreshed exactly once (${int(s.refreshesAfterExpiry)} = ${int(s.generationsExpiredSeen)})${v.unmatched ? `, and the ${int(v.unmatched)} generation(s) seen in their last quarter but never refreshed are what a request sent a hair before its token's refresh instant and arriving after it leaves when its account is not drawn again` : ''}`
      : `**does not hold** (premature ${s.refreshesPremature}, reused ${s.reusedRefreshTokens}, expired ${int(s.generationsExpiredSeen)} vs ${int(s.refreshesAfterExpiry)} refreshed after expiry)`
  }.

Refreshes per second after the tokens were issued (second 0), with the requests answered in the
same seconds (counted when the answer was read: a request that waited for its account's refresh
counts later than the refresh). No herd: refreshes start at the refresh-ahead instant (${f(s.ttlS * 0.75, 2)} s,
the last quarter of a ${s.ttlS} s token) and then follow the requests, since an account refreshes when
it is next used, and only then: the ${int(s.accounts - s.refreshes)} accounts not drawn after that instant were never
refreshed. The busiest second (${h.second}) had ${int(h.refreshes)} refreshes (${f(h.share * 100, 1)} % of all) for ${int(h.requests)} answers.
Early in the window most draws hit an account not refreshed yet, so most requests wait for a
refresh (a lock, a read, refreshSession, a write, an unlock: four Redis commands and a round trip
to the entryway), which is why the request rate dips there.

\`\`\`text
${histogram(s)}
\`\`\`

**Fair sharing.** ${int(fr.accounts)} accounts with fresh tokens in a \`MemoryAccountStore\`, ${fr.workersPerOrigin} workers per PDS
origin (each on its origin's accounts, next request when the last answer is read): requests/s
answered by the 19 other origins while origin 0 answers every request with \`429\` and
\`RateLimit-Reset\` ${fr.resetS} s ahead, then while its port is closed (connections refused), each ${fr.phaseS} s phase
between two baselines where all ${s.pdsOrigins} work (${fr.rounds} rounds; the ratio is the phase over the mean
of the baselines either side, median of the rounds, rounds in brackets). The pool builds each agent
with the preset (refreshAhead → refreshOnExpired → routeToPds → authHeader): **neither \`retry\` nor
\`rateLimit\` is in it**, so the preset is measured as is, and once more with both added through the
pool's \`fetch\` option (one instance of each shared by every agent of the pool; \`rateLimit\` with
\`concurrency: Infinity\`, as its default cap of 8 would cap the whole pool).

| pool's agents | baseline req/s (19 origins) | noise: a baseline ÷ its neighbours | 429: ratio | 429: bad origin's 429s | refused: ratio | refused: bad origin's failures | failures on the 19 |
| --- | --- | --- | --- | --- | --- | --- | --- |
${fairRows}

With \`rateLimit\`, a 429 holds its request until \`RateLimit-Reset\` and retries once, and \`retry\`
backs off on refused connections; both waits are the failing request's own, so only the workers of
origin 0 wait. With the preset as is, origin 0's workers get the failure at once and try again
(a refused connection after a 10 ms pause): each refused connect costs Node's fetch CPU on the
client's one thread (the agent adds nothing to a bare fetch's cost there), which the other
origins' requests share. Client, mock and redis-server share the two cores with whatever else runs on the
machine: baselines drift between phases (the noise column: a baseline over the mean of its two
neighbours, where nothing failed), so a ratio within that spread is no measurable slowdown.
Ratios over 1: origin 0's 429s cost less CPU than served requests (and with \`rateLimit\` and \`retry\`
its workers mostly wait), which leaves more of the shared cores to the others.
`
}

async function runPool(): Promise<any> {
  const root = new URL('..', import.meta.url).pathname
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=lex-password-agent-source',
        '--import',
        './scripts/ts-resolve.mjs',
        '--expose-gc',
        'bench/pool.ts',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.on('exit', (code) => {
      const line = out
        .trim()
        .split('\n')
        .findLast((l) => l.startsWith('{"bench"'))
      if (code !== 0 || !line) return reject(new Error(`bench/pool.ts exited with ${code}`))
      resolve(JSON.parse(line).result)
    })
  })
}

/** Replaces (or adds) the pool's rows in the summary table and its section in `md`. */
export function updatePoolReport(md: string, pool: any): string {
  const lines = md.split('\n').filter((l) => !l.startsWith('| pool: '))
  // The summary table is the first table: its rows end at the first blank line after its header.
  const header = lines.findIndex((l) => l.startsWith('| figure |'))
  if (header < 0) throw new Error('BENCHMARKS.md has no summary table')
  let end = header
  while (lines[end + 1]?.startsWith('|')) end++
  lines.splice(end + 1, 0, poolRows(pool))
  let text = lines.join('\n')
  const section = poolSection(pool)
  const at = text.indexOf('## Agent pool at scale')
  if (at < 0) return `${text.trimEnd()}\n\n${section}`
  const next = text.indexOf('\n## ', at + 1)
  text = `${text.slice(0, at)}${section}${next < 0 ? '' : `\n${text.slice(next + 1)}`}`
  return text
}

if (import.meta.main) {
  const pool = process.env.BENCH_POOL_RESULT
    ? JSON.parse(fs.readFileSync(process.env.BENCH_POOL_RESULT, 'utf8')).result
    : await runPool()
  const file = new URL('../BENCHMARKS.md', import.meta.url)
  fs.writeFileSync(file, updatePoolReport(fs.readFileSync(file, 'utf8'), pool))
  process.stderr.write('BENCHMARKS.md: pool rows and section rewritten\n')
}
