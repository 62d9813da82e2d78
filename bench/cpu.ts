// CPU per request of each library's own work: the terminal fetch is a stub that
// returns a ready Response, so what is timed is header/URL handling, routing,
// token checks and the promise chain. 100k sequential requests per variant,
// rounds interleaved (rotated order), median of the rounds. Two families: the
// raw `fetchHandler` (what each library adds under lex-client), and the same
// call made through lex-client's `Client` (`client.xrpc(getProfile)`, what an
// app pays in all), each over its own floor: a bare agent that copies the
// Headers lex-client hands it and adds a static bearer.
import { AtpAgent, CredentialSession } from '@atproto/api'
import { Client, type Agent } from '@atproto/lex-client'
import { PasswordSession } from '@atproto/lex-password-session'
import { l } from '@atproto/lex-schema'
import { PasswordAgent } from 'lex-password-agent'
import { DID, emit, log, median, PDS, rotate, SERVICE, sessionData, xrpcQueryInit } from './common.ts'

const N = Number(process.env.BENCH_CPU_N ?? 100_000)
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 5)
const CHUNK = 5_000
const PATH = `/xrpc/app.bsky.actor.getProfile?actor=did%3Aplc%3Abenchbenchbenchbenchbenc`
/** The query the Client variants call: `PATH` with its one parameter; no output schema to validate (the stub answers no body). */
const getProfile = l.query('app.bsky.actor.getProfile', l.params({ actor: l.string() }), l.payload())

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

type Handler = (path: `/${string}`, init: RequestInit) => Promise<unknown>
/** `floor`: the variant whose time is subtracted to give this one's overhead. */
type Variant = { key: string; label: string; handler: Handler; token: string; floor: string }

/** A variant that makes the call through lex-client's `Client` around `agent` (its own `path` and `init`). */
const throughClient = (agent: Agent): Handler => {
  const client = new Client(agent)
  return () => client.xrpc(getProfile, { params: { actor: DID } })
}

async function variants(): Promise<Variant[]> {
  const data = sessionData()
  const bearer = `Bearer ${data.accessJwt}`

  // The floor: what any wrapper must do (resolve the path, copy the headers, add a bearer).
  const bare = (path: string, init: RequestInit): Promise<Response> => {
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
  // the preset as one more variant (before/after comparisons of an optimisation),
  // named BENCH_BASELINE_LABEL if given.
  const baseline = process.env.BENCH_CPU_BASELINE
  const named = process.env.BENCH_BASELINE_LABEL
  const extra: Variant[] = []
  if (baseline) {
    const { PasswordAgent: Before } = (await import(baseline)) as typeof import('lex-password-agent')
    const before = new Before(session as never, { fetch: fetchStub })
    extra.push(
      {
        key: 'baseline',
        label: named ? `PasswordAgent ${named}` : `PasswordAgent from ${baseline}`,
        handler: (p, i) => before.fetchHandler(p, i),
        token: data.accessJwt,
        floor: 'bare',
      },
      {
        key: 'clientBaseline',
        label: named ? `Client + PasswordAgent ${named}` : `Client + PasswordAgent from ${baseline}`,
        handler: throughClient(before),
        token: data.accessJwt,
        floor: 'clientBare',
      },
    )
  }

  const t = data.accessJwt
  return [
    ...extra,
    { key: 'bare', label: 'bare fetch + static bearer', handler: bare, token: t, floor: 'bare' },
    {
      key: 'upstream',
      label: '@atproto/lex-password-session PasswordSession',
      handler: (p, i) => upstream.fetchHandler(p, i),
      token: t,
      floor: 'bare',
    },
    {
      key: 'api',
      label: '@atproto/api AtpAgent (CredentialSession)',
      handler: (p, i) => credential.fetchHandler(p, i),
      token: t,
      floor: 'bare',
    },
    {
      key: 'ours',
      label: 'lex-password-agent PasswordAgent (preset)',
      handler: (p, i) => ours.fetchHandler(p, i),
      token: t,
      floor: 'bare',
    },
    {
      key: 'oursReactive',
      label: 'lex-password-agent, refreshAhead: false',
      handler: (p, i) => oursReactive.fetchHandler(p, i),
      token: t,
      floor: 'bare',
    },
    {
      key: 'clientBare',
      label: 'Client + bare agent (Headers copy + static bearer)',
      handler: throughClient({ fetchHandler: bare }),
      token: t,
      floor: 'clientBare',
    },
    {
      key: 'clientUpstream',
      label: 'Client + upstream PasswordSession',
      handler: throughClient(upstream),
      token: t,
      floor: 'clientBare',
    },
    {
      key: 'clientOurs',
      label: 'Client + our PasswordAgent (preset)',
      handler: throughClient(ours),
      token: t,
      floor: 'clientBare',
    },
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
    log(
      `cpu round ${round + 1}/${ROUNDS}: ${all.map((v) => `${v.key} ${samples[v.key]!.at(-1)!.toFixed(2)}`).join(', ')} µs/req`,
    )
  }
  const result = all.map((v) => ({
    key: v.key,
    label: v.label,
    usPerRequest: median(samples[v.key]!),
    rounds: samples[v.key]!,
  }))
  // Overhead over the variant's floor: the median of the per-round differences (they ran side by side).
  const overFloor = (v: Variant) => median(samples[v.key]!.map((x, i) => x - samples[v.floor]![i]!))
  const variantsOut = all.map((v, i) => ({ ...result[i]!, floor: v.floor, overFloor: overFloor(v) }))
  const share = (key: string, of: string) => {
    const a = all.find((v) => v.key === key)!
    const b = all.find((v) => v.key === of)!
    return median(samples[key]!.map((x, i) => (x - samples[a.floor]![i]!) / (samples[of]![i]! - samples[b.floor]![i]!)))
  }
  const client = { oursOverUpstream: share('clientOurs', 'clientUpstream') }
  log(
    `cpu through Client: ours +${variantsOut.find((v) => v.key === 'clientOurs')!.overFloor.toFixed(2)} µs, upstream +${variantsOut
      .find((v) => v.key === 'clientUpstream')!
      .overFloor.toFixed(
        2,
      )} µs over the bare agent (ours ${(client.oursOverUpstream * 100).toFixed(0)} % of upstream's)`,
  )
  return { n: N, rounds: ROUNDS, variants: variantsOut, client }
}

if (import.meta.main) emit('cpu', await main())
