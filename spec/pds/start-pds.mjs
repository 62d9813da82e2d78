// Starts a throwaway reference AT Protocol PDS (@atproto/pds) and an in-memory PLC directory
// (@did-plc/server) in this process. Both listen on 127.0.0.1 only. The harness contacts no
// other address: it has no crawlers, no appview, no moderation service and no email server.
//
// Must run on Node >= 22, and the server must already be installed (`bash spec/pds/install.sh`):
//   spec/pds/.install/toolchain/node_modules/.bin/node spec/pds/start-pds.mjs
// The packages are loaded from spec/pds/.install/server/node_modules (or $PDS_INSTALL_DIR/server).
//
// Environment (all optional):
//   PDS_PORT                 PDS port on 127.0.0.1 (default: a free port)
//   PLC_PORT                 PLC port on 127.0.0.1 (default: a free port)
//   PDS_DATA_DIR             sqlite/blob directory, kept on exit (default: a fresh temp
//                            directory, removed on exit)
//   PDS_JWT_SECRET           HS256 secret of the session JWTs (default: random)
//   PDS_ADMIN_PASSWORD       admin password, for Basic admin:<pw> (default: random)
//   PDS_DID_DOC_WITH_SESSION=1  add didDoc to createSession/getSession/refreshSession
//   PDS_ACCESS_TTL_S         lifetime of issued access JWTs, seconds (PDS default: 7200)
//   PDS_REFRESH_TTL_S        lifetime of issued refresh JWTs, seconds (PDS default: 90 days)
//   PDS_STOP_ON_STDIN_END=1  stop when stdin closes (the harness sets it, so the server
//                            goes away with the process that started it)
//   LOG_ENABLED=true         PDS and PLC logs (pino) on stdout
//
// Prints one line `PDS_READY {json}` on stdout once both servers listen, and
// `PDS_STOPPED <reason>` when it stops (SIGTERM, SIGINT or stdin end), exit code 0.
// Exit code 75 means the chosen port was taken meanwhile: start it again.
import crypto from 'node:crypto'
import fs from 'node:fs'
import module, { createRequire } from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const t0 = Date.now()
const HOST = '127.0.0.1'
const here = path.dirname(fileURLToPath(import.meta.url))
const installDir = path.resolve(process.env.PDS_INSTALL_DIR || path.join(here, '.install'))
const serverDir = path.join(installDir, 'server')

const fail = (msg, code = 1) => {
  console.error(`start-pds: ${msg}`)
  process.exit(code)
}

if (Number(process.versions.node.split('.')[0]) < 22) {
  fail(
    `needs Node >= 22 (this is ${process.version}); run it with ${path.join(installDir, 'toolchain/node_modules/.bin/node')}`,
  )
}

// --- load the installed server packages --------------------------------------------------
// Node's on-disk compile cache makes the ~600-package import about 15 % faster after the
// first start (NODE_DISABLE_COMPILE_CACHE=1 turns it off).
module.enableCompileCache?.(path.join(installDir, 'compile-cache'))
const requireFromServer = createRequire(path.join(serverDir, 'package.json'))
const load = async (name) => {
  let file
  try {
    file = requireFromServer.resolve(name)
  } catch {
    fail(`${name} is not installed in ${serverDir}; run: bash spec/pds/install.sh`)
  }
  return import(pathToFileURL(file).href)
}
const { PDS } = await load('@atproto/pds')
const plcModule = await load('@did-plc/server')
const { PlcServer, Database: PlcDatabase } = plcModule.default ?? plcModule

// --- options -------------------------------------------------------------------------------
const envInt = (name) => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) fail(`${name} must be a non-negative integer, got "${raw}"`)
  return n
}
const envBool = (name) => /^(1|true|yes)$/i.test(process.env[name] ?? '')

const fixedPdsPort = envInt('PDS_PORT')
const plcPortWanted = envInt('PLC_PORT') ?? 0
const accessTtlS = envInt('PDS_ACCESS_TTL_S') || undefined
const refreshTtlS = envInt('PDS_REFRESH_TTL_S') || undefined
const didDocWithSession = envBool('PDS_DID_DOC_WITH_SESSION')
const jwtSecret = process.env.PDS_JWT_SECRET || crypto.randomBytes(32).toString('hex')
const adminPassword = process.env.PDS_ADMIN_PASSWORD || `admin-${crypto.randomBytes(12).toString('hex')}`

const ownDataDir = !process.env.PDS_DATA_DIR
const dataDir = ownDataDir ? fs.mkdtempSync(path.join(os.tmpdir(), 'lex-pds-')) : path.resolve(process.env.PDS_DATA_DIR)
fs.mkdirSync(dataDir, { recursive: true })
const removeDataDir = () => {
  if (ownDataDir) fs.rmSync(dataDir, { recursive: true, force: true })
}
// Last resort, also after a crash; not reached on SIGKILL.
process.on('exit', removeDataDir)

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, HOST, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })

// express' app.listen(port) binds every interface: force 127.0.0.1.
const bindLoopback = (app) => {
  const listen = app.listen.bind(app)
  app.listen = (port, ...rest) => listen(port, HOST, ...rest)
}

