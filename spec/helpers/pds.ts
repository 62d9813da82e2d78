// Test helper: a real reference PDS (@atproto/pds) with an in-memory PLC directory, on
// 127.0.0.1, started as a child process (spec/pds/start-pds.mjs on the Node 22 that
// spec/pds/install.sh installs). It talks to the server with plain global fetch only.
//
//   const pds = await startPds({ accessTtlS: 2 })
//   const alice = await pds.createAccount('alice')
//   ... fetch(`${pds.url}/xrpc/com.atproto.server.getSession`, ...) ...
//   await pds.stop()
//
// Works from jest (TypeScript through babel) and from plain Node 22 scripts (type stripping),
// e.g. scripts/pds.mjs. If the caller forgets stop(), the server still goes away when the
// calling process exits: it stops when its stdin closes.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const PDS_INSTALL_COMMAND = 'bash spec/pds/install.sh'

/** spec/pds: the harness's own files (install.sh, start-pds.mjs, package*.json). */
export const PDS_HARNESS_DIR: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../pds')

export interface StartPdsOptions {
  /** Lifetime of access JWTs issued by createAccount/createSession/refreshSession (default 7200 s). */
  accessTtlS?: number
  /** Lifetime of refresh JWTs issued by createAccount/createSession/refreshSession (default 90 days). */
  refreshTtlS?: number
  /** Add didDoc to createSession/getSession/refreshSession (PDS default: off). */
  didDocWithSession?: boolean
  /** Admin password, for Basic admin:<password> (default: random). */
  adminPassword?: string
  /** HS256 secret of the session JWTs (default: random). */
  jwtSecret?: string
  /** How long to wait for the server to be ready (default 30 000 ms). */
  timeoutMs?: number
  /** Show the server's output (and its pino logs) on stderr. Also on with env PDS_LOG=1. */
  log?: boolean
}

export interface TestAccount {
  did: string
  handle: string
  email: string
  password: string
  accessJwt: string
  refreshJwt: string
}

export interface MintJwtOptions {
  /** exp − now, in seconds; negative for an already expired token. */
  expSecondsFromNow: number
  /** Default 'com.atproto.access'; e.g. 'com.atproto.appPass'. */
  scope?: string
}

export interface TestPds {
  /** http://127.0.0.1:PORT: where to send requests. */
  url: string
  /** http://localhost:PORT: the PDS's own public URL, also the endpoint in DID documents. */
  publicUrl: string
  /** http://localhost:PORT of the in-memory PLC directory. */
  plcUrl: string
  adminPassword: string
  jwtSecret: string
  /** did:web:localhost: the aud of the session JWTs. */
  serviceDid: string
  accessTtlS: number
  refreshTtlS: number
  /** The server process. */
  pid: number
  /** Settles when the server process has exited (after stop(), or if it dies). */
  exited: Promise<void>
  /** Creates an account (handle defaults to a fresh one; ".test" is appended when it has no dot). */
  createAccount(handle?: string): Promise<TestAccount>
  /** Returns the new app password ("xxxx-xxxx-xxxx-xxxx"). */
  createAppPassword(accessJwt: string, name: string, privileged?: boolean): Promise<string>
  /** Admin takedown of an account (com.atproto.admin.updateSubjectStatus). */
  takedown(did: string): Promise<void>
  /** com.atproto.server.deactivateAccount for the session's own account. */
  deactivate(accessJwt: string): Promise<void>
  /** An access JWT signed like the PDS's own (HS256, typ at+jwt), with the given exp. */
  mintAccessJwt(did: string, opts: MintJwtOptions): string
  /** Stops the server (SIGTERM, then SIGKILL after 10 s); its temp data dir is removed. */
  stop(): Promise<void>
}

/** What start-pds.mjs prints after PDS_READY. */
interface ReadyInfo {
  pdsUrl: string
  publicUrl: string
  serviceDid: string
  plcUrl: string
  dataDir: string
  jwtSecret: string
  adminPassword: string
  accessTtlS: number
  refreshTtlS: number
  pid: number
  startMs: number
}

/** spec/pds/.install, or $PDS_INSTALL_DIR. */
export function pdsInstallDir(): string {
  return path.resolve(process.env['PDS_INSTALL_DIR'] || path.join(PDS_HARNESS_DIR, '.install'))
}

/** The Node 22 that runs the server. */
export function pdsNodePath(): string {
  return path.join(pdsInstallDir(), 'toolchain/node_modules/.bin/node')
}

