#!/usr/bin/env node
// Runs the test harness's reference PDS (+ in-memory PLC) on 127.0.0.1 in the foreground,
// for trying things by hand. Install it first: bash spec/pds/install.sh
//
//   node scripts/pds.mjs [options]
//     --access-ttl SECONDS    access JWT lifetime (PDS default 7200)
//     --refresh-ttl SECONDS   refresh JWT lifetime (PDS default 90 days)
//     --did-doc               include didDoc in createSession/getSession/refreshSession
//     --account NAME          create account NAME.test and print its password (repeatable)
//     --admin-password PW     admin password (default: random)
//     --jwt-secret SECRET     HS256 secret of the session JWTs (default: random)
//     --json                  print one JSON line with the details instead of text
//     --log                   show the server's logs
//
// Stop it with Ctrl-C (or SIGTERM); its data goes away with it.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// The helper is TypeScript: it needs a Node that strips types (22.18+). The system Node may
// be older; then run this script again on the project's Node 22.
if (!process.features?.typescript) {
  const node22 = [
    path.join(root, 'node_modules/.bin/node'),
    path.join(root, 'spec/pds/.install/toolchain/node_modules/.bin/node'),
  ].find((p) => existsSync(p))
  if (!node22) {
    console.error(
      `pds: needs Node >= 22.18 (this is ${process.version}); run npm install or bash spec/pds/install.sh first`,
    )
    process.exit(1)
  }
  const child = spawn(node22, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
} else {
  await main()
}

async function main() {
  const { values } = parseArgs({
    options: {
      'access-ttl': { type: 'string' },
      'refresh-ttl': { type: 'string' },
      'did-doc': { type: 'boolean', default: false },
      account: { type: 'string', multiple: true, default: [] },
      'admin-password': { type: 'string' },
      'jwt-secret': { type: 'string' },
      json: { type: 'boolean', default: false },
      log: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: node scripts/pds.mjs [--access-ttl S] [--refresh-ttl S] [--did-doc] [--account NAME]... [--admin-password PW] [--jwt-secret S] [--json] [--log]',
    )
    return
  }
  const seconds = (name) => {
    const raw = values[name]
    if (raw === undefined) return undefined
    const n = Number(raw)
    if (!Number.isInteger(n) || n <= 0) {
      console.error(`pds: --${name} must be a positive whole number of seconds`)
      process.exit(2)
    }
    return n
  }

  const { startPds } = await import('../spec/helpers/pds.ts')
  let pds
  try {
    pds = await startPds({
      accessTtlS: seconds('access-ttl'),
      refreshTtlS: seconds('refresh-ttl'),
      didDocWithSession: values['did-doc'],
      adminPassword: values['admin-password'],
      jwtSecret: values['jwt-secret'],
      log: values.log,
    })
  } catch (err) {
    console.error(`pds: ${err instanceof Error ? err.message : err}`)
    process.exit(1)
  }

  const keepAlive = setInterval(() => {}, 1 << 30)
  let stopping = false
  const stop = async (why) => {
    if (stopping) return
    stopping = true
    if (!values.json) console.log(`\nstopping (${why}) ...`)
    await pds.stop()
    clearInterval(keepAlive)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  pds.exited.then(() => {
    clearInterval(keepAlive)
    if (!stopping) {
      console.error('pds: the server exited unexpectedly')
      process.exitCode = 1
    }
  })

  const accounts = []
  for (const name of values.account) {
    try {
      const { did, handle, email, password } = await pds.createAccount(name)
      accounts.push({ did, handle, email, password })
    } catch (err) {
      console.error(`pds: could not create account ${name}: ${err instanceof Error ? err.message : err}`)
    }
  }

  const details = {
    url: pds.url,
    publicUrl: pds.publicUrl,
    plcUrl: pds.plcUrl,
    serviceDid: pds.serviceDid,
    adminPassword: pds.adminPassword,
    jwtSecret: pds.jwtSecret,
    accessTtlS: pds.accessTtlS,
    refreshTtlS: pds.refreshTtlS,
    pid: pds.pid,
    accounts,
  }
  if (values.json) {
    console.log(JSON.stringify(details))
    return
  }
  console.log(`PDS running at ${pds.url}  (public URL ${pds.publicUrl}, PLC ${pds.plcUrl})`)
  console.log(`  service DID     ${pds.serviceDid}`)
  console.log(`  admin password  ${pds.adminPassword}   (Basic admin:<password>)`)
  console.log(`  JWT secret      ${pds.jwtSecret}`)
  console.log(`  token lifetimes access ${pds.accessTtlS} s, refresh ${pds.refreshTtlS} s`)
  for (const a of accounts) console.log(`  account         ${a.handle}  ${a.did}  password ${a.password}`)
  console.log(
    `Try: curl -s -X POST ${pds.url}/xrpc/com.atproto.server.createAccount -H 'content-type: application/json' \\`,
  )
  console.log(`       -d '{"handle":"me.test","email":"me@example.com","password":"hunter22"}'`)
  console.log('Ctrl-C stops it.')
}
