import { beforeEach, describe, expect, it } from '@jest/globals'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'
import type { DidString } from '@atproto/lex-schema'
import {
  MemoryAccountStore,
  PasswordAgent,
  PasswordAgentPool,
  type AccountStore,
  type Session,
} from 'lex-password-agent'
import { FileAccountStore } from 'lex-password-agent/file-store'
import { didOf, fakeAccounts, FAKE_SERVICE, type FakeAccounts } from './helpers/fake-accounts.ts'

// The pool against an in-process fake of an entryway for many accounts (a
// `fetch`, no sockets): identity per DID, the LRU cap and reloads from the
// store, an evicted agent still held is never duplicated, hooks per account,
// two pools ("processes") on one store, logout and delete.

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
/** Collects garbage once the current job's WeakRef targets are released (and finalizers had a turn). */
async function collect() {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 0))
    gc()
  }
  await new Promise((r) => setTimeout(r, 0))
}

/** A store that counts the reads of each account's session. */
function counting(store: AccountStore): AccountStore & { reads: Map<string, number> } {
  const reads = new Map<string, number>()
  return {
    reads,
    account(did) {
      const account = store.account(did)
      return {
        get: () => (reads.set(did, (reads.get(did) ?? 0) + 1), account.get()),
        set: (s) => account.set(s),
        delete: () => account.delete(),
        lock: account.lock,
      }
    },
    list: () => store.list(),
  }
}

const ping = async (agent: PasswordAgent) => {
  const res = await agent.fetch('/xrpc/app.example.ping')
  expect(res.status).toBe(200)
  return (await res.json()) as { did: string }
}

let server: FakeAccounts
beforeEach(() => {
  server = fakeAccounts()
})

const login = async (pool: PasswordAgentPool, name: string) => {
  const result = await pool.login({ service: FAKE_SERVICE, identifier: name, password: `pw-${name}` })
  if (!result.success) throw new Error(`login of ${name} failed`)
  return result.value
}

const collectAll = async (it: AsyncIterable<DidString>) => {
  const out: string[] = []
  for await (const did of it) out.push(did)
  return out.sort()
}