// Same stamp as install.sh writes into server/.installed: it changes with the lockfiles.
const INSTALL_LAYOUT = 1
function expectedStamp(): string {
  const sha = (...parts: (string | Buffer)[]) => {
    const h = crypto.createHash('sha256')
    for (const p of parts) h.update(p)
    return h.digest('hex')
  }
  const read = (rel: string) => fs.readFileSync(path.join(PDS_HARNESS_DIR, rel))
  const toolchain = sha(
    `layout ${INSTALL_LAYOUT}\n`,
    read('toolchain/package.json'),
    read('toolchain/package-lock.json'),
  )
  return sha(`layout ${INSTALL_LAYOUT} ${toolchain}\n`, read('package.json'), read('package-lock.json'))
}

/** Why the harness can't run (undefined when it is installed and matches the lockfiles). */
export function pdsNotInstalledReason(): string | undefined {
  const dir = pdsInstallDir()
  if (!fs.existsSync(pdsNodePath())) return `Node 22 is missing in ${dir}/toolchain`
  let stamp: string
  try {
    stamp = fs.readFileSync(path.join(dir, 'server/.installed'), 'utf8').trim()
  } catch {
    return `the PDS is not installed in ${dir}/server`
  }
  if (stamp !== expectedStamp()) return `the install in ${dir} is out of date with spec/pds/*package*.json`
  return undefined
}

/** True when `bash spec/pds/install.sh` has installed the harness (cheap; starts nothing). */
export function isPdsInstalled(): boolean {
  return pdsNotInstalledReason() === undefined
}

const PORT_TAKEN_EXIT_CODE = 75

let handleCounter = 0

/** Starts a fresh PDS + PLC on 127.0.0.1. Each call gets its own servers and data. */
export async function startPds(opts: StartPdsOptions = {}): Promise<TestPds> {
  const reason = pdsNotInstalledReason()
  if (reason) {
    throw new Error(`PDS test harness not ready: ${reason}. Run: ${PDS_INSTALL_COMMAND}`)
  }
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await spawnPds(opts)
    } catch (err) {
      lastError = err
      if (!(err instanceof PortTakenError)) throw err
    }
  }
  throw lastError
}

class PortTakenError extends Error {}

function spawnPds(opts: StartPdsOptions): Promise<TestPds> {
  const log = opts.log ?? /^(1|true)$/i.test(process.env['PDS_LOG'] ?? '')
  // About 2 s on an idle machine; generous for a loaded 2-core one.
  const timeoutMs = opts.timeoutMs ?? 90_000
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PDS_STOP_ON_STDIN_END: '1',
    LOG_ENABLED: log ? 'true' : 'false',
  }
  // Only what the caller asks for; nothing else from the parent's PDS_* settings, and none
  // of the parent's NODE_OPTIONS (an --inspect or a loader meant for the test runner).
  for (const key of [
    'NODE_OPTIONS',
    'PDS_PORT',
    'PLC_PORT',
    'PDS_DATA_DIR',
    'PDS_JWT_SECRET',
    'PDS_ADMIN_PASSWORD',
    'PDS_DID_DOC_WITH_SESSION',
    'PDS_ACCESS_TTL_S',
    'PDS_REFRESH_TTL_S',
  ]) {
    delete env[key]
  }
  if (opts.accessTtlS !== undefined) env['PDS_ACCESS_TTL_S'] = String(opts.accessTtlS)
  if (opts.refreshTtlS !== undefined) env['PDS_REFRESH_TTL_S'] = String(opts.refreshTtlS)
  if (opts.didDocWithSession) env['PDS_DID_DOC_WITH_SESSION'] = '1'
  if (opts.adminPassword !== undefined) env['PDS_ADMIN_PASSWORD'] = opts.adminPassword
  if (opts.jwtSecret !== undefined) env['PDS_JWT_SECRET'] = opts.jwtSecret

  const child = spawn(pdsNodePath(), [path.join(PDS_HARNESS_DIR, 'start-pds.mjs')], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  // Neither the child nor its pipes keep the caller alive; when the caller exits, the
  // child's stdin closes and it stops by itself.
  child.unref()
  for (const s of [child.stdin, child.stdout, child.stderr]) unrefStream(s)
  child.stdin?.on('error', () => {}) // EPIPE once the child is gone

  let stderrTail = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d: string) => {
    stderrTail = (stderrTail + d).slice(-4000)
    if (log) process.stderr.write(d)
  })

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  return new Promise<TestPds>((resolve, reject) => {
    let stdoutBuf = ''
    let ready = false
    const fail = (err: Error) => {
      if (ready) return
      ready = true
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      reject(err)
    }
    const timer = setTimeout(() => {
      fail(
        new Error(
          `PDS did not start within ${timeoutMs} ms.${tail(stderrTail)}\nIf the install is broken, run: ${PDS_INSTALL_COMMAND}`,
        ),
      )
    }, timeoutMs)

    child.once('error', (err) =>
      fail(new Error(`could not start ${pdsNodePath()}: ${err.message}. Run: ${PDS_INSTALL_COMMAND}`)),
    )
    child.once('exit', (code, signal) => {
      if (code === PORT_TAKEN_EXIT_CODE) return fail(new PortTakenError('port taken'))
      fail(
        new Error(
          `PDS exited before it was ready (code ${code}, signal ${signal}).${tail(stderrTail)}\nIf the install is broken, run: ${PDS_INSTALL_COMMAND}`,
        ),
      )
    })

    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (d: string) => {
      if (log) process.stderr.write(d)
      if (ready) return
      stdoutBuf += d
      const m = /^PDS_READY (\{.*\})$/m.exec(stdoutBuf)
      if (!m?.[1]) return
      ready = true
      clearTimeout(timer)
      stdoutBuf = ''
      let info: ReadyInfo
      try {
        info = JSON.parse(m[1]) as ReadyInfo
      } catch (err) {
        child.kill('SIGKILL')
        reject(new Error(`bad PDS_READY line: ${m[1]}`, { cause: err }))
        return
      }
      resolve(makeTestPds(info, child, exited))
    })
  })
}

