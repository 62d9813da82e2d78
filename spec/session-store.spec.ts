import { afterAll, describe, expect, it, jest } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import nock from 'nock'
import { HOST, HOST_TAG } from '../lib/file-lock.ts'
import { FileSessionStore } from '../lib/file-session-store.ts'
import { RedisSessionStore, type RedisLike } from '../lib/redis-session-store.ts'
import { PasswordAgent } from '../lib/password-agent.ts'
import { isNewerSession, MemorySessionStore, type SessionStore } from '../lib/core/session-store.ts'
import type { Session } from '../lib/core/session.ts'
import { DID, JSON_HEADERS, PDS, SERVICE, fakeJwt, session, sessionData, xrpcError } from './helpers/fixtures.ts'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lpa-store-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let n = 0
const tmpFile = () => path.join(dir, `s${++n}`, 'session.json')
/** Writes lock generation `n` of a file store as a holder (or anyone) would; returns its path. */
const writeGeneration = (store: FileSessionStore, n: number, content: object | string) => {
  const file = path.join(`${store.file}.locks`, String(n))
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content))
  return file
}
/** The lock generations of a file store, oldest first, parsed. */
const generations = (store: FileSessionStore) =>
  fs
    .readdirSync(`${store.file}.locks`)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(a) - Number(b))
    .map((name) => JSON.parse(fs.readFileSync(path.join(`${store.file}.locks`, name), 'utf8')))
const later = (s: Session, expInS = 7200): Session => ({
  ...s,
  refreshedAt: new Date(Date.parse(s.refreshedAt) + 1000).toISOString(),
  data: { ...s.data, accessJwt: fakeJwt({}, expInS + 60), refreshJwt: fakeJwt({ scope: 'com.atproto.refresh' }) },
})

describe('isNewerSession', () => {
  it('orders by the access token exp, then refreshedAt', () => {
    const a = session()
    const b = later(a)
    expect(isNewerSession(b, a)).toBe(true)
    expect(isNewerSession(a, b)).toBe(false)
    expect(isNewerSession(a, a)).toBe(false)
  })

  it('tells generations apart by the refresh token: two refreshes in one second can carry the same access JWT', () => {
    // The reference PDS signs deterministically and access tokens carry no jti:
    // same account, same iat second, same exp → byte-identical access JWTs.
    const a = session()
    const b = {
      ...a,
      refreshedAt: new Date(Date.parse(a.refreshedAt) + 300).toISOString(),
      data: { ...a.data, refreshJwt: fakeJwt({ scope: 'com.atproto.refresh', jti: 'next' }) },
    }
    expect(isNewerSession(b, a)).toBe(true)
    expect(isNewerSession(a, b)).toBe(false)
    expect(isNewerSession(b, { ...b, refreshedAt: a.refreshedAt })).toBe(false) // same generation, whatever its timestamp
  })
})

