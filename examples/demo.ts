// `npm start`: the library's whole job, end to end, with readable output.
//
// With no environment it starts the reference PDS (@atproto/pds) on 127.0.0.1
// with 4-second access tokens, creates an account, and walks through login,
// Client calls, a real token expiry and its transparent refresh, saving the
// session, resuming it in a fresh agent, and logout. With ATP_SERVICE,
// ATP_IDENTIFIER and ATP_PASSWORD set it walks the same path against that
// service instead (no account is created; secrets are never printed).
import { Client } from '@atproto/lex-client'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PasswordAgent, type Session } from 'lex-password-agent'
import { FileSessionStore } from 'lex-password-agent/file-store'
import * as com from './lexicons/com.js'
import { startPds, type TestPds } from '../spec/helpers/pds.ts'

const step = (n: number, text: string) => console.log(`\n${n}. ${text}`)
const info = (text: string) => console.log(`   ${text}`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const { ATP_SERVICE, ATP_IDENTIFIER, ATP_PASSWORD } = process.env
const remote = !!(ATP_SERVICE && ATP_IDENTIFIER && ATP_PASSWORD)

let pds: TestPds | undefined
let service: string
let identifier: string
let password: string
const ACCESS_TTL_S = 4

if (remote) {
  service = ATP_SERVICE!
  identifier = ATP_IDENTIFIER!
  password = ATP_PASSWORD!
  console.log(`lex-password-agent demo against ${service} as ${identifier}`)
} else {
  console.log('lex-password-agent demo on an embedded reference PDS (no account or network needed)')
  const started = Date.now()
  pds = await startPds({ accessTtlS: ACCESS_TTL_S })
  const account = await pds.createAccount('alice')
  ;({ handle: identifier, password } = account)
  service = pds.url
  info(`PDS ${pds.url} ready in ${Date.now() - started} ms; access tokens live ${ACCESS_TTL_S} s`)
  info(`created account ${account.handle} (${account.did})`)
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lex-password-agent-demo-'))
const store = new FileSessionStore(path.join(dir, 'session.json'))
const counts = { refreshed: 0, refreshSession: 0 }
// Counts what goes over the wire; prints methods and statuses, never headers.
const countingFetch = (input: string | URL | Request, init?: RequestInit) => {
  if (String(input instanceof Request ? input.url : input).includes('refreshSession')) counts.refreshSession++
  return globalThis.fetch(input, init)
}
const hooks = {
  onRefreshed(this: PasswordAgent, session: Session) {
    counts.refreshed++
    info(`onRefreshed: new tokens for ${this.did} at ${session.refreshedAt}`)
  },
  onDeleted(session: Session) {
    info(`onDeleted: the session of ${session.data.handle} ended`)
  },
  onRefreshFailure(_session: Session, error: Error) {
    info(`onRefreshFailure: ${error.message} (session kept)`)
  },
}

try {
  step(1, 'Log in with a password')
  const result = await PasswordAgent.login({
    service,
    identifier,
    password,
    hooks,
    store,
    fetch: countingFetch,
    refreshAhead: false,
  })
  if (!result.success) throw new Error(`login refused: ${result.error}: ${result.message}`)
  const agent = result.value
  const client = new Client(agent)
  info(`logged in as ${agent.session.data.handle} (${agent.did})`)
  info(`requests go to ${agent.session.pdsUrl ?? agent.session.service}; session saved to ${store.file} (mode 0600)`)

  step(2, 'Client calls: create three records and list them')
  const collection = 'com.example.lexPasswordAgentDemo'
  const uris: string[] = []
  for (const text of ['first', 'second', 'third']) {
    const created = await client.call(com.atproto.repo.createRecord, {
      repo: agent.did,
      collection,
      record: { $type: collection, text, createdAt: new Date().toISOString() },
    })
    uris.push(created.uri)
    info(`created ${created.uri}`)
  }
  const listed = await client.call(com.atproto.repo.listRecords, { repo: agent.did, collection })
  info(`listRecords: ${listed.records.length} records in ${collection}`)

  step(3, 'Token expiry and the transparent refresh')
  const before = counts.refreshSession
  if (remote) {
    info('a remote service issues 2-hour tokens, so ask for a refresh explicitly')
    await agent.refresh()
  } else {
    info(`waiting ${ACCESS_TTL_S + 1} s for the access token to expire on the server...`)
    await sleep((ACCESS_TTL_S + 1) * 1000)
    const res = await agent.fetch('/xrpc/com.atproto.server.getSession')
    if (res.ok) {
      info(
        `getSession after expiry: HTTP ${res.status} (the server said ExpiredToken, the agent refreshed and replayed)`,
      )
      await res.body?.cancel()
    } else {
      // Say what the server answered: the error code and message carry no token.
      const { error, message } = (await res.json().catch(() => ({}))) as { error?: string; message?: string }
      info(`getSession after expiry: HTTP ${res.status} ${error ?? ''}: ${message ?? ''}`)
    }
  }
  info(`refreshSession calls: ${counts.refreshSession - before}`)

  step(4, 'Resume the saved session in a fresh agent')
  const saved = await store.get()
  if (!saved) throw new Error('no saved session')
  info(`read ${store.file}: ${saved.data.handle}, refreshed at ${saved.refreshedAt}`)
  const resumed = await PasswordAgent.resume(saved, { hooks, store, fetch: countingFetch })
  const me = await new Client(resumed).call(com.atproto.server.getSession)
  info(`resumed agent works: getSession says ${me.handle}`)

  step(5, 'Clean up and log out')
  for (const uri of uris) {
    await new Client(resumed).call(com.atproto.repo.deleteRecord, {
      repo: resumed.did,
      collection,
      rkey: uri.split('/').pop()!,
    })
  }
  info(`deleted the ${uris.length} demo records`)
  const last = resumed.session
  await resumed.logout()
  info(`logged out: destroyed=${resumed.destroyed}; saved session removed: ${!fs.existsSync(store.file)}`)
  // (The session from before the resume's refresh is not the one to try: the
  // reference PDS honours a rotated-out refresh token for 2 h and revives it.)
  const again = await PasswordAgent.resume(last).then(
    () => 'still valid (unexpected)',
    (err: Error) => `refused: ${err.message}`,
  )
  info(`resuming the logged-out session: ${again}`)
  info(`hooks: onRefreshed ran ${counts.refreshed} times`)
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
  if (pds) {
    await pds.stop()
    console.log('\nembedded PDS stopped; its data directory is removed')
  }
}
