import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { Client } from '@atproto/lex-client'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as com from '../../examples/lexicons/com.js'
import type { DidString } from '@atproto/lex-schema'
import { PasswordAgent, type LoginOptions, type Session } from '../../lib/index.ts'
import { startPds, type TestAccount, type TestPds } from '../helpers/pds.ts'

// The library against the real reference PDS (@atproto/pds on 127.0.0.1,
// started by spec/helpers/pds.ts), through PasswordAgent and lex-client's Client.
jest.setTimeout(120_000)
const root = path.resolve(__dirname, '../..')
const atproto = com.atproto

/** A terminal fetch that counts requests per XRPC method. */
function countingFetch() {
  const counts = new Map<string, number>()
  const fetch = (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const nsid = url.pathname.replace('/xrpc/', '')
    counts.set(nsid, (counts.get(nsid) ?? 0) + 1)
    return globalThis.fetch(input, init)
  }
  return { fetch, counts, count: (nsid: string) => counts.get(nsid) ?? 0 }
}

async function loginOk(pds: TestPds, identifier: string, password: string, extra: Partial<LoginOptions> = {}) {
  const result = await PasswordAgent.login({ service: pds.url, identifier, password, ...extra })
  if (!result.success) throw new Error(`login failed: ${result.error} ${result.message}`)
  return result.value
}