describe('PasswordAgentPool', () => {
  it('hands out one agent per DID, the same to every caller; concurrent gets share one store read', async () => {
    const store = new MemoryAccountStore()
    const pool = new PasswordAgentPool({ store, fetch: server.fetch })
    const alice = await login(pool, 'alice')
    const bob = await login(pool, 'bob')
    expect(alice.did).toBe(didOf('alice'))
    expect(await pool.get(didOf('alice'))).toBe(alice)
    expect(await pool.get(didOf('bob'))).toBe(bob)
    expect(alice).not.toBe(bob)
    expect(await ping(alice)).toEqual({ did: didOf('alice') })
    expect(await ping(bob)).toEqual({ did: didOf('bob') })
    expect(await collectAll(pool.accounts())).toEqual([didOf('alice'), didOf('bob')])

    // Another pool on the same store builds its own, from one read, without a request.
    const counted = counting(store)
    const other = new PasswordAgentPool({ store: counted, fetch: server.fetch })
    const before = server.total()
    const got = await Promise.all(Array.from({ length: 10 }, () => other.get(didOf('alice'))))
    expect(new Set(got).size).toBe(1)
    expect(got[0]).not.toBe(alice)
    expect(got[0]!.session).toEqual(alice.session)
    expect(counted.reads.get(didOf('alice'))).toBe(1)
    expect(server.total()).toBe(before)
    expect(await other.get(didOf('carol'))).toBeUndefined()
  })

  it('keeps at most `max` agents; a dropped one comes back from the store without a request while fresh', async () => {
    const store = counting(new MemoryAccountStore())
    const setup = new PasswordAgentPool({ store, fetch: server.fetch })
    for (const name of ['a', 'b', 'c']) await login(setup, name)

    const pool = new PasswordAgentPool({ store, fetch: server.fetch, max: 2 })
    const refs = new Map<string, WeakRef<PasswordAgent>>()
    // Not awaited in a held variable: nothing in the test keeps the agents.
    for (const name of ['a', 'b', 'c']) refs.set(name, new WeakRef((await pool.get(didOf(name)))!))
    expect(pool.size).toBe(2)
    await collect()
    expect(refs.get('a')!.deref()).toBeUndefined() // dropped (least recently used) and collected
    expect(refs.get('b')!.deref()).toBeDefined()

    store.reads.clear()
    const requests = server.total()
    const a = await pool.get(didOf('a'))
    expect(a).toBeDefined()
    expect(store.reads.get(didOf('a'))).toBe(1) // rebuilt from the store
    expect(server.total()).toBe(requests) // no request: its token is fresh
    expect(pool.size).toBe(2)
    // `b` was the least recently used: dropped; `c` is still the same agent, no read.
    expect(await pool.get(didOf('c'))).toBe(refs.get('c')!.deref())
    expect(store.reads.get(didOf('c'))).toBeUndefined()
    await ping(a!)
    expect(server.total()).toBe(requests + 1)
  })

  it('an expired token on a reloaded agent is refreshed once by its first requests', async () => {
    const store = new MemoryAccountStore()
    await login(new PasswordAgentPool({ store, fetch: server.fetch }), 'alice')
    server.expireAll()
    const pool = new PasswordAgentPool({ store, fetch: server.fetch })
    const agent = (await pool.get(didOf('alice')))!
    await Promise.all(Array.from({ length: 5 }, () => ping(agent)))
    expect(server.refreshes.get(didOf('alice'))).toBe(1)
    expect((await store.account(didOf('alice')).get())!.data.refreshJwt).toBe(agent.session.data.refreshJwt)
  })

  it('never builds a second agent for a DID while a caller still holds the dropped one', async () => {
    const store = counting(new MemoryAccountStore())
    const setup = new PasswordAgentPool({ store, fetch: server.fetch })
    await login(setup, 'a')
    await login(setup, 'b')
    const pool = new PasswordAgentPool({ store, fetch: server.fetch, max: 1 })
    // In a function of its own, so that nothing but the WeakRef outlives it.
    const ref = await (async () => {
      const held = (await pool.get(didOf('a')))!
      await pool.get(didOf('b')) // drops `a` from the pool's memory
      expect(pool.size).toBe(1)
      await collect()
      store.reads.clear()
      expect((await pool.get(didOf('a'))) === held).toBe(true) // still alive: the same agent, no read
      expect(store.reads.size).toBe(0)
      expect(pool.size).toBe(1)
      await pool.get(didOf('b')) // `a` out of the pool's memory again
      return new WeakRef(held)
    })()
    // Once nobody holds it, it is collected and the next get builds a new one.
    await collect()
    expect(ref.deref()).toBeUndefined()
    expect(await pool.get(didOf('a'))).toBeDefined()
    expect(store.reads.get(didOf('a'))).toBe(1)
  })

  it("runs the pool's hooks per account, with `this` the account's agent", async () => {
    const calls: string[] = []
    const store = new MemoryAccountStore()
    const pool = new PasswordAgentPool({
      store,
      fetch: server.fetch,
      hooks: {
        onRefreshed(this: PasswordAgent, session: Session) {
          calls.push(`refreshed ${this.did} ${session.data.did}`)
        },
        onDeleted(this: PasswordAgent, session: Session) {
          calls.push(`deleted ${this.did} ${session.data.did}`)
        },
      },
    })
    const alice = await login(pool, 'alice')
    await login(pool, 'bob')
    await alice.refresh()
    await pool.logout(didOf('bob'))
    expect(calls).toEqual([
      `refreshed ${didOf('alice')} ${didOf('alice')}`,
      `refreshed ${didOf('bob')} ${didOf('bob')}`,
      `refreshed ${didOf('alice')} ${didOf('alice')}`,
      `deleted ${didOf('bob')} ${didOf('bob')}`,
    ])
  })

  it('a login of an account whose agent is alive gives that agent the new session', async () => {
    const calls: string[] = []
    const pool = new PasswordAgentPool({
      store: new MemoryAccountStore(),
      fetch: server.fetch,
      hooks: { onRefreshed: (s) => void calls.push(s.data.refreshJwt) },
    })
    const first = await login(pool, 'alice')
    const old = first.session
    const second = await login(pool, 'alice')
    expect(second).toBe(first)
    expect(first.session.data.refreshJwt).not.toBe(old.data.refreshJwt)
    expect(calls).toEqual([old.data.refreshJwt, first.session.data.refreshJwt])
    await ping(first)
  })

  it('a failed login resolves to the refusal, and nothing is stored', async () => {
    const store = new MemoryAccountStore()
    const pool = new PasswordAgentPool({ store, fetch: server.fetch })
    const result = await pool.login({ service: FAKE_SERVICE, identifier: 'alice', password: 'wrong' })
    expect(result.success).toBe(false)
    expect(await collectAll(pool.accounts())).toEqual([])
    expect(pool.size).toBe(0)
  })

  it.each([
    ['a MemoryAccountStore', async () => new MemoryAccountStore()],
    ['a FileAccountStore', async () => new FileAccountStore(await fs.mkdtemp(path.join(os.tmpdir(), 'pool-')))],
  ])('two pools ("processes") on %s: a refresh by one is adopted by the other', async (_, make) => {
    const store = await make()
    const a = new PasswordAgentPool({ store, fetch: server.fetch })
    const b = new PasswordAgentPool({ store, fetch: server.fetch })
    const inA = await login(a, 'alice')
    const inB = (await b.get(didOf('alice')))!
    expect(inB).not.toBe(inA)
    server.expireAll()
    await ping(inA) // 400 ExpiredToken → one refresh, saved to the store
    await ping(inB) // 400 ExpiredToken → adopts the store's session, no second refresh
    expect(server.refreshes.get(didOf('alice'))).toBe(1)
    expect(inB.session).toEqual(inA.session)
    if (store instanceof FileAccountStore) await fs.rm(store.dir, { recursive: true })
  })

  it('logout ends the session on the server and in the store; delete does so without keeping an agent', async () => {
    const deleted: string[] = []
    const store = new MemoryAccountStore()
    const hooks = { onDeleted: (s: Session) => void deleted.push(s.data.did) }
    const pool = new PasswordAgentPool({ store, fetch: server.fetch, hooks })
    const alice = await login(pool, 'alice')
    await login(pool, 'bob')
    expect(await pool.logout(didOf('alice'))).toBe(true)
    expect(alice.destroyed).toBe(true)
    expect(await pool.get(didOf('alice'))).toBeUndefined()
    expect(await pool.logout(didOf('alice'))).toBe(false)

    const other = new PasswordAgentPool({ store, fetch: server.fetch, hooks })
    expect(await other.delete(didOf('bob'))).toBe(true)
    expect(other.size).toBe(0)
    expect(await other.delete(didOf('bob'))).toBe(false)
    expect(server.counts.get('com.atproto.server.deleteSession')).toBe(2)
    expect(deleted).toEqual([didOf('alice'), didOf('bob')])
    expect(await collectAll(store.list())).toEqual([])
    // The first pool's agent of bob (another "process") learns it at its next refresh: refused, ended.
    const stale = (await pool.get(didOf('bob')))!
    await expect(stale.refresh()).rejects.toThrow()
    expect(stale.destroyed).toBe(true)
    expect(await pool.get(didOf('bob'))).toBeUndefined()
    expect(deleted).toEqual([didOf('alice'), didOf('bob'), didOf('bob')])
  })

  it("refuses a stored entry that is no session, or another account's, and builds no agent", async () => {
    const store = new MemoryAccountStore()
    const pool = new PasswordAgentPool({ store, fetch: server.fetch })
    const bob = await login(pool, 'bob')
    await store.account(didOf('alice')).set(bob.session)
    await expect(pool.get(didOf('alice'))).rejects.toThrow(
      `the store's entry for ${didOf('alice')} holds the session of ${didOf('bob')}`,
    )
    await store.account(didOf('carol')).set({ ...bob.session, data: { ...bob.session.data, accessJwt: 'x' } })
    await expect(pool.get(didOf('carol'))).rejects.toThrow(
      new TypeError('PasswordAgentPool.get: "stored session.data.accessJwt" must be a JWT'),
    )
    expect(pool.size).toBe(1)
  })

  it('a get racing a logout of the same account gets no ended agent', async () => {
    const store = new MemoryAccountStore()
    await login(new PasswordAgentPool({ store, fetch: server.fetch }), 'alice')
    const pool = new PasswordAgentPool({ store, fetch: server.fetch })
    const [loggedOut, got] = await Promise.all([pool.logout(didOf('alice')), pool.get(didOf('alice'))])
    expect(loggedOut).toBe(true)
    expect(got === undefined || got.destroyed).toBe(true)
    expect(await pool.get(didOf('alice'))).toBeUndefined()
    expect(pool.size).toBe(0)
    expect(server.counts.get('com.atproto.server.deleteSession')).toBe(1)
  })

  it('refuses bad options and DIDs with a TypeError naming the field', async () => {
    const store = new MemoryAccountStore()
    expect(() => new PasswordAgentPool({} as never)).toThrow(
      new TypeError(
        'PasswordAgentPool: "store" must be an AccountStore (e.g. MemoryAccountStore, FileAccountStore, RedisAccountStore)',
      ),
    )
    expect(() => new PasswordAgentPool({ store, max: 0 })).toThrow(
      'PasswordAgentPool: "max" must be a whole number of agents, at least 1',
    )
    expect(() => new PasswordAgentPool({ store: { account: () => {} } as never })).toThrow(
      'PasswordAgentPool: "store.list" must be a function',
    )
    const pool = new PasswordAgentPool({ store })
    await expect(pool.get('alice' as never)).rejects.toThrow(
      new TypeError('PasswordAgentPool.get: "did" must be a DID (did:plc:… or did:web:…)'),
    )
    await expect(
      pool.login({ service: FAKE_SERVICE, identifier: 'a', password: 'b', fetch: server.fetch } as never),
    ).rejects.toThrow('PasswordAgentPool.login: "fetch" is not an option')
    expect(server.total()).toBe(0)
  })
})