describe('FileSessionStore', () => {
  it('writes exactly the Session JSON, mode 0600, atomically, and reads it back', async () => {
    const file = tmpFile()
    const store = new FileSessionStore(file)
    expect(await store.get()).toBeUndefined()
    const s = session()
    await store.set(s)
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(s)
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(path.dirname(file))).toEqual(['session.json']) // no temp files left
    expect(await store.get()).toEqual(s)
    await store.delete()
    expect(await store.get()).toBeUndefined()
    await store.delete() // idempotent
  })

  it('refuses a malformed saved file with a TypeError naming the field', async () => {
    const file = tmpFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, JSON.stringify({ ...session(), service: 'ftp://x' }))
    await expect(new FileSessionStore(file).get()).rejects.toThrow(/"stored session.service"/)
  })

  it('lock: one holder at a time, released on throw', async () => {
    const store = new FileSessionStore(tmpFile())
    let inside = 0
    let maxInside = 0
    const work = async (i: number) =>
      store.lock('k', async () => {
        inside++
        maxInside = Math.max(maxInside, inside)
        await new Promise((r) => setTimeout(r, 5))
        inside--
        if (i === 3) throw new Error('boom')
        return i
      })
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => work(i)))
    expect(maxInside).toBe(1)
    // Each holder gets its own result; the throw of #3 reaches its caller and frees the lock for the rest.
    expect(results).toEqual(
      Array.from({ length: 10 }, (_, i) =>
        i === 3 ? { status: 'rejected', reason: new Error('boom') } : { status: 'fulfilled', value: i },
      ),
    )
    // Released: the newest generation is a release mark, and only it is left.
    expect(generations(store)).toEqual([{ free: true }])
  })

  it('takes over a lock whose holder died', async () => {
    const store = new FileSessionStore(tmpFile())
    // A pid that is certainly gone: a child that already exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    writeGeneration(store, 0, { pid: dead, host: HOST, token: 'x' })
    await expect(store.lock('k', async () => 'got it')).resolves.toBe('got it')
  })

  it('takes over at once an empty or garbled lock, which no live holder leaves (it appears with its content)', async () => {
    for (const content of ['', '{"pid":', 'garbage', '{}']) {
      const store = new FileSessionStore(tmpFile(), { acquireTimeoutMs: 2_000 })
      writeGeneration(store, 0, content)
      const started = Date.now()
      await expect(store.lock('k', async () => 'got it')).resolves.toBe('got it')
      expect(Date.now() - started).toBeLessThan(2_000)
    }
  })

  it("ignores 0.1's <file>.lock, even an empty one left by a holder killed before writing its pid", async () => {
    const store = new FileSessionStore(tmpFile(), { acquireTimeoutMs: 2_000 })
    fs.mkdirSync(path.dirname(store.file), { recursive: true })
    fs.writeFileSync(`${store.file}.lock`, '')
    await expect(store.lock('k', async () => 'got it')).resolves.toBe('got it')
  })

  /** The LockTimeoutError of a FileSessionStore on `file`, as it reads. */
  const lockTimeout = (file: string, ms: number) => ({
    name: 'LockTimeoutError',
    message: `timed out after ${ms} ms waiting for the session lock ${file}.locks, which another process holds: check that process, or raise acquireTimeoutMs`,
  })

  it("trusts a lock's pid only on its own host: a live holder in another container is not taken over", async () => {
    const store = new FileSessionStore(tmpFile(), { acquireTimeoutMs: 150, staleMs: 60_000 })
    // A pid that is gone here, but the lock was written on another host (another pid namespace).
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    // Another pid namespace on the same hostname (containers of one pod) is another host too.
    for (const host of [`not-${os.hostname()}`, `${os.hostname()}/pid:[1]`]) {
      writeGeneration(store, 0, { pid: dead, host, token: 'x' })
      await expect(store.lock('k', async () => 'stolen')).rejects.toMatchObject(lockTimeout(store.file, 150))
    }
    // Ours names our host.
    fs.rmSync(`${store.file}.locks`, { recursive: true })
    const held = await store.lock('k', async () => generations(store))
    expect(held).toEqual([{ pid: process.pid, host: HOST, token: expect.any(String) }])
  })

  it('takes over a lock nobody touched for staleMs, and does not remove a lock it does not own', async () => {
    const store = new FileSessionStore(tmpFile(), { staleMs: 200 })
    const file = writeGeneration(store, 0, { pid: process.ppid, host: HOST, token: 'someone' })
    const old = new Date(Date.now() - 10_000)
    fs.utimesSync(file, old, old)
    await store.lock('k', async () => {
      // Someone takes over while we hold it (we went silent): our release must leave theirs alone.
      writeGeneration(store, 2, { pid: process.ppid, host: HOST, token: 'thief' })
    })
    expect(generations(store).at(-1)).toEqual({ pid: process.ppid, host: HOST, token: 'thief' })
  })

  it('gives up after acquireTimeoutMs on a live lock', async () => {
    const store = new FileSessionStore(tmpFile(), { acquireTimeoutMs: 150, staleMs: 60_000 })
    writeGeneration(store, 0, { pid: process.ppid, host: HOST, token: 'busy' })
    await expect(store.lock('k', async () => 1)).rejects.toMatchObject(lockTimeout(store.file, 150))
  })

  it('removes the temp files (a session each) of writers killed mid-write on the next write or lock', async () => {
    const store = new FileSessionStore(tmpFile())
    const dir = path.dirname(store.file)
    fs.mkdirSync(dir, { recursive: true })
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    const uuid = () => crypto.randomUUID()
    const deadTemps = [
      `session.json.${dead}.${HOST_TAG}.${uuid()}.tmp`,
      `session.json.${dead}.${uuid()}.tmp`, // 0.1's name, which had no host
    ]
    const keep = [
      `session.json.${process.ppid}.${HOST_TAG}.${uuid()}.tmp`, // a live writer's
      `session.json.${dead}.00000000.${uuid()}.tmp`, // another host's: its pid is not ours to judge
      'other.json',
    ]
    for (const name of [...deadTemps, ...keep]) fs.writeFileSync(path.join(dir, name), 'x')
    await store.set(session())
    expect(fs.readdirSync(dir).sort()).toEqual([...keep, 'session.json'].sort())

    // One it cannot remove (here a directory; in a sticky /tmp, another user's) does not fail the write.
    const stuck = path.join(dir, `session.json.${dead}.${HOST_TAG}.${uuid()}.tmp`)
    fs.mkdirSync(stuck)
    fs.writeFileSync(path.join(stuck, 'x'), 'x')
    await store.set(session())
    fs.rmSync(stuck, { recursive: true })

    // The lock's own temp files (a killed claimant's) go on the next lock.
    const lockTemp = path.join(`${store.file}.locks`, `tmp.${dead}.${HOST_TAG}.${uuid()}.tmp`)
    fs.mkdirSync(path.dirname(lockTemp), { recursive: true })
    fs.writeFileSync(lockTemp, 'x')
    const leftover = path.join(dir, deadTemps[0]!)
    fs.writeFileSync(leftover, 'x')
    await store.lock('k', async () => {
      expect(fs.existsSync(leftover)).toBe(false)
    })
    expect(fs.existsSync(lockTemp)).toBe(false)
  })

  it('validates its options', () => {
    expect(() => new FileSessionStore('')).toThrow(TypeError)
    expect(() => new FileSessionStore('x', { staleMs: 0 })).toThrow(/"staleMs"/)
    // Above 2^31-1 ms Node fires timers after 1 ms: the lock would be touched in a busy loop.
    expect(() => new FileSessionStore('x', { staleMs: 2 ** 31 * 3 })).toThrow(/"staleMs"/)
  })

  it('leaves no temp file (holding tokens) behind when a write fails', async () => {
    const file = tmpFile()
    const store = new FileSessionStore(file)
    const open = fsp.open.bind(fsp)
    jest.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      const handle = await open(...args)
      const writeFile = handle.writeFile.bind(handle)
      handle.writeFile = async (data: never) => {
        await writeFile(String(data).slice(0, 40)) // a partial write, then the disk is full
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
      }
      return handle
    })
    try {
      await expect(store.set(session())).rejects.toThrow(/ENOSPC/)
    } finally {
      jest.restoreAllMocks()
    }
    expect(fs.readdirSync(path.dirname(file))).toEqual([])
  })

  it('a corrupt file is a SyntaxError naming the file, never quoting its content', async () => {
    const file = tmpFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const token = session().data.refreshJwt
    fs.writeFileSync(file, `{"data":{"refreshJwt":${token}}}`) // the quote lost: V8 quotes the text around it
    const error = await new FileSessionStore(file).get().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SyntaxError)
    expect((error as Error).message).toContain(file)
    expect((error as Error).message).not.toContain(token.slice(0, 10))
  })
})

