// Memory: (1) heap growth over 100k requests through the preset (terminal =
// a stub answering a fresh Response), measured after full GCs, next to
// upstream and a bare fetch; (2) peak RSS growth of a process streaming a
// 100 MB request body through the preset to a loopback server (in its own
// process), next to upstream and bare fetch: nothing may be buffered.
import { spawn } from 'node:child_process'
import { PasswordSession } from '@atproto/lex-password-session'
import { PasswordAgent } from 'lex-password-agent'
import {
  clients,
  emit,
  log,
  median,
  PDS,
  rotate,
  SERVICE,
  sessionData,
  startLoopbackServer,
  xrpcQueryInit,
} from './common.ts'

const HEAP_N = Number(process.env.BENCH_HEAP_N ?? 100_000)
const AGENTS_N = Number(process.env.BENCH_AGENTS_N ?? 10_000)
const AGENTS_ROUNDS = Number(process.env.BENCH_AGENTS_ROUNDS ?? 3)
/** Another checkout's lib/index.ts (as for bench/cpu.ts): its PasswordAgent is measured too, as `baseline`. */
const BASELINE = process.env.BENCH_CPU_BASELINE
const STREAM_MB = Number(process.env.BENCH_STREAM_MB ?? 100)
const STREAM_ROUNDS = Number(process.env.BENCH_STREAM_ROUNDS ?? 3)
const CHUNK = 64 * 1024
const GC_EVERY = 4 * 2 ** 20
const MB = 2 ** 20
const PATH = '/xrpc/app.bsky.actor.getProfile?actor=did%3Aplc%3Abenchbenchbenchbenchbenc'

function gcFully() {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with --expose-gc')
  for (let i = 0; i < 3; i++) gc()
}

async function heapGrowth() {
  const stub = () => Promise.resolve(new Response(null, { status: 200 }))
  const all = clients(PDS, stub)
  const init = xrpcQueryInit()
  const out: Record<string, number> = {}
  for (const [key, handler] of Object.entries(all)) {
    for (let i = 0; i < 10_000; i++) await handler(PATH, init) // warm-up: compiled code, caches
    gcFully()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < HEAP_N; i++) await handler(PATH, init)
    gcFully()
    out[key] = (process.memoryUsage().heapUsed - before) / MB
    log(`heap ${key}: ${out[key]!.toFixed(3)} MB over ${HEAP_N} requests`)
  }
  return out
}

/** Child mode: stream STREAM_MB through one client to the server, report RSS growth. */
async function streamChild(key: string, url: string, redirect: RequestRedirect) {
  const handler = clients(url)[key]!
  const gc = (globalThis as { gc?: () => void }).gc!
  // Fresh chunks (so a client that kept them would show), and a full GC every
  // GC_EVERY bytes: V8 frees dead ArrayBuffers lazily, and without it even a
  // bare fetch would look like it held ~100 MB. Only what is still referenced
  // (buffered) survives the GC and shows as growth.
  const upload = async (bytes: number) => {
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= bytes) return controller.close()
        const n = Math.min(CHUNK, bytes - sent)
        controller.enqueue(new Uint8Array(n).fill(sent & 0xff))
        sent += n
        if (sent % GC_EVERY === 0) gc()
      },
    })
    const res = await handler('/xrpc/com.atproto.repo.uploadBlob', {
      method: 'POST',
      body,
      duplex: 'half',
      redirect,
      headers: { 'content-type': 'application/octet-stream' },
    } as RequestInit)
    await res.arrayBuffer()
    if (!res.ok || Number(res.headers.get('x-body-bytes')) !== bytes) {
      throw new Error(`${key}: upload failed (${res.status}, ${res.headers.get('x-body-bytes')} bytes)`)
    }
  }
  await upload(4 * MB) // warm-up: the socket, undici and our code paths are loaded
  gcFully()
  const rss0 = process.memoryUsage.rss()
  let sampled = rss0
  const timer = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage.rss())), 2)
  const t0 = performance.now()
  await upload(STREAM_MB * MB)
  const seconds = (performance.now() - t0) / 1000
  clearInterval(timer)
  const peak = Math.max(sampled, process.resourceUsage().maxRSS * 1024)
  process.stdout.write(
    `${JSON.stringify({ key, rssGrowthMB: (peak - rss0) / MB, sampledGrowthMB: (sampled - rss0) / MB, seconds })}\n`,
  )
}

type StreamResult = { key: string; rssGrowthMB: number; sampledGrowthMB: number; seconds: number }
function runChild(key: string, url: string, redirect: RequestRedirect): Promise<StreamResult> {
  const args = [
    ...process.execArgv.filter((a) => a !== '--expose-gc'),
    '--expose-gc',
    new URL(import.meta.url).pathname,
    'stream',
    key,
    url,
    redirect,
  ]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`stream child ${key} exited ${code}`)),
    )
  })
}

/**
 * Node's fetch (undici 6 in Node 22) tees a stream request body whenever the
 * redirect mode is not 'error' and keeps the unread branch until the upload
 * ends (nodejs/undici#4058): with the default 'follow' (and the 'manual' our
 * authHeader uses to follow redirects itself) every client holds the whole
 * body. So each client runs twice: as lex-client calls it (`redirect:
 * 'follow'`), and with `redirect: 'error'`, which shows what the client itself
 * keeps.
 */