let plc
let pds
let stopping = false
const stop = async (reason, code = 0) => {
  if (stopping) return
  stopping = true
  const force = setTimeout(() => {
    console.error('start-pds: shutdown took more than 10 s, exiting anyway')
    process.exit(code || 1)
  }, 10_000)
  force.unref()
  for (const [name, server] of [
    ['PDS', pds],
    ['PLC', plc],
  ]) {
    try {
      await server?.destroy()
    } catch (err) {
      // a server that never got to listen (port taken) can't be closed: nothing to do
      if (err?.code !== 'ERR_SERVER_NOT_RUNNING') console.error(`start-pds: ${name} shutdown error`, err)
    }
  }
  removeDataDir()
  if (code === 0) console.log(`PDS_STOPPED ${reason}`)
  process.exit(code)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
if (envBool('PDS_STOP_ON_STDIN_END')) {
  process.stdin.on('end', () => stop('stdin-end'))
  process.stdin.on('error', () => stop('stdin-error'))
  process.stdin.resume()
}

try {
  // --- PLC directory: in memory, as in @atproto/dev-env -------------------------------------
  plc = PlcServer.create({ db: PlcDatabase.mock(), port: plcPortWanted })
  bindLoopback(plc.app)
  const plcServer = await plc.start()
  const plcPort = plcServer.address().port
  // The PDS's DID resolver rejects IP-literal hosts ("Invalid hostname"), so the PLC URL
  // must use a name. localhost resolves to loopback.
  const plcUrl = `http://localhost:${plcPort}`

  // --- PDS ---------------------------------------------------------------------------------
  const pdsPort = fixedPdsPort ?? (await freePort())
  pds = await PDS.fromEnv({
    port: pdsPort,
    hostname: 'localhost', // publicUrl http://localhost:PORT, did:web:localhost
    devMode: true,
    dataDirectory: dataDir,
    blobstoreDiskLocation: path.join(dataDir, 'blobs'),
    didPlcUrl: plcUrl,
    plcRotationKeyK256PrivateKeyHex: crypto.randomBytes(32).toString('hex'),
    jwtSecret,
    adminPassword,
    inviteRequired: false,
    serviceHandleDomains: ['.test'],
    enableDidDocWithSession: didDocWithSession,
    // No email settings (mail goes to nodemailer's jsonTransport), no appview, no
    // moderation service, no crawlers; rate limits are off when unset.
    crawlers: [],
    disableSsrfProtection: true,
  })

  // --- short token lifetimes -----------------------------------------------------------------
  // The PDS hard-codes 120 min / 90 days. Re-sign the JWTs it just issued with the same
  // header, claims and secret and a shorter exp, so the server itself later answers them
  // with its real "ExpiredToken" error. Server-side refresh-token rows are unchanged.
  if (accessTtlS || refreshTtlS) {
    const key = Buffer.from(jwtSecret, 'utf8') // as createSecretKeyObject() in @atproto/pds
    const resign = (jwt, ttl) => {
      if (!ttl || typeof jwt !== 'string') return jwt
      const [header, payload] = jwt.split('.')
      if (JSON.parse(Buffer.from(header, 'base64url').toString()).alg !== 'HS256') {
        throw new Error('start-pds: expected an HS256 session JWT')
      }
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
      const body = Buffer.from(JSON.stringify({ ...claims, exp: claims.iat + ttl })).toString('base64url')
      const sig = crypto.createHmac('sha256', key).update(`${header}.${body}`).digest('base64url')
      return `${header}.${body}.${sig}`
    }
    const accountManager = pds.ctx.accountManager
    // createAccount, createSession (password or app password), refreshSession
    for (const method of ['createAccountAndSession', 'createSession', 'rotateRefreshToken']) {
      const original = accountManager[method]
      if (typeof original !== 'function') {
        throw new Error(`start-pds: accountManager.${method} is missing; cannot shorten token lifetimes`)
      }
      accountManager[method] = async function (...args) {
        const res = await original.apply(this, args)
        if (!res) return res
        return {
          ...res,
          accessJwt: resign(res.accessJwt, accessTtlS),
          refreshJwt: resign(res.refreshJwt, refreshTtlS),
        }
      }
    }
  }

  bindLoopback(pds.app)
  try {
    await pds.start()
  } catch (err) {
    if (err?.code === 'EADDRINUSE' && fixedPdsPort === undefined) {
      console.error(`start-pds: port ${pdsPort} was taken meanwhile`)
      await stop('port-taken', 75)
    }
    throw err
  }

  console.log(
    'PDS_READY ' +
      JSON.stringify({
        pdsUrl: `http://${HOST}:${pdsPort}`,
        publicUrl: pds.ctx.cfg.service.publicUrl,
        serviceDid: pds.ctx.cfg.service.did,
        plcUrl,
        dataDir,
        jwtSecret,
        adminPassword,
        accessTtlS: accessTtlS ?? 7200,
        refreshTtlS: refreshTtlS ?? 90 * 86400,
        didDocWithSession,
        pid: process.pid,
        node: process.version,
        startMs: Date.now() - t0,
      }),
  )
} catch (err) {
  console.error('start-pds: failed to start:', err)
  await stop('error', 1)
}
