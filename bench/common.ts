// Shared helpers for the benchmarks: fixtures, statistics, result output.
import os from 'node:os'
import { PasswordSession } from '@atproto/lex-password-session'
import { PasswordAgent } from 'lex-password-agent'

export const DID = 'did:plc:benchbenchbenchbenchbenc' as const
export const SERVICE = 'https://entryway.example'
export const PDS = 'https://pds.example'

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An unsigned but well-formed JWT, `exp` in seconds from now (default 2 h). */
export function fakeJwt(claims: Record<string, unknown> = {}, expInS = 7200): string {
  const iat = Math.floor(Date.now() / 1000)
  const body = { scope: 'com.atproto.access', sub: DID, iat, exp: iat + expInS, ...claims }
  return `${b64url({ typ: 'at+jwt', alg: 'HS256' })}.${b64url(body)}.c2lnbmF0dXJl`
}

export function didDoc(pds: string = PDS) {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: DID,
    alsoKnownAs: ['at://alice.example'],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  }
}

/** A createSession answer with fresh tokens and a DID document pointing at `pds`. */
export function sessionData(pds: string = PDS) {
  return {
    accessJwt: fakeJwt(),
    refreshJwt: fakeJwt({ scope: 'com.atproto.refresh' }, 90 * 86400),
    did: DID,
    handle: 'alice.example',
    email: 'alice@example.com',
    emailConfirmed: true,
    didDoc: didDoc(pds),
    active: true,
  }
}

/** The `init` lex-client's `xrpc()` hands to `agent.fetchHandler` for a query. */
export function xrpcQueryInit(): RequestInit {
  return {
    duplex: 'half',
    redirect: 'follow',
    referrerPolicy: 'strict-origin-when-cross-origin',
    mode: 'cors',
    signal: undefined,
    method: 'GET',
    headers: new Headers({ accept: 'application/json' }),
  } as RequestInit
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const min = (values: readonly number[]) => Math.min(...values)
export const max = (values: readonly number[]) => Math.max(...values)

/** Rotates `items` by `round` so no variant always runs first (or last) in a round. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function machine() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  }
}

/** Progress goes to stderr; the one result line (JSON) to stdout, for bench/run.ts. */
export const log = (...args: unknown[]) => console.error(...args)

export function emit(name: string, result: unknown): void {
  process.stdout.write(`${JSON.stringify({ bench: name, result })}\n`)
}

/** Starts bench/loopback-server.ts in its own process; `close()` ends it. */
export async function startLoopbackServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const { spawn } = await import('node:child_process')
  const script = new URL('./loopback-server.ts', import.meta.url).pathname
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      const line = out.split('\n')[0]
      if (out.includes('\n')) resolve((JSON.parse(line!) as { url: string }).url)
    })
    child.on('exit', (code) => reject(new Error(`loopback server exited (${code})`)))
  })
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        child.on('exit', () => resolve())
        child.stdin!.end()
      }),
  }
}

export type Handler = (path: `/${string}`, init: RequestInit) => Promise<Response>

/** The three clients, all pointed at `pds` (sessions routed there by their DID document). */
export function clients(pds: string, fetch?: typeof globalThis.fetch): Record<string, Handler> {
  const data = sessionData(pds)
  const bearer = `Bearer ${data.accessJwt}`
  const terminal = fetch ?? ((input, init) => globalThis.fetch(input, init))
  const agent = new PasswordAgent(
    { data, refreshedAt: new Date().toISOString(), pdsUrl: pds, service: SERVICE } as never,
    { fetch: terminal },
  )
  const upstream = new PasswordSession({ ...data, service: SERVICE } as never, { fetch: terminal })
  return {
    bare: (path, init) => {
      const headers = new Headers(init.headers)
      headers.set('authorization', bearer)
      return terminal(new URL(path, pds), { ...init, headers })
    },
    upstream: (path, init) => upstream.fetchHandler(path, init),
    ours: (path, init) => agent.fetchHandler(path, init),
  }
}
