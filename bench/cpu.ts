// CPU per request of each library's own work: the terminal fetch is a stub that
// returns a ready Response, so what is timed is header/URL handling, routing,
// token checks and the promise chain. 100k sequential requests per variant,
// rounds interleaved (rotated order), median of the rounds.
import { AtpAgent, CredentialSession } from '@atproto/api'
import { PasswordSession } from '@atproto/lex-password-session'
import { PasswordAgent } from 'lex-password-agent'
import { emit, log, median, PDS, rotate, SERVICE, sessionData, xrpcQueryInit } from './common.ts'

const N = Number(process.env.BENCH_CPU_N ?? 100_000)
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 5)
const CHUNK = 5_000
const PATH = `/xrpc/app.bsky.actor.getProfile?actor=did%3Aplc%3Abenchbenchbenchbenchbenc`

const READY = new Response(null, { status: 200 })
let seen: { url: string; auth: string | null } | undefined
const stub = (_input: string | URL | Request, _init?: RequestInit): Promise<Response> => Promise.resolve(READY)
// Used once per variant before timing, to prove each one really sends the token to the PDS.
const checkingStub = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const req = new Request(input, init)
  seen = { url: req.url, auth: req.headers.get('authorization') }
  return Promise.resolve(READY)
}
let terminal = checkingStub
const fetchStub = (input: string | URL | Request, init?: RequestInit) => terminal(input, init)

type Handler = (path: `/${string}`, init: RequestInit) => Promise<Response>
type Variant = { key: string; label: string; handler: Handler; token: string }

async function variants(): Promise<Variant[]> {
  const data = sessionData()
  const bearer = `Bearer ${data.accessJwt}`

  // The floor: what any wrapper must do (resolve the path, copy the headers, add a bearer).
  const bare: Handler = (path, init) => {
    const headers = new Headers(init.headers)
    headers.set('authorization', bearer)
    return fetchStub(new URL(path, PDS), { ...init, headers })
  }

  const upstream = new PasswordSession({ ...data, service: SERVICE } as never, { fetch: fetchStub })

  const credential = new CredentialSession(new URL(SERVICE), fetchStub)
  const api = new AtpAgent(credential)
  credential.session = { ...data, active: true }
  credential.pdsUrl = new URL(PDS)
  if (api.did !== data.did) throw new Error('AtpAgent not set up')

  const session = { data, refreshedAt: new Date().toISOString(), pdsUrl: PDS, service: SERVICE }
  const ours = new PasswordAgent(session as never, { fetch: fetchStub })
  const oursReactive = new PasswordAgent(session as never, { fetch: fetchStub, refreshAhead: false })

  // BENCH_CPU_BASELINE=/path/to/other/checkout/lib/index.ts adds that version of
  // the preset as one more variant (before/after comparisons of an optimisation).
  const baseline = process.env.BENCH_CPU_BASELINE
  const extra: Variant[] = []
  if (baseline) {
    const { PasswordAgent: Before } = (await import(baseline)) as typeof import('lex-password-agent')
    const before = new Before(session as never, { fetch: fetchStub })
    extra.push({ key: 'baseline', label: `PasswordAgent from ${baseline}`, handler: (p, i) => before.fetchHandler(p, i), token: data.accessJwt })
  }

  return [
    ...extra,
    { key: 'bare', label: 'bare fetch + static bearer', handler: bare, token: data.accessJwt },
    { key: 'upstream', label: '@atproto/lex-password-session PasswordSession', handler: (p, i) => upstream.fetchHandler(p, i), token: data.accessJwt },
    { key: 'api', label: '@atproto/api AtpAgent (CredentialSession)', handler: (p, i) => credential.fetchHandler(p, i), token: data.accessJwt },
    { key: 'ours', label: 'lex-password-agent PasswordAgent (preset)', handler: (p, i) => ours.fetchHandler(p, i), token: data.accessJwt },
    { key: 'oursReactive', label: 'lex-password-agent, refreshAhead: false', handler: (p, i) => oursReactive.fetchHandler(p, i), token: data.accessJwt },
  ]
}

/**
 * µs of CPU time per request (user + system, `process.cpuUsage`): on a shared
 * machine, time spent descheduled is not counted, unlike wall-clock time.
 */
async function time(handler: Handler, init: RequestInit, n: number): Promise<number> {
  const c0 = process.cpuUsage()
  for (let i = 0; i < n; i++) await handler(PATH, init)
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / n
}

export async function main() {
  const all = await variants()
  const init = xrpcQueryInit()
  for (const v of all) {
    seen = undefined
    await v.handler(PATH, init)
    const got = seen as { url: string; auth: string | null } | undefined
    if (got?.url !== `${PDS}${PATH}` || got.auth !== `Bearer ${v.token}`) {
      throw new Error(`${v.key}: the request did not reach the PDS with the token (${JSON.stringify(got?.url)})`)
    }
  }
  terminal = stub
  const gc = (globalThis as { gc?: () => void }).gc
  // Warm-up: let every variant reach optimised code before anything is timed.
  for (const v of all) await time(v.handler, init, Math.min(N, 20_000))
  // Each round runs N requests per variant in chunks of CHUNK, the variants
  // alternating chunk by chunk, so a burst of noise from a neighbour on this
  // shared machine lands on all of them alike.
  const samples: Record<string, number[]> = Object.fromEntries(all.map((v) => [v.key, []]))
  for (let round = 0; round < ROUNDS; round++) {
    const spent: Record<string, number> = Object.fromEntries(all.map((v) => [v.key, 0]))
    for (let chunk = 0; chunk < N / CHUNK; chunk++) {
      for (const v of rotate(all, round + chunk)) spent[v.key]! += await time(v.handler, init, CHUNK)
    }
    for (const v of all) samples[v.key]!.push(spent[v.key]! / (N / CHUNK))
    gc?.()
    log(`cpu round ${round + 1}/${ROUNDS}: ${all.map((v) => `${v.key} ${samples[v.key]!.at(-1)!.toFixed(2)}`).join(', ')} µs/req`)
  }
  const result = all.map((v) => ({
    key: v.key,
    label: v.label,
    usPerRequest: median(samples[v.key]!),
    rounds: samples[v.key]!,
  }))
  const bare = result.find((r) => r.key === 'bare')!.usPerRequest
  return { n: N, rounds: ROUNDS, variants: result.map((r) => ({ ...r, overBare: r.usPerRequest - bare })) }
}

if (import.meta.main) emit('cpu', await main())