function unrefStream(s: unknown): void {
  const u = s as { unref?: () => void } | null
  u?.unref?.()
}

function tail(text: string): string {
  const t = text.trim()
  return t ? `\n--- server stderr (last lines) ---\n${t.split('\n').slice(-25).join('\n')}` : ''
}

function makeTestPds(info: ReadyInfo, child: ChildProcess, exited: Promise<void>): TestPds {
  const url = info.pdsUrl

  async function xrpc(nsid: string, init: { body?: unknown; authorization?: string }): Promise<unknown> {
    const headers: Record<string, string> = {}
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    if (init.authorization) headers['authorization'] = init.authorization
    const res = await fetch(`${url}/xrpc/${nsid}`, {
      method: 'POST',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${nsid} failed: ${res.status} ${text}`)
    return text ? (JSON.parse(text) as unknown) : undefined
  }

  let stopPromise: Promise<void> | undefined

  return {
    url,
    publicUrl: info.publicUrl,
    plcUrl: info.plcUrl,
    adminPassword: info.adminPassword,
    jwtSecret: info.jwtSecret,
    serviceDid: info.serviceDid,
    accessTtlS: info.accessTtlS,
    refreshTtlS: info.refreshTtlS,
    pid: info.pid,
    exited,

    async createAccount(handle?: string): Promise<TestAccount> {
      const h = handle
        ? handle.includes('.')
          ? handle
          : `${handle}.test`
        : `u${++handleCounter}-${crypto.randomBytes(3).toString('hex')}.test`
      const email = `${h.split('.')[0]}@example.com`
      const password = `pw-${crypto.randomBytes(9).toString('base64url')}`
      const res = (await xrpc('com.atproto.server.createAccount', {
        body: { handle: h, email, password },
      })) as { did: string; handle: string; accessJwt: string; refreshJwt: string }
      return { did: res.did, handle: res.handle, email, password, accessJwt: res.accessJwt, refreshJwt: res.refreshJwt }
    },

    async createAppPassword(accessJwt: string, name: string, privileged = false): Promise<string> {
      const res = (await xrpc('com.atproto.server.createAppPassword', {
        authorization: `Bearer ${accessJwt}`,
        body: { name, privileged },
      })) as { password: string }
      return res.password
    },

    async takedown(did: string): Promise<void> {
      await xrpc('com.atproto.admin.updateSubjectStatus', {
        authorization: `Basic ${Buffer.from(`admin:${info.adminPassword}`).toString('base64')}`,
        body: {
          subject: { $type: 'com.atproto.admin.defs#repoRef', did },
          takedown: { applied: true, ref: 'test-takedown' },
        },
      })
    },

    async deactivate(accessJwt: string): Promise<void> {
      await xrpc('com.atproto.server.deactivateAccount', {
        authorization: `Bearer ${accessJwt}`,
        body: {},
      })
    },

    mintAccessJwt(did: string, { expSecondsFromNow, scope = 'com.atproto.access' }: MintJwtOptions): string {
      const now = Math.floor(Date.now() / 1000)
      const exp = now + Math.trunc(expSecondsFromNow)
      const iat = exp <= now ? exp - 3600 : now
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
      const input = `${b64({ typ: 'at+jwt', alg: 'HS256' })}.${b64({ scope, aud: info.serviceDid, sub: did, iat, exp })}`
      const sig = crypto.createHmac('sha256', Buffer.from(info.jwtSecret, 'utf8')).update(input).digest('base64url')
      return `${input}.${sig}`
    },

    stop(): Promise<void> {
      stopPromise ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.ref() // keep the caller alive until the server is gone
        child.kill('SIGTERM')
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref())
        if ((await Promise.race([exited, timer])) === 'timeout') {
          child.kill('SIGKILL')
          await exited
        }
      })()
      return stopPromise
    },
  }
}