describe('against the reference PDS', () => {
  let pds: TestPds
  let alice: TestAccount

  let aliceDid: DidString
  beforeAll(async () => {
    pds = await startPds()
    alice = await pds.createAccount('alice')
    aliceDid = alice.did as DidString
  })
  afterAll(() => pds?.stop())

  describe('login', () => {
    it('by handle, by email and by DID', async () => {
      for (const identifier of [alice.handle, alice.email, alice.did]) {
        const agent = await loginOk(pds, identifier, alice.password)
        expect(agent.did).toBe(alice.did)
        expect(agent.session.data.handle).toBe(alice.handle)
        expect(agent.session.service).toBe(pds.url)
      }
    })

    it('wrong password: AuthenticationRequired, as a result, not a throw', async () => {
      const result = await PasswordAgent.login({
        service: pds.url,
        identifier: alice.handle,
        password: 'wrong-password',
      })
      expect(result.success).toBe(false)
      if (result.success) return
      expect(result.error).toBe('AuthenticationRequired')
      expect(result.message).toBe('Invalid identifier or password')
      expect(JSON.stringify(result)).not.toContain('wrong-password')
    })

    it('with an app password', async () => {
      const appPassword = await pds.createAppPassword(alice.accessJwt, 'bot')
      const agent = await loginOk(pds, alice.handle, appPassword)
      const repo = await new Client(agent).call(atproto.repo.describeRepo, { repo: agent.did })
      expect(repo.handle).toBe(alice.handle)
    })
  })

  describe('Client calls served by the PDS', () => {
    let agent: PasswordAgent
    let client: Client
    beforeAll(async () => {
      agent = await loginOk(pds, alice.handle, alice.password)
      client = new Client(agent)
    })

    it('describeRepo', async () => {
      const repo = await client.call(atproto.repo.describeRepo, { repo: aliceDid })
      expect(repo).toMatchObject({ handle: alice.handle, did: alice.did, handleIsCorrect: true })
    })

    it('createRecord, getRecord, listRecords, deleteRecord', async () => {
      const record = {
        $type: 'com.example.note',
        text: 'hello from lex-password-agent',
        createdAt: new Date().toISOString(),
      }
      const created = await client.call(atproto.repo.createRecord, {
        repo: aliceDid,
        collection: 'com.example.note',
        record,
      })
      expect(created.uri).toMatch(new RegExp(`^at://${alice.did}/com\\.example\\.note/`))
      const rkey = created.uri.split('/').pop()!
      const got = await client.call(atproto.repo.getRecord, { repo: aliceDid, collection: 'com.example.note', rkey })
      expect(got.value).toEqual(record)
      const listed = await client.call(atproto.repo.listRecords, { repo: aliceDid, collection: 'com.example.note' })
      expect(listed.records.map((r) => r.uri)).toContain(created.uri)
      await client.call(atproto.repo.deleteRecord, { repo: aliceDid, collection: 'com.example.note', rkey })
      const after = await client.call(atproto.repo.listRecords, { repo: aliceDid, collection: 'com.example.note' })
      expect(after.records.map((r) => r.uri)).not.toContain(created.uri)
    })

    it('uploadBlob of 3 MB', async () => {
      const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 251)
      const res = await client.xrpc(atproto.repo.uploadBlob, { body: bytes, encoding: 'application/octet-stream' })
      expect(res.body.blob).toMatchObject({ size: bytes.length, mimeType: 'application/octet-stream' })
    })

    it('an app-password session on a privileged endpoint: 400 InvalidToken "Bad token scope", no refresh', async () => {
      const appPassword = await pds.createAppPassword(alice.accessJwt, 'limited')
      const { fetch, count } = countingFetch()
      const limited = await loginOk(pds, alice.handle, appPassword, { fetch })
      const res = await limited.fetch('/xrpc/com.atproto.server.createAppPassword', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'escalate' }),
      })
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({ error: 'InvalidToken', message: 'Bad token scope' })
      expect(count('com.atproto.server.refreshSession')).toBe(0)
      expect(limited.destroyed).toBe(false)
    })
  })

  describe('resume, logout and delete', () => {
    it('a Session saved by onRefreshed resumes in a new agent and in a second Node process', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lpa-resume-'))
      const file = path.join(dir, 'session.json')
      const save = (s: Session) => fs.writeFileSync(file, JSON.stringify(s), { mode: 0o600 })
      const first = await loginOk(pds, alice.handle, alice.password, { hooks: { onRefreshed: save } })
      const saved: Session = JSON.parse(fs.readFileSync(file, 'utf8'))
      expect(saved.data.accessJwt).toBe(first.session.data.accessJwt)

      const resumed = await PasswordAgent.resume(saved, { hooks: { onRefreshed: save } })
      expect(resumed.session.data.refreshJwt).not.toBe(saved.data.refreshJwt)
      const rotated: Session = JSON.parse(fs.readFileSync(file, 'utf8'))
      expect(rotated.data.refreshJwt).toBe(resumed.session.data.refreshJwt)

      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          [
            '--conditions=lex-password-agent-source',
            '--input-type=module',
            '-e',
            `
            import fs from 'node:fs'
            import { PasswordAgent } from 'lex-password-agent'
            const file = process.env.SESSION_FILE
            const agent = await PasswordAgent.resume(JSON.parse(fs.readFileSync(file, 'utf8')), {
              hooks: { onRefreshed: (s) => fs.writeFileSync(file, JSON.stringify(s)) },
            })
            const res = await agent.fetch('/xrpc/com.atproto.repo.describeRepo?repo=' + agent.did)
            console.log(JSON.stringify({ did: agent.did, status: res.status, handle: (await res.json()).handle }))`,
          ],
          { cwd: root, env: { ...process.env, SESSION_FILE: file }, timeout: 60_000 },
          (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)),
        ),
      )
      expect(JSON.parse(out)).toEqual({ did: alice.did, status: 200, handle: alice.handle })
      fs.rmSync(dir, { recursive: true, force: true })
    })

    it('after logout the server has revoked the session: resume fails and onDeleted runs', async () => {
      const agent = await loginOk(pds, alice.handle, alice.password)
      const session = agent.session
      await agent.logout()
      expect(agent.destroyed).toBe(true)
      await expect(agent.fetch('/xrpc/com.atproto.server.getSession')).rejects.toThrow('Logged out')
      const onDeleted = jest.fn()
      await expect(PasswordAgent.resume(session, { hooks: { onDeleted } })).rejects.toMatchObject({
        name: 'SessionEndedError',
        error: 'ExpiredToken',
        message: `refreshSession at ${pds.url} for ${alice.did} refused (ExpiredToken: Token has been revoked): log in again with the password`,
        cause: { message: 'Token has been revoked' },
      })
      expect(onDeleted).toHaveBeenCalledTimes(1)
    })

    it('PasswordAgent.delete revokes a saved session', async () => {
      const agent = await loginOk(pds, alice.handle, alice.password)
      const session = agent.session
      await PasswordAgent.delete(session)
      await expect(PasswordAgent.resume(session)).rejects.toMatchObject({ error: 'ExpiredToken' })
    })
  })
})