async function streamGrowth() {
  const server = await startLoopbackServer()
  const keys = ['bare', 'upstream', 'ours']
  const modes: RequestRedirect[] = ['follow', 'error']
  const samples: Record<string, Record<string, { rss: number[]; seconds: number[] }>> = {}
  try {
    for (let round = 0; round < STREAM_ROUNDS; round++) {
      for (const mode of modes) {
        for (const key of rotate(keys, round)) {
          const r = await runChild(key, server.url, mode)
          const s = ((samples[mode] ??= {})[key] ??= { rss: [], seconds: [] })
          s.rss.push(r.rssGrowthMB)
          s.seconds.push(r.seconds)
          log(
            `stream ${key} (redirect: ${mode}): ${STREAM_MB} MB in ${r.seconds.toFixed(2)} s, peak RSS +${r.rssGrowthMB.toFixed(1)} MB`,
          )
        }
      }
    }
  } finally {
    await server.close()
  }
  return Object.fromEntries(
    Object.entries(samples).map(([mode, byKey]) => [
      mode,
      Object.fromEntries(
        Object.entries(byKey).map(([k, s]) => [
          k,
          { rssGrowthMB: median(s.rss), rounds: s.rss, seconds: median(s.seconds) },
        ]),
      ),
    ]),
  )
}

/**
 * Child mode: the heap of AGENTS_N idle agents of one library, each built from
 * its own copy of one saved session and having made one request (an in-process
 * fake fetch answering a fresh 200). Reported: the heap of the copies alone
 * (`copiesBytes`), and what the agents add on top of them (`agentsBytes`),
 * each `heapUsed` after full GCs. The array holding the agents (8 B a slot) is
 * in the agents' figure, for both libraries.
 */
async function agentsChild(key: 'ours' | 'upstream' | 'baseline') {
  const Agent =
    key === 'baseline'
      ? ((await import(BASELINE!)) as typeof import('lex-password-agent')).PasswordAgent
      : PasswordAgent
  const saved = { data: sessionData(PDS), refreshedAt: new Date().toISOString(), pdsUrl: PDS, service: SERVICE }
  // What each library persists: ours the Session, upstream its session data with `service`.
  const form = key === 'upstream' ? { ...saved.data, service: SERVICE } : saved
  const json = JSON.stringify(form)
  const fetch = () => Promise.resolve(new Response(null, { status: 200 }))
  const create = (copy: never) =>
    key === 'upstream' ? new PasswordSession(copy, { fetch }) : new Agent(copy, { fetch })
  // Warm-up: compiled code, lex-client's and our module-level caches.
  for (let i = 0; i < 1000; i++) await create(JSON.parse(json) as never).fetchHandler(PATH, xrpcQueryInit())
  gcFully()
  const heap0 = process.memoryUsage().heapUsed
  const copies: unknown[] = []
  for (let i = 0; i < AGENTS_N; i++) copies.push(JSON.parse(json))
  gcFully()
  const heap1 = process.memoryUsage().heapUsed
  const agents: Array<PasswordAgent | PasswordSession> = []
  for (let i = 0; i < AGENTS_N; i++) {
    const agent = create(copies[i] as never)
    agents.push(agent)
    const res = await agent.fetchHandler(PATH, xrpcQueryInit())
    if (res.status !== 200) throw new Error(`${key}: request ${i} answered ${res.status}`)
  }
  gcFully()
  const heap2 = process.memoryUsage().heapUsed
  if (agents.length !== copies.length) throw new Error('unreachable')
  process.stdout.write(`${JSON.stringify({ key, copiesBytes: heap1 - heap0, agentsBytes: heap2 - heap1 })}\n`)
}

type AgentsResult = { key: string; copiesBytes: number; agentsBytes: number }
function runAgentsChild(key: string): Promise<AgentsResult> {
  const args = [
    ...process.execArgv.filter((a) => a !== '--expose-gc'),
    '--expose-gc',
    new URL(import.meta.url).pathname,
  ]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, 'agents', key], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`agents child ${key} exited ${code}`)),
    )
  })
}

/**
 * Heap per idle agent, side by side: AGENTS_N agents per library, each in a
 * fresh process per round (rotated order), median of the rounds. B/agent is
 * the agents' heap with the session copies' own heap subtracted, over AGENTS_N.
 */
async function agentHeap() {
  const keys = ['ours', 'upstream', ...(BASELINE ? ['baseline'] : [])]
  const rounds: Record<string, { perAgent: number[]; copyBytes: number[] }> = {}
  for (let round = 0; round < AGENTS_ROUNDS; round++) {
    for (const key of rotate(keys, round)) {
      const r = await runAgentsChild(key)
      const s = (rounds[key] ??= { perAgent: [], copyBytes: [] })
      s.perAgent.push(r.agentsBytes / AGENTS_N)
      s.copyBytes.push(r.copiesBytes / AGENTS_N)
      log(
        `agents ${key}: ${AGENTS_N} idle agents ${(r.agentsBytes / AGENTS_N).toFixed(0)} B each over their session copies (${(r.copiesBytes / AGENTS_N).toFixed(0)} B each)`,
      )
    }
  }
  return Object.fromEntries(
    Object.entries(rounds).map(([key, s]) => [
      key,
      { bytesPerAgent: median(s.perAgent), rounds: s.perAgent, copyBytes: median(s.copyBytes) },
    ]),
  )
}

export async function main() {
  return {
    heapN: HEAP_N,
    heapGrowthMB: await heapGrowth(),
    agentsN: AGENTS_N,
    agents: await agentHeap(),
    streamMB: STREAM_MB,
    stream: await streamGrowth(),
  }
}

if (import.meta.main) {
  if (process.argv[2] === 'stream')
    await streamChild(process.argv[3]!, process.argv[4]!, process.argv[5] as RequestRedirect)
  else if (process.argv[2] === 'agents') await agentsChild(process.argv[3] as 'ours' | 'upstream' | 'baseline')
  else if (process.argv[2] === 'agent-heap') emit('memory', { agentsN: AGENTS_N, agents: await agentHeap() })
  else emit('memory', await main())
}