describe('RedisSessionStore (fake client)', () => {
  const fake = (value: string | null): RedisLike => ({
    get: async () => value,
    set: async () => 'OK',
    del: async () => 1,
    eval: async () => 1,
  })

  it('a corrupt value is a SyntaxError naming the key, never quoting its content', async () => {
    const token = session().data.refreshJwt
    const error = await new RedisSessionStore(fake(`{"data":{"refreshJwt":${token}}}`), { key: 'alice' })
      .get()
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SyntaxError)
    expect((error as Error).message).toContain('lex-password-agent:session:alice')
    expect((error as Error).message).not.toContain(token.slice(0, 10))
  })

  it('validates the client and its options', () => {
    const { get: _get, ...noGet } = fake(null)
    expect(() => new RedisSessionStore(noGet as never, { key: 'k' })).toThrow(
      new TypeError('RedisSessionStore: "redis" must be a Redis client (e.g. new Redis(url) from ioredis)'),
    )
    // Renewed every third of it: above 3·(2^31-1) ms the renewal timer would fire every 1 ms.
    expect(() => new RedisSessionStore(fake(null), { key: 'k', lockTtlMs: 2 ** 33 })).toThrow(/"lockTtlMs"/)
  })
})

describe('PasswordAgent with a store', () => {
  const refreshed = () => sessionData()

  it('saves the login session, and each refreshed one before using it', async () => {
    const store = new MemorySessionStore()
    const order: string[] = []
    const set = store.set.bind(store)
    store.set = async (s) => {
      order.push(`store ${s.data.accessJwt.slice(-12)}`)
      await set(s)
    }
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, sessionData())
    const result = await PasswordAgent.login({ service: SERVICE, identifier: 'a', password: 'b', store })
    if (!result.success) throw result
    const agent = result.value
    expect((await store.get())?.data.accessJwt).toBe(agent.session.data.accessJwt)
    const next = refreshed()
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, next)
    nock(PDS)
      .get('/x')
      .reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
      .get('/x')
      .matchHeader('authorization', `Bearer ${next.accessJwt}`)
      .reply(() => {
        order.push(`request ${next.accessJwt.slice(-12)}`)
        return [200, 'ok']
      })
    await agent.fetch(`${PDS}/x`)
    expect(order.slice(1)).toEqual([`store ${next.accessJwt.slice(-12)}`, `request ${next.accessJwt.slice(-12)}`])
    expect((await store.get())?.data).toEqual(next)
  })

  it('adopts a newer session another process saved instead of refreshing', async () => {
    const mine = session()
    const theirs = later(mine)
    const store = new MemorySessionStore(theirs)
    const onRefreshed = jest.fn()
    const agent = new PasswordAgent(mine, { store, hooks: { onRefreshed } })
    const scope = nock(PDS)
      .get('/x')
      .matchHeader('authorization', `Bearer ${mine.data.accessJwt}`)
      .reply(400, xrpcError('ExpiredToken'), JSON_HEADERS)
      .get('/x')
      .matchHeader('authorization', `Bearer ${theirs.data.accessJwt}`)
      .reply(200, 'ok')
    expect((await agent.fetch(`${PDS}/x`)).status).toBe(200)
    scope.done() // and no refreshSession was mocked: none was sent
    expect(agent.session).toEqual(theirs)
    expect(onRefreshed).toHaveBeenCalledWith(theirs)
  })

  it('adopts the stored next generation even when its access JWT is the same as ours (issued in the same second), instead of spending our refresh token again', async () => {
    const mine = session()
    const theirs = {
      ...mine,
      refreshedAt: new Date(Date.parse(mine.refreshedAt) + 300).toISOString(),
      data: { ...mine.data, refreshJwt: fakeJwt({ scope: 'com.atproto.refresh', jti: 'theirs' }) },
    }
    const store = new MemorySessionStore(theirs)
    const agent = new PasswordAgent(mine, { store })
    // No refreshSession mocked: spending `mine`'s (already rotated) refresh token would fail here.
    expect(await agent.refresh()).toEqual(theirs)
    expect(agent.session).toEqual(theirs)
  })

  it('keeps working in memory when saving fails, and says so', async () => {
    const warnings: string[] = []
    const store: SessionStore = {
      get: async () => undefined,
      set: async () => {
        throw new Error('EROFS: read-only file system')
      },
      delete: async () => {},
    }
    const agent = new PasswordAgent(session(), { store, hooks: { onWarning: (m) => void warnings.push(m) } })
    const next = refreshed()
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, next)
    await agent.refresh()
    expect(agent.session.data).toEqual(next)
    expect(warnings).toEqual(['could not save the session; keeping it in memory (EROFS: read-only file system)'])
  })

  it('removes the session from the store on logout, but never a newer one', async () => {
    const store = new MemorySessionStore()
    const s = session()
    await store.set(s)
    const agent = new PasswordAgent(s, { store })
    nock(SERVICE).post('/xrpc/com.atproto.server.deleteSession').reply(200)
    await agent.logout()
    expect(await store.get()).toBeUndefined()

    const old = session()
    const newer = later(old)
    const store2 = new MemorySessionStore(newer)
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(400, xrpcError('ExpiredToken'))
    // The stored one is newer: the agent adopts it rather than refreshing the dead one.
    const agent2 = new PasswordAgent(old, { store: store2 })
    await agent2.refresh()
    expect(agent2.session).toEqual(newer)
    expect(await store2.get()).toEqual(newer)
    nock.cleanAll()
  })

  it('resume: a store that fails to read, or holds something that is not a Session, is reported and the given session used', async () => {
    const good = session()
    const broken = (get: () => Promise<unknown>): SessionStore => ({
      get: get as never,
      set: async () => {},
      delete: async () => {},
    })
    const cases: [string, SessionStore, RegExp][] = [
      [
        'read fails',
        broken(async () => {
          throw new Error('EACCES: permission denied')
        }),
        /could not read the session store \(EACCES: permission denied\)/,
      ],
      ['not a session', broken(async () => ({})), /not a valid Session.*"stored session\.data" must be an object/],
      [
        'bad pdsUrl',
        broken(async () => ({ ...later(good), pdsUrl: 'ftp://x' })),
        /not a valid Session.*"stored session\.pdsUrl"/,
      ],
    ]
    for (const [name, store, warning] of cases) {
      const warnings: string[] = []
      const fetch = jest.fn<typeof globalThis.fetch>()
      const agent = await PasswordAgent.resume(good, {
        store,
        fetch,
        refresh: 'if-expired',
        hooks: { onWarning: (m) => void warnings.push(m) },
      })
      expect([name, agent.session]).toEqual([name, good])
      expect([name, warnings]).toEqual([name, [expect.stringMatching(warning)]])
      expect(fetch).not.toHaveBeenCalled()
    }
  })

  it("resume adopts a newer stored generation of the same account (running onRefreshed), never another account's", async () => {
    const mine = session()
    const theirs = later(mine)
    const onRefreshed = jest.fn()
    const agent = await PasswordAgent.resume(mine, {
      store: new MemorySessionStore(theirs),
      refresh: 'if-expired',
      hooks: { onRefreshed },
    })
    expect(agent.session).toEqual(theirs)
    expect(onRefreshed).toHaveBeenCalledWith(theirs)
    const bob = later(session())
    const other = { ...bob, data: { ...bob.data, did: 'did:plc:bob' } }
    const agent2 = await PasswordAgent.resume(mine, {
      store: new MemorySessionStore(other as never),
      refresh: 'if-expired',
    })
    expect(agent2.session).toEqual(mine)
  })

  it("resume with refresh: 'if-expired' makes no request while the token is fresh", async () => {
    const fetch = jest.fn<typeof globalThis.fetch>()
    const agent = await PasswordAgent.resume(session(), { refresh: 'if-expired', fetch })
    expect(agent.did).toBe(DID)
    expect(fetch).not.toHaveBeenCalled()
    const stale = session({}, { accessJwt: fakeJwt({}, -10) })
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(200, refreshed())
    const agent2 = await PasswordAgent.resume(stale, { refresh: 'if-expired' })
    expect(agent2.session.data.accessJwt).not.toBe(stale.data.accessJwt)
  })

  it('resume prefers a newer session from the store', async () => {
    const old = session()
    const newer = later(old)
    const agent = await PasswordAgent.resume(old, { store: new MemorySessionStore(newer), refresh: 'if-expired' })
    expect(agent.session).toEqual(newer)
  })

  it('resumeOrLogin: saved session first, password only when it is definitively dead or missing', async () => {
    const store = new MemorySessionStore(session())
    const fetch = jest.fn<typeof globalThis.fetch>()
    const resumed = await PasswordAgent.resumeOrLogin({
      service: SERVICE,
      identifier: 'a',
      password: 'b',
      store,
      fetch,
    })
    expect(resumed.success).toBe(true)
    expect(fetch).not.toHaveBeenCalled() // fresh token: not even a refresh

    const dead = new MemorySessionStore(session({}, { accessJwt: fakeJwt({}, -10) }))
    const scope = nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(400, xrpcError('ExpiredToken', 'Token has been revoked'))
      .post('/xrpc/com.atproto.server.createSession')
      .reply(200, sessionData())
    const relogged = await PasswordAgent.resumeOrLogin({
      service: SERVICE,
      identifier: 'a',
      password: 'b',
      store: dead,
    })
    scope.done()
    expect(relogged.success).toBe(true)
    expect((await dead.get())?.data.did).toBe(DID)

    const empty = new MemorySessionStore()
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(401, xrpcError('AuthenticationRequired'))
    const refused = await PasswordAgent.resumeOrLogin({
      service: SERVICE,
      identifier: 'a',
      password: 'b',
      store: empty,
    })
    expect(refused.success).toBe(false)
  })

  it('resumeOrLogin does not spend a password login when the entryway is merely down', async () => {
    const stale = new MemorySessionStore(session({}, { accessJwt: fakeJwt({}, -10) }))
    nock(SERVICE).post('/xrpc/com.atproto.server.refreshSession').reply(503, xrpcError('ServiceUnavailable'))
    const result = await PasswordAgent.resumeOrLogin({ service: SERVICE, identifier: 'a', password: 'b', store: stale })
    expect(result.success).toBe(true)
    expect(nock.isDone()).toBe(true) // no createSession was attempted (it would be unmatched)
  })

  it('validates the store option', async () => {
    expect(() => new PasswordAgent(session(), { store: {} as never })).toThrow(
      new TypeError('PasswordAgent: "store.get" must be a function'),
    )
    await expect(
      PasswordAgent.resumeOrLogin({ service: SERVICE, identifier: 'a', password: 'b' } as never),
    ).rejects.toThrow(new TypeError('resumeOrLogin: "store" must be a SessionStore'))
  })
})