describe('real token expiry (access tokens live 3 s)', () => {
  let pds: TestPds
  let bob: TestAccount
  beforeAll(async () => {
    pds = await startPds({ accessTtlS: 3 })
    bob = await pds.createAccount('bob')
  })
  afterAll(() => pds?.stop())
  const lapse = () => new Promise((r) => setTimeout(r, 3_500))

  it('reactive: the server says ExpiredToken, one refreshSession, the call succeeds, onRefreshed gets the new session', async () => {
    const { fetch, count } = countingFetch()
    const refreshed: Session[] = []
    const agent = await loginOk(pds, bob.handle, bob.password, {
      fetch,
      refreshAhead: false,
      hooks: { onRefreshed: (s) => void refreshed.push(s) },
    })
    await lapse()
    // getSession needs a valid token (describeRepo would not notice an expired one).
    const me = await new Client(agent).call(com.atproto.server.getSession)
    expect(me.did).toBe(bob.did)
    expect(count('com.atproto.server.refreshSession')).toBe(1)
    expect(count('com.atproto.server.getSession')).toBe(2) // ExpiredToken, then the replay
    expect(refreshed).toHaveLength(2) // login + refresh
    expect(refreshed[1]).toBe(agent.session)
  })

  it('50 concurrent calls at expiry: one refresh (reactive path)', async () => {
    const { fetch, count } = countingFetch()
    const agent = await loginOk(pds, bob.handle, bob.password, { fetch, refreshAhead: false })
    await lapse()
    const client = new Client(agent)
    const results = await Promise.all(Array.from({ length: 50 }, () => client.call(com.atproto.server.getSession)))
    expect(results.every((r) => r.did === bob.did)).toBe(true)
    expect(count('com.atproto.server.refreshSession')).toBe(1)
    expect(count('com.atproto.server.getSession')).toBe(100)
  })

  it('50 concurrent calls at expiry with refreshAhead: one refresh and no ExpiredToken round trip', async () => {
    const { fetch, count } = countingFetch()
    const agent = await loginOk(pds, bob.handle, bob.password, { fetch })
    await lapse()
    const client = new Client(agent)
    const results = await Promise.all(Array.from({ length: 50 }, () => client.call(com.atproto.server.getSession)))
    expect(results.every((r) => r.did === bob.did)).toBe(true)
    expect(count('com.atproto.server.refreshSession')).toBe(1)
    expect(count('com.atproto.server.getSession')).toBe(50)
  })
})

describe('deactivated and taken-down accounts', () => {
  let pds: TestPds
  beforeAll(async () => {
    pds = await startPds()
  })
  afterAll(() => pds?.stop())

  it('deactivated: login succeeds with active false; writes get 401 AccountDeactivated without a refresh; refresh still works', async () => {
    const carol = await pds.createAccount('carol')
    const { fetch, count } = countingFetch()
    const agent = await loginOk(pds, carol.handle, carol.password, { fetch })
    await pds.deactivate(agent.session.data.accessJwt)
    const again = await loginOk(pds, carol.handle, carol.password, { fetch })
    expect(again.session.data).toMatchObject({ active: false, status: 'deactivated' })
    const res = await again.fetch('/xrpc/com.atproto.repo.createRecord', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: carol.did, collection: 'com.example.note', record: { text: 'x' } }),
    })
    expect(res.status).toBe(401)
    expect((await res.json()).error).toBe('AccountDeactivated')
    expect(count('com.atproto.server.refreshSession')).toBe(0)
    await expect(again.refresh()).resolves.toMatchObject({ data: { did: carol.did } })
    expect(again.destroyed).toBe(false)
  })

  it('taken down: login is refused with AccountTakedown; a live session refresh ends it and onDeleted runs', async () => {
    const dave = await pds.createAccount('dave')
    const onDeleted = jest.fn()
    const onRefreshFailure = jest.fn()
    const agent = await loginOk(pds, dave.handle, dave.password, { hooks: { onDeleted, onRefreshFailure } })
    await pds.takedown(dave.did)
    const login = await PasswordAgent.login({ service: pds.url, identifier: dave.handle, password: dave.password })
    expect(login.success).toBe(false)
    if (!login.success) expect(login.error).toBe('AccountTakedown')
    await expect(agent.refresh()).rejects.toMatchObject({ error: 'AccountTakedown' })
    expect(onDeleted).toHaveBeenCalledTimes(1)
    expect(onRefreshFailure).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(true)
  })
})
