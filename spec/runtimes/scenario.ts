// The runtime matrix's scenario, written once: bundled with the library by
// esbuild and run unchanged in Node, Bun, Deno, workerd and Chromium against
// the loopback origins of mock-server.mjs. It uses only what every fetch
// runtime has; what differs (how a runtime shows a value) comes in `env`.
// Each step is judged by what the mock counted (GET /_mock/stats), so "exactly
// one refreshSession" means one request the server saw.
import { Client } from '@atproto/lex-client'
import getProfile from '../../examples/lexicons/app/bsky/actor/getProfile.ts'
import { isLexPasswordAgentError, PasswordAgent } from '../../lib/index.ts'

/** What the runtime's entry hands the scenario. */
export type ScenarioEnv = {
  /** Origins of mock-server.mjs: the entryway (service), the PDS and one that must never see a token. */
  entryway: string
  pds: string
  foreign: string
  identifier: string
  password: string
  /** The runtime's own ways of showing a value (`util.inspect`, `Deno.inspect`, …), by name. */
  inspectors?: Record<string, (value: unknown) => string>
  /** Bounds each step (default 20 s), so a hung runtime fails a step instead of the run. */
  stepTimeoutMs?: number
}

/** One step's outcome, by name. `detail` says why it failed, or what was seen. */
export type StepResult = { name: string; ok: boolean; detail: string; ms: number }

type Stats = {
  counts: Record<'entryway' | 'pds' | 'foreign', Record<string, number>>
  withAuth: Record<'entryway' | 'pds' | 'foreign', number>
  answers: { expiredToken: number; revokedRefresh: number }
  uploads: { bytes: number; sha256: string }[]
}

/** Fails the step with `message` unless `cond`. */
function expect(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message)
}

const UPLOAD_CHUNKS = 4
const UPLOAD_CHUNK_BYTES = 64 * 1024

