// Throughput through a real socket: requests/s at concurrency 50 against a
// loopback server in its own process, for a bare fetch with a static bearer,
// upstream and our preset (all on Node's fetch). Rounds interleave the
// variants; reported as ours / bare (and upstream / bare) per round, median
// and spread, so the library's overhead is set against the noise.
import {
  clients,
  emit,
  log,
  max,
  median,
  min,
  rotate,
  startLoopbackServer,
  xrpcQueryInit,
  type Handler,
} from './common.ts'

const CONCURRENCY = Number(process.env.BENCH_TP_CONCURRENCY ?? 50)
const ROUNDS = Number(process.env.BENCH_TP_ROUNDS ?? 7)
const SECONDS = Number(process.env.BENCH_TP_SECONDS ?? 2)
const SLICES = 4
const PATH = '/xrpc/app.bsky.actor.getProfile?actor=did%3Aplc%3Abenchbenchbenchbenchbenc'

/** CONCURRENCY workers, each sending one request after the other for `seconds`: [requests, seconds]. */
async function load(handler: Handler, seconds: number): Promise<[number, number]> {
  let done = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const res = await handler(PATH, xrpcQueryInit())
        await res.arrayBuffer()
        if (res.status !== 200) throw new Error(`unexpected ${res.status}`)
        done++
      }
    }),
  )
  return [done, (performance.now() - t0) / 1000]
}

export async function main() {
  const server = await startLoopbackServer()
  try {
    const all = clients(server.url)
    const keys = Object.keys(all)
    for (const key of keys) await load(all[key]!, 0.5) // warm-up: sockets open, code optimised
    // A round gives each variant SECONDS in SLICES slices, the variants taking
    // turns slice by slice, so a burst of noise lands on all of them alike.
    const rps: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]))
    for (let round = 0; round < ROUNDS; round++) {
      const total = Object.fromEntries(keys.map((k) => [k, [0, 0]])) as Record<string, [number, number]>
      for (let slice = 0; slice < SLICES; slice++) {
        for (const key of rotate(keys, round + slice)) {
          const [n, s] = await load(all[key]!, SECONDS / SLICES)
          total[key]![0] += n
          total[key]![1] += s
        }
      }
      for (const key of keys) rps[key]!.push(total[key]![0] / total[key]![1])
      log(
        `throughput round ${round + 1}/${ROUNDS}: ${keys.map((k) => `${k} ${Math.round(rps[k]!.at(-1)!)}`).join(', ')} req/s`,
      )
    }
    const ratio = (key: string) => {
      const r = rps[key]!.map((v, i) => v / rps.bare![i]!)
      return { median: median(r), min: min(r), max: max(r), rounds: r }
    }
    return {
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      seconds: SECONDS,
      rps: Object.fromEntries(keys.map((k) => [k, { median: median(rps[k]!), rounds: rps[k]! }])),
      oursOverBare: ratio('ours'),
      upstreamOverBare: ratio('upstream'),
    }
  } finally {
    await server.close()
  }
}

if (import.meta.main) emit('throughput', await main())