describe('store edge cases', () => {
  it('a definitive refusal while the store (without a lock) holds a newer session adopts it instead of ending', async () => {
    const mine = session()
    const theirs = later(mine)
    let reads = 0
    const store: SessionStore = {
      // First read (before refreshing): ours is newest; then another process saves its rotation.
      get: async () => (reads++ === 0 ? mine : theirs),
      set: async () => {},
      delete: async () => {},
    }
    const onDeleted = jest.fn()
    const agent = new PasswordAgent(mine, { store, hooks: { onDeleted } })
    nock(SERVICE)
      .post('/xrpc/com.atproto.server.refreshSession')
      .reply(400, xrpcError('ExpiredToken', 'Token has been revoked'))
    await expect(agent.refresh()).resolves.toEqual(theirs)
    expect(onDeleted).not.toHaveBeenCalled()
    expect(agent.destroyed).toBe(false)
  })

  it('resumeOrLogin logs in again when the saved file is corrupt', async () => {
    const file = tmpFile()
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, '{"data": {"accessJwt": ')
    const store = new FileSessionStore(file)
    nock(SERVICE).post('/xrpc/com.atproto.server.createSession').reply(200, sessionData())
    const result = await PasswordAgent.resumeOrLogin({ service: SERVICE, identifier: 'a', password: 'b', store })
    expect(result.success).toBe(true)
    expect((await store.get())?.data.did).toBe(DID)
  })
})