export async function runScenario(env: ScenarioEnv): Promise<StepResult[]> {
  const results: StepResult[] = []
  const tokens = new Set<string>() // every token the hooks handed us
  const redirectModes: string[] = [] // of the upload, as the terminal fetch saw it
  let agent: PasswordAgent | undefined
  let client: Client | undefined

  const stats = async (): Promise<Stats> => (await fetch(`${env.entryway}/_mock/stats`)).json() as Promise<Stats>
  const expire = async () => expect((await fetch(`${env.entryway}/_mock/expire`, { method: 'POST' })).ok, 'expire')
  const count = (s: Stats, origin: keyof Stats['counts'], key: string) => s.counts[origin][key] ?? 0
  const total = (s: Stats, origin: keyof Stats['counts']) => Object.values(s.counts[origin]).reduce((a, b) => a + b, 0)
  const REFRESH = 'com.atproto.server.refreshSession'
  const PROFILE = 'app.bsky.actor.getProfile'

  const step = async (name: string, fn: () => Promise<string | void>) => {
    const t0 = Date.now()
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), env.stepTimeoutMs ?? 20_000)
    })
    try {
      if (!agent && name !== 'login') throw new Error('not run: no agent (login failed)')
      const detail = await Promise.race([fn(), deadline])
      results.push({ name, ok: true, detail: detail ?? '', ms: Date.now() - t0 })
    } catch (err) {
      results.push({ name, ok: false, detail: describe(err), ms: Date.now() - t0 })
    } finally {
      clearTimeout(timer)
    }
  }

  await step('login', async () => {
    const result = await PasswordAgent.login({
      service: env.entryway,
      identifier: env.identifier,
      password: env.password,
      hooks: {
        onRefreshed: (session) => {
          tokens.add(session.data.accessJwt)
          tokens.add(session.data.refreshJwt)
        },
      },
      // The terminal fetch, looked up per call as the default is; it notes the
      // redirect mode the upload goes out with.
      fetch: (input, init) => {
        if (String(input instanceof Request ? input.url : input).includes('uploadBlob'))
          redirectModes.push(init?.redirect ?? (input instanceof Request ? input.redirect : 'follow'))
        return fetch(input, init)
      },
    })
    expect(result.success, `login refused: ${result.success ? '' : result.error}`)
    agent = result.value
    client = new Client(agent)
    const s = await stats()
    expect(count(s, 'entryway', 'com.atproto.server.createSession') === 1, 'createSession count is not 1')
    expect(agent.session.pdsUrl === env.pds, `pdsUrl is ${agent.session.pdsUrl}, not the PDS origin`)
    expect(tokens.size === 2, `onRefreshed handed ${tokens.size} tokens, not 2`)
  })

  await step('Client call answered by the PDS', async () => {
    const before = await stats()
    const profile = await client!.call(getProfile, { actor: agent!.did })
    expect(profile.handle === 'alice.test', `getProfile answered ${JSON.stringify(profile)}`)
    const after = await stats()
    expect(count(after, 'pds', PROFILE) - count(before, 'pds', PROFILE) === 1, 'the PDS did not count 1 getProfile')
    expect(after.withAuth.pds - before.withAuth.pds === 1, 'the call carried no Authorization')
    expect(total(after, 'entryway') === total(before, 'entryway'), 'the call went to the entryway')
  })

  await step('forced expiry: exactly one refreshSession', async () => {
    await expire()
    const before = await stats()
    const profile = await client!.call(getProfile, { actor: agent!.did })
    expect(profile.did === agent!.did, 'wrong profile after the refresh')
    const after = await stats()
    const refreshes = count(after, 'entryway', REFRESH) - count(before, 'entryway', REFRESH)
    const expired = after.answers.expiredToken - before.answers.expiredToken
    expect(refreshes === 1, `${refreshes} refreshSession`)
    expect(expired === 1, `${expired} ExpiredToken answers`)
    return `1 ExpiredToken, 1 refreshSession`
  })

  await step('20 concurrent calls after expiry: exactly one refreshSession', async () => {
    await expire()
    const before = await stats()
    const profiles = await Promise.all(
      Array.from({ length: 20 }, () => client!.call(getProfile, { actor: agent!.did })),
    )
    expect(
      profiles.every((p) => p.did === agent!.did),
      'a call failed',
    )
    const after = await stats()
    const refreshes = count(after, 'entryway', REFRESH) - count(before, 'entryway', REFRESH)
    const calls = count(after, 'pds', PROFILE) - count(before, 'pds', PROFILE)
    const expired = after.answers.expiredToken - before.answers.expiredToken
    expect(refreshes === 1, `${refreshes} refreshSession`)
    expect(after.answers.revokedRefresh === before.answers.revokedRefresh, 'a spent refresh token was presented')
    expect(calls === 20 + expired, `${calls} getProfile for 20 calls and ${expired} ExpiredToken answers`)
    return `${expired} ExpiredToken, 1 refreshSession, ${calls} getProfile`
  })

  await step('agent.fetch: token to the PDS origin, none to a foreign one', async () => {
    const before = await stats()
    const res = await agent!.fetch(`${env.pds}/xrpc/${PROFILE}?actor=${encodeURIComponent(agent!.did)}`)
    expect(res.status === 200, `the PDS answered ${res.status}`)
    await res.body?.cancel()
    const foreign = await agent!.fetch(`${env.foreign}/xrpc/${PROFILE}?actor=x`)
    expect(foreign.status === 200, `the foreign origin answered ${foreign.status}`)
    await foreign.body?.cancel()
    const after = await stats()
    expect(after.withAuth.pds - before.withAuth.pds === 1, 'the PDS request carried no Authorization')
    expect(count(after, 'foreign', PROFILE) - count(before, 'foreign', PROFILE) === 1, 'the foreign origin saw no call')
    expect(after.withAuth.foreign === 0, 'the foreign origin received an Authorization header')
  })

  /** A ReadableStream of `bytes`, in chunks; `read()` tells how many chunks were pulled. */
  const streamOf = (bytes: Uint8Array) => {
    let next = 0
    const chunks = Math.ceil(bytes.length / UPLOAD_CHUNK_BYTES)
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (next === chunks) return controller.close()
        controller.enqueue(bytes.slice(next * UPLOAD_CHUNK_BYTES, ++next * UPLOAD_CHUNK_BYTES))
      },
    })
    return { body, read: () => next, chunks }
  }
  const upload = (path: `/${string}`, body: ReadableStream<Uint8Array>) =>
    agent!.fetchHandler(path, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit)
  const UPLOAD = 'com.atproto.repo.uploadBlob'

  await step('authenticated stream upload', async () => {
    const before = await stats()
    const bytes = new Uint8Array(UPLOAD_CHUNKS * UPLOAD_CHUNK_BYTES)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff
    const stream = streamOf(bytes)
    const res = await upload(`/xrpc/${UPLOAD}`, stream.body)
    const answer = await res.text()
    expect(res.status === 200, `uploadBlob answered ${res.status}: ${answer.slice(0, 200)}`)
    const after = await stats()
    const received = after.uploads[before.uploads.length]
    expect(after.uploads.length === before.uploads.length + 1 && received, 'the PDS received no upload')
    const digest = hex(await crypto.subtle.digest('SHA-256', bytes))
    expect(
      received.bytes === bytes.length && received.sha256 === digest,
      `the PDS received ${received.bytes} other bytes`,
    )
    expect(stream.read() === stream.chunks, 'the stream was not read to its end')
    return `${bytes.length} bytes streamed with redirect: '${redirectModes.at(-1)}'`
  })

  await step('stream upload answered by a redirect: fails, not followed', async () => {
    const before = await stats()
    const outcome = await upload(`/xrpc/${UPLOAD}?redirect=1`, streamOf(new Uint8Array(1000)).body).then(
      (res) => `answered ${res.status}`,
      (err: unknown) => err,
    )
    expect(outcome instanceof Error, `the upload did not fail: ${describe(outcome)}`)
    const after = await stats()
    expect(count(after, 'pds', UPLOAD) - count(before, 'pds', UPLOAD) === 1, 'the PDS did not see the upload')
    expect(count(after, 'foreign', UPLOAD) === 0, 'the redirect was followed')
    expect(after.withAuth.foreign === 0, 'the foreign origin received an Authorization header')
    return `redirect: '${redirectModes.at(-1)}', ${describe(outcome)}`
  })

  await step('no token in inspect / JSON / String of the agent', async () => {
    const shown: Record<string, string> = {
      'JSON.stringify': JSON.stringify(agent),
      String: String(agent),
      'template literal': `${agent}`,
    }
    for (const [name, show] of Object.entries(env.inspectors ?? {})) shown[name] = show(agent)
    // What console.log prints is checked by the runner in the runtime's output.
    console.log('scenario: console.log(agent) =', agent)
    for (const [name, text] of Object.entries(shown)) {
      expect(typeof text === 'string' && text.length > 0, `${name} showed nothing`)
      for (const token of tokens) {
        expect(!text.includes(token.split('.')[1]!), `${name} shows a token`)
      }
    }
    return Object.keys(shown).join(', ')
  })

  await step('logout: exactly one deleteSession', async () => {
    const before = await stats()
    await agent!.logout()
    const after = await stats()
    const deletes = (s: Stats) => count(s, 'entryway', 'com.atproto.server.deleteSession')
    expect(deletes(after) - deletes(before) === 1, `${deletes(after) - deletes(before)} deleteSession`)
    expect(agent!.destroyed, 'agent.destroyed is false after logout')
  })

  await step("after logout: calls reject with 'Logged out'", async () => {
    const before = await stats()
    const viaClient = await client!.call(getProfile, { actor: agent!.did }).then(
      () => undefined,
      (err: unknown) => err,
    )
    // lex-client wraps a fetchHandler rejection (XrpcFetchError); ours is its cause.
    const cause = (viaClient as { cause?: unknown } | undefined)?.cause
    expect(
      isLexPasswordAgentError(cause) && cause.code === 'ERR_LOGGED_OUT' && cause.message === 'Logged out',
      `Client call: ${describe(viaClient)}`,
    )
    const viaFetch = await agent!.fetch(`${env.pds}/xrpc/${PROFILE}`).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isLexPasswordAgentError(viaFetch) && viaFetch.message === 'Logged out', `agent.fetch: ${describe(viaFetch)}`)
    const after = await stats()
    expect(total(after, 'pds') === total(before, 'pds'), 'a request reached the PDS after logout')
    expect(total(after, 'entryway') === total(before, 'entryway'), 'a request reached the entryway after logout')
    return `Client: ${(viaClient as Error).name} with cause LoggedOutError; agent.fetch: LoggedOutError`
  })

  return results
}

const hex = (buf: ArrayBuffer) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('')

/** An error as one line: name, message, and its causes' (never a token: the scenario's errors carry none). */
function describe(err: unknown): string {
  const parts: string[] = []
  for (let e = err, depth = 0; e !== undefined && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e))
    if (typeof e !== 'object' || e === null) break
  }
  return parts.join(' <- ')
}
