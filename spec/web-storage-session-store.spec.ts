import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fs from 'node:fs'
import path from 'node:path'
import { LockTimeoutError, LoggedOutError, PasswordAgent, type Session } from 'lex-password-agent'
import {
  WebStorageSessionStore,
  type LockManagerLike,
  type StorageEventTarget,
  type StorageLike,
  type WebStorageSessionStoreOptions,
} from 'lex-password-agent/web-store'
import { resumeTab, signIn } from '../examples/browser-tabs.ts'
import { startMockEntryway, type MockEntryway } from './helpers/mock-entryway.ts'
import { DID, fakeJwt, session } from './helpers/fixtures.ts'

/**
 * A browser in miniature: one storage area per origin, seen by each tab
 * through its own Storage object; a write fires a `storage` event (in a task
 * of its own) in every other tab, never in the writer's, and only if the value
 * changed, with `storageArea` the receiving tab's Storage, as browsers do.
 */
class FakeBrowser {
  readonly area = new Map<string, string>()
  readonly locks = new FakeLocks()
  readonly tabs: FakeTab[] = []
  #pending = 0

  open(): FakeTab {
    const tab = new FakeTab(this)
    this.tabs.push(tab)
    return tab
  }

  changed(from: FakeTab, key: string, oldValue: string | null, newValue: string | null) {
    if (oldValue === newValue) return
    for (const tab of this.tabs) {
      if (tab === from) continue
      this.#pending++
      setTimeout(() => {
        this.#pending--
        tab.fire({ type: 'storage', key, oldValue, newValue, storageArea: tab.storage })
      }, 0)
    }
  }

  /** Every event sent so far delivered, and what the agents do about them done. */
  async delivered(agents: PasswordAgent[] = []) {
    while (this.#pending) await new Promise((r) => setTimeout(r, 1))
    await new Promise((r) => setImmediate(r))
    await Promise.all(agents.map((agent) => agent.sessionHolder.current().catch(() => {})))
  }
}

/** One tab: its window (the event target) and its view of the origin's storage. */
class FakeTab implements StorageEventTarget {
  readonly listeners = new Set<(event: Event) => void>()
  readonly storage: StorageLike
  constructor(browser: FakeBrowser) {
    const area = browser.area
    this.storage = {
      getItem: (key) => area.get(key) ?? null,
      setItem: (key, value) => {
        const old = area.get(key) ?? null
        area.set(key, String(value))
        browser.changed(this, key, old, String(value))
      },
      removeItem: (key) => {
        const old = area.get(key) ?? null
        area.delete(key)
        browser.changed(this, key, old, null)
      },
    }
  }
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null) {
    if (type === 'storage' && typeof listener === 'function') this.listeners.add(listener)
  }
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null) {
    if (type === 'storage' && typeof listener === 'function') this.listeners.delete(listener)
  }
  fire(event: Record<string, unknown>) {
    for (const listener of this.listeners) listener(event as unknown as Event)
  }
}

/** Web Locks in miniature: per name, granted one at a time in request order, asynchronously; abortable while waiting. */
class FakeLocks implements LockManagerLike {
  readonly #tails = new Map<string, Promise<void>>()
  readonly names: string[] = []
  held = 0
  maxHeld = 0
  request(name: string, options: { mode: 'exclusive'; signal?: AbortSignal }, callback: () => Promise<unknown>) {
    expect(options.mode).toBe('exclusive')
    this.names.push(name)
    const prev = this.#tails.get(name) ?? Promise.resolve()
    let release!: () => void
    this.#tails.set(name, new Promise<void>((r) => (release = r)))
    const { signal } = options
    return new Promise<unknown>((resolve, reject) => {
      let aborted = false
      const onAbort = () => {
        aborted = true
        reject(signal!.reason)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      void prev.then(async () => {
        signal?.removeEventListener('abort', onAbort)
        if (aborted) return release()
        this.maxHeld = Math.max(this.maxHeld, ++this.held)
        try {
          resolve(await callback())
        } catch (err) {
          reject(err)
        } finally {
          this.held--
          release()
        }
      })
    })
  }
}

const KEY = 'lex-password-agent:session'
const WHERE = 'WebStorageSessionStore'
const storeIn = (tab: FakeTab, browser: FakeBrowser, options: WebStorageSessionStoreOptions = {}) =>
  new WebStorageSessionStore({ storage: tab.storage, locks: browser.locks, eventTarget: tab, ...options })
const later = (s: Session): Session => ({
  ...s,
  data: { ...s.data, accessJwt: fakeJwt({ sub: DID }, 9000), refreshJwt: fakeJwt({ scope: 'com.atproto.refresh' }) },
})

describe('WebStorageSessionStore: the store contract', () => {
  it('keeps exactly the Session JSON under its one key; get, set and delete are one storage call each', async () => {
    const browser = new FakeBrowser()
    const tab = browser.open()
    const calls: string[] = []
    const storage: StorageLike = {
      getItem: (k) => (calls.push(`get ${k}`), tab.storage.getItem(k)),
      setItem: (k, v) => (calls.push(`set ${k}`), tab.storage.setItem(k, v)),
      removeItem: (k) => (calls.push(`remove ${k}`), tab.storage.removeItem(k)),
    }
    const store = storeIn(tab, browser, { storage })
    expect(store.key).toBe(KEY)
    expect(await store.get()).toBeUndefined()
    const s = session()
    await store.set(s)
    expect([...browser.area.keys()]).toEqual([KEY])
    expect(JSON.parse(browser.area.get(KEY)!)).toEqual(s)
    expect(await store.get()).toEqual(s)
    await store.delete()
    expect(browser.area.size).toBe(0)
    await store.delete() // idempotent
    expect(calls).toEqual([`get ${KEY}`, `set ${KEY}`, `get ${KEY}`, `remove ${KEY}`, `remove ${KEY}`])
  })

  it('another key keeps another account apart', async () => {
    const browser = new FakeBrowser()
    const tab = browser.open()
    const a = storeIn(tab, browser, { key: 'app:alice' })
    const b = storeIn(tab, browser, { key: 'app:bob' })
    await a.set(session())
    expect(await b.get()).toBeUndefined()
    expect([...browser.area.keys()]).toEqual(['app:alice'])
  })

  it('markLoggedOut leaves a marker: read() gives it, get() reads it as no session', async () => {
    const browser = new FakeBrowser()
    const store = storeIn(browser.open(), browser)
    await store.set(session())
    await store.markLoggedOut(DID)
    expect(browser.area.get(KEY)).toBe(JSON.stringify({ loggedOut: DID }))
    expect(await store.read()).toEqual({ loggedOut: DID })
    expect(await store.get()).toBeUndefined()
    await store.set(session()) // a new login replaces it
    expect(await store.read()).toEqual(expect.objectContaining({ data: expect.any(Object) }))
    await expect(store.markLoggedOut('not a did' as never)).rejects.toThrow(
      new TypeError(`${WHERE}.markLoggedOut: "did" must be a DID`),
    )
  })

  it('a malformed entry rejects naming the key, never quoting it (a token maybe)', async () => {
    const browser = new FakeBrowser()
    const store = storeIn(browser.open(), browser)
    const token = fakeJwt()
    browser.area.set(KEY, `{"data":{"accessJwt":"${token}"`)
    const err = await store.get().catch((e: Error) => e)
    expect(err).toBeInstanceOf(SyntaxError)
    expect((err as Error).message).toMatch(`the stored session in Web Storage key "${KEY}" is not valid JSON`)
    expect((err as Error).message).not.toContain(token.slice(0, 20))
    browser.area.set(KEY, JSON.stringify({ ...session(), data: { ...session().data, accessJwt: 'nope' } }))
    await expect(store.get()).rejects.toThrow(new TypeError('store: "stored session.data.accessJwt" must be a JWT'))
    // A marker for something that is not a DID is not a marker.
    browser.area.set(KEY, '{"loggedOut":"x"}')
    await expect(store.read()).rejects.toThrow(TypeError)
  })

  it('the lock: the name it is given, exclusive, released on throw, and a LockTimeoutError after acquireTimeoutMs', async () => {
    const browser = new FakeBrowser()
    const store = storeIn(browser.open(), browser, { acquireTimeoutMs: 50 })
    const order: string[] = []
    const run = (id: string, ms: number) =>
      store.lock('lock-a', async () => {
        order.push(`in ${id}`)
        await new Promise((r) => setTimeout(r, ms))
        order.push(`out ${id}`)
        return id
      })
    expect(await Promise.all([run('1', 5), run('2', 5), run('3', 5)])).toEqual(['1', '2', '3'])
    expect(order).toEqual(['in 1', 'out 1', 'in 2', 'out 2', 'in 3', 'out 3'])
    expect(browser.locks.maxHeld).toBe(1)
    await expect(store.lock('lock-a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await store.lock('lock-a', async () => 'free again')).toBe('free again')

    let unblock!: () => void
    const holding = store.lock('lock-a', () => new Promise<void>((r) => (unblock = r)))
    const waiting = store.lock('lock-a', async () => 'never')
    await expect(waiting).rejects.toThrow(
      new LockTimeoutError(
        'timed out after 50 ms waiting for the session lock lock-a, which another tab holds: check that tab, or raise acquireTimeoutMs',
      ),
    )
    unblock()
    await holding
    expect(await store.lock('lock-a', async () => 'after the timeout')).toBe('after the timeout')
    expect(browser.locks.names.every((name) => name === 'lock-a')).toBe(true)
  })

  it('a holder that wrote the entry keeps the lock 50 ms longer (for the other tabs to read the write); one that did not, no longer', async () => {
    const browser = new FakeBrowser()
    const store = storeIn(browser.open(), browser)
    const order: string[] = []
    setTimeout(() => order.push('20 ms'), 20)
    await store.lock('lock-a', () => store.get())
    order.push('released after a read') // microtasks only: before any timer
    const wroteAt = performance.now()
    setTimeout(() => order.push('20 ms after the write'), 20)
    await store.lock('lock-a', () => store.set(session()))
    order.push('released after a write')
    expect(performance.now() - wroteAt).toBeGreaterThanOrEqual(45)
    const markedAt = performance.now()
    await store.lock('lock-a', () => store.markLoggedOut(DID))
    expect(performance.now() - markedAt).toBeGreaterThanOrEqual(45)
    expect(order).toEqual(['released after a read', '20 ms', '20 ms after the write', 'released after a write'])
  })

  it("subscribe: called for other tabs' writes of its key only, and unsubscribed (the window listener removed with the last)", async () => {
    const browser = new FakeBrowser()
    const [a, b] = [browser.open(), browser.open()]
    const store = storeIn(a, browser)
    const calls: string[] = []
    const stop1 = store.subscribe(() => calls.push('one'))
    const stop2 = store.subscribe(() => calls.push('two'))
    expect(a.listeners.size).toBe(1)
    await store.set(session()) // its own tab's write: no event, as in a browser
    b.storage.setItem('some-other-key', 'x')
    await browser.delivered()
    expect(calls).toEqual([])
    b.storage.setItem(KEY, JSON.stringify(session()))
    await browser.delivered()
    expect(calls).toEqual(['one', 'two'])
    // An event of another storage area (sessionStorage) with the same key is not ours.
    a.fire({ type: 'storage', key: KEY, storageArea: {} })
    await browser.delivered()
    expect(calls).toEqual(['one', 'two'])
    stop1()
    stop1()
    expect(a.listeners.size).toBe(1)
    stop2()
    expect(a.listeners.size).toBe(0)
    b.storage.removeItem(KEY)
    await browser.delivered()
    expect(calls).toEqual(['one', 'two'])
    expect(() => store.subscribe('x' as never)).toThrow(
      new TypeError(`${WHERE}.subscribe: "listener" must be a function`),
    )
  })
})

describe('WebStorageSessionStore: options', () => {
  const browser = new FakeBrowser()
  const tab = browser.open()
  const base = { storage: tab.storage, locks: browser.locks, eventTarget: tab }

  it('refuses a misspelled option with the closest name, and a bad value naming the field', () => {
    const cases: [unknown, string][] = [
      [{ ...base, storge: tab.storage }, `${WHERE}: "storge" is not an option (did you mean "storage"?)`],
      [{ ...base, lock: browser.locks }, `${WHERE}: "lock" is not an option (did you mean "locks"?)`],
      [
        { ...base, acquireTimeout: 5 },
        `${WHERE}: "acquireTimeout" is not an option (did you mean "acquireTimeoutMs"?)`,
      ],
      [{ ...base, eventTarger: tab }, `${WHERE}: "eventTarger" is not an option (did you mean "eventTarget"?)`],
      [{ ...base, key: '' }, `${WHERE}: "key" must be a non-empty string`],
      [
        { ...base, storage: { getItem() {}, setItem() {} } },
        `${WHERE}: "storage" must be a Storage (getItem, setItem, removeItem), e.g. localStorage`,
      ],
      [{ ...base, locks: {} }, `${WHERE}: "locks" must be a LockManager (request), e.g. navigator.locks`],
      [
        { ...base, eventTarget: { addEventListener() {} } },
        `${WHERE}: "eventTarget" must be an EventTarget (addEventListener, removeEventListener), e.g. window`,
      ],
      [
        { ...base, acquireTimeoutMs: 0 },
        `${WHERE}: "acquireTimeoutMs" must be a number of milliseconds, above 0 and at most 2147483647`,
      ],
      ['localStorage', `${WHERE}: options must be an object`],
    ]
    for (const [options, message] of cases) {
      expect(() => new WebStorageSessionStore(options as never)).toThrow(new TypeError(message))
    }
  })

  it('where the runtime has no localStorage or no navigator.locks (Node), each must be given', () => {
    expect(globalThis.localStorage).toBeUndefined()
    expect(globalThis.navigator?.locks).toBeUndefined()
    expect(() => new WebStorageSessionStore()).toThrow(
      new TypeError(`${WHERE}: "storage" must be given where localStorage is missing`),
    )
    expect(() => new WebStorageSessionStore({ storage: tab.storage })).toThrow(
      new TypeError(
        `${WHERE}: "locks" must be given where navigator.locks is missing (Web Locks need https or localhost)`,
      ),
    )
    // No window to listen on: the store works, and tells no one (adoption waits for the next refresh).
    const store = new WebStorageSessionStore({ storage: tab.storage, locks: browser.locks })
    expect(typeof store.subscribe(() => {})).toBe('function')
  })

  it('an agent refuses a store whose optional members are not functions', () => {
    const store = Object.assign(storeIn(tab, browser), { subscribe: 'yes' })
    expect(() => new PasswordAgent(session(), { store: store as never })).toThrow(
      new TypeError('PasswordAgent: "store.subscribe" must be a function'),
    )
  })
})

describe('WebStorageSessionStore: tabs sharing one session (4 agents, one storage area, one lock manager)', () => {
  let mock: MockEntryway
  beforeAll(async () => {
    mock = await startMockEntryway()
  })
  afterAll(() => mock.close())

  type Tab = {
    tab: FakeTab
    store: WebStorageSessionStore
    agent: PasswordAgent
    hooks: { refreshed: number; deleted: number; warnings: string[] }
  }

  /** Tab 0 logs in (the session is saved); the others start from the store, without a request. */
  async function openTabs(browser: FakeBrowser, n = 4, storeOptions: WebStorageSessionStoreOptions = {}) {
    const tabs: Tab[] = []
    for (let i = 0; i < n; i++) {
      const tab = browser.open()
      const store = storeIn(tab, browser, storeOptions)
      const hooks = { refreshed: 0, deleted: 0, warnings: [] as string[] }
      const result = await PasswordAgent.resumeOrLogin({
        service: mock.url,
        identifier: 'alice.test',
        password: 'app-password',
        store,
        hooks: {
          onRefreshed: () => void hooks.refreshed++,
          onDeleted: () => void hooks.deleted++,
          onWarning: (message) => void hooks.warnings.push(message),
        },
      })
      if (!result.success) throw result
      tabs.push({ tab, store, agent: result.value, hooks })
    }
    return tabs
  }
  const count = (nsid: string) => mock.counts.get(`com.atproto.server.${nsid}`) ?? 0
  const call = (agent: PasswordAgent) => agent.fetch('/xrpc/com.example.ping').then((res) => res.status)

  it('after a forced expiry, 20 concurrent calls in each of 4 tabs make exactly one refreshSession in all (3 generations)', async () => {
    const browser = new FakeBrowser()
    const logins = count('createSession')
    const tabs = await openTabs(browser)
    expect(count('createSession') - logins).toBe(1)
    for (let generation = 1; generation <= 3; generation++) {
      const refreshes = count('refreshSession')
      mock.revokeAccess()
      const statuses = await Promise.all(tabs.flatMap(({ agent }) => Array.from({ length: 20 }, () => call(agent))))
      expect(statuses).toEqual(Array(80).fill(200))
      expect(count('refreshSession') - refreshes).toBe(1)
      await browser.delivered(tabs.map((t) => t.agent))
      const stored = JSON.parse(browser.area.get(KEY)!) as Session
      for (const { agent } of tabs) expect(agent.session.data.refreshJwt).toBe(stored.data.refreshJwt)
    }
    expect([...mock.refreshUses.values()].every((uses) => uses === 1)).toBe(true) // no refresh token presented twice
    expect(browser.locks.maxHeld).toBe(1)
    // Tokens only under the store's key: one key in storage, none in a lock name.
    expect([...browser.area.keys()]).toEqual([KEY])
    expect(new Set(browser.locks.names)).toEqual(new Set([`lex-password-agent:${mock.did}`]))
    for (const { hooks } of tabs) expect(hooks).toEqual(expect.objectContaining({ deleted: 0, warnings: [] }))
  })

  it('a refresh in one tab is adopted by the others through the storage event, without a request', async () => {
    const browser = new FakeBrowser()
    const tabs = await openTabs(browser)
    const before = mock.total()
    const counted = tabs.map((t) => t.hooks.refreshed)
    const fresh = await tabs[0]!.agent.refresh()
    expect(mock.total() - before).toBe(1)
    await browser.delivered(tabs.map((t) => t.agent))
    expect(mock.total() - before).toBe(1) // the other tabs asked nothing
    for (const [i, { agent, hooks }] of tabs.entries()) {
      expect(agent.session).toEqual(fresh)
      expect(hooks.refreshed - counted[i]!).toBe(1) // onRefreshed once, in every tab
    }
    // Each tab's next call goes out with the adopted token: one request each, no refresh.
    expect(await Promise.all(tabs.map(({ agent }) => call(agent)))).toEqual([200, 200, 200, 200])
    expect(mock.total() - before).toBe(1 + 4)
  })

  it("logout in one tab: the others' onDeleted runs once and their next request rejects 'Logged out', with no request", async () => {
    const browser = new FakeBrowser()
    const tabs = await openTabs(browser)
    const deletes = count('deleteSession')
    await tabs[0]!.agent.logout()
    expect(count('deleteSession') - deletes).toBe(1)
    expect(browser.area.get(KEY)).toBe(JSON.stringify({ loggedOut: mock.did }))
    await browser.delivered(tabs.map((t) => t.agent))
    const before = mock.total()
    for (const { agent, hooks } of tabs) {
      expect(agent.destroyed).toBe(true)
      expect(hooks.deleted).toBe(1)
      const err = await agent.fetch('/xrpc/com.example.ping').catch((e: unknown) => e)
      expect(err).toBeInstanceOf(LoggedOutError)
      expect((err as Error).message).toBe('Logged out')
    }
    expect(mock.total()).toBe(before)
    await browser.delivered()
    for (const { hooks, tab } of tabs) {
      expect(hooks.deleted).toBe(1)
      expect(tab.listeners.size).toBe(0) // an ended agent stops listening
    }
    // A new tab finds no session to resume: it logs in again, and the marker is replaced.
    const [again] = await openTabs(browser, 1)
    expect(again!.agent.destroyed).toBe(false)
    expect(JSON.parse(browser.area.get(KEY)!)).toEqual(again!.agent.session)
  })

  it('a tab that missed the event finds the marker at its next refresh: Logged out, onDeleted, no refreshSession', async () => {
    const browser = new FakeBrowser()
    const tabs = await openTabs(browser, 2)
    // A tab that hears nothing (e.g. restored from the back/forward cache).
    const deaf = browser.open()
    const hooks = { deleted: 0 }
    const agent = new PasswordAgent(tabs[0]!.agent.session, {
      store: storeIn(deaf, browser, { eventTarget: { addEventListener() {}, removeEventListener() {} } }),
      hooks: { onDeleted: () => void hooks.deleted++ },
    })
    await tabs[0]!.agent.logout()
    await browser.delivered(tabs.map((t) => t.agent))
    expect(agent.destroyed).toBe(false)
    const refreshes = count('refreshSession')
    await expect(agent.refresh()).rejects.toThrow(new LoggedOutError())
    expect(count('refreshSession')).toBe(refreshes)
    expect(hooks.deleted).toBe(1)
    await expect(call(agent)).rejects.toThrow('Logged out')
    expect(browser.area.get(KEY)).toBe(JSON.stringify({ loggedOut: mock.did }))
  })

  it('a missing entry alone is not a logout; a malformed one is a warning, treated as absent, never a crash', async () => {
    const browser = new FakeBrowser()
    const tabs = await openTabs(browser)
    tabs[0]!.tab.storage.removeItem(KEY) // e.g. the user cleared the site's storage
    await browser.delivered(tabs.map((t) => t.agent))
    for (const { agent, hooks } of tabs) {
      expect(agent.destroyed).toBe(false)
      expect(hooks.deleted).toBe(0)
      expect(await call(agent)).toBe(200)
    }
    // Another account's marker ends no one here: it is not this account's entry (a warning).
    tabs[0]!.tab.storage.setItem(KEY, JSON.stringify({ loggedOut: 'did:plc:someoneelse' }))
    await browser.delivered(tabs.map((t) => t.agent))
    for (const { agent, hooks } of tabs.slice(1)) {
      expect(agent.destroyed).toBe(false)
      expect(hooks.warnings).toEqual([
        expect.stringMatching(/^the session store holds something that is not a valid Session; ignoring it \(/),
      ])
      hooks.warnings.length = 0
    }
    tabs[0]!.tab.storage.setItem(KEY, '{"data":')
    await browser.delivered(tabs.map((t) => t.agent))
    for (const { agent, hooks } of tabs.slice(1)) {
      expect(agent.destroyed).toBe(false)
      expect(hooks.warnings).toEqual([
        `could not read the session store (the stored session in Web Storage key "${KEY}" is not valid JSON)`,
      ])
    }
    // A refresh reads it as absent, refreshes, and writes the new session over it.
    const refreshes = count('refreshSession')
    const fresh = await tabs[1]!.agent.refresh()
    expect(count('refreshSession') - refreshes).toBe(1)
    expect(JSON.parse(browser.area.get(KEY)!)).toEqual(fresh)
    await browser.delivered(tabs.map((t) => t.agent))
    for (const { agent } of tabs) expect(agent.session).toEqual(fresh)
  })

  it('a full storage (QuotaExceededError) is a warning: the session is kept in memory', async () => {
    const browser = new FakeBrowser()
    const [only] = await openTabs(browser, 1)
    const storage = only!.tab.storage
    const setItem = storage.setItem
    storage.setItem = () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
    }
    try {
      const fresh = await only!.agent.refresh()
      expect(only!.agent.session).toEqual(fresh)
      // (A DOMException from another realm than jest's is no `instanceof Error`: its name comes along.)
      expect(only!.hooks.warnings).toEqual([
        expect.stringMatching(/^could not save the session; keeping it in memory \(.*The quota has been exceeded\.\)$/),
      ])
    } finally {
      storage.setItem = setItem
    }
  })

  it('examples/browser-tabs.ts (the docs/browser.md snippet) in 4 tabs: one sign-in, three resumed, one sign-out for all', async () => {
    const browser = new FakeBrowser()
    const options = () => {
      const tab = browser.open()
      return { storage: tab.storage, locks: browser.locks, eventTarget: tab }
    }
    const signedOut: number[] = []
    const events = (i: number) => ({ onSignedOut: () => void signedOut.push(i) })
    const before = mock.total()
    expect(await resumeTab(events(0), options())).toBeUndefined() // nobody signed in yet: the form
    const form = { service: mock.url, identifier: 'alice.test', appPassword: 'app-password' }
    const first = await signIn(form, events(0), options())
    const others = await Promise.all([1, 2, 3].map((i) => resumeTab(events(i), options())))
    expect(mock.total() - before).toBe(1) // the sign-in; the other tabs asked nothing
    const agents = [first, ...others.map((agent) => agent!)]
    for (const agent of agents) expect(agent.session).toEqual(first.session)
    await agents[2]!.logout()
    await browser.delivered(agents)
    expect(signedOut.sort()).toEqual([0, 1, 2, 3])
    expect(await resumeTab(events(4), options())).toBeUndefined()
  })

  it("docs/browser.md's snippet is an excerpt of examples/browser-tabs.ts: its lines, in the file's order", () => {
    const read = (file: string) => fs.readFileSync(path.join(__dirname, '..', file), 'utf8')
    const snippet = /```ts\n([\s\S]*?)```/.exec(read('docs/browser.md'))![1]!
    const lines = snippet.split('\n').filter((line) => line.trim() && line.trim() !== '// …')
    expect(lines.length).toBeGreaterThan(30)
    const file = read('examples/browser-tabs.ts').split('\n')
    let at = 0
    for (const line of lines) {
      const found = file.indexOf(line, at)
      expect([line, found >= 0]).toEqual([line, true])
      at = found + 1
    }
  })

  it('an agent that adopted a newer session from another tab is not refreshed again by its stale requests', async () => {
    const browser = new FakeBrowser()
    const tabs = await openTabs(browser, 2)
    const stale = tabs[1]!.agent.session
    const fresh = later(stale)
    tabs[0]!.tab.storage.setItem(KEY, JSON.stringify(fresh))
    await browser.delivered(tabs.map((t) => t.agent))
    expect(tabs[1]!.agent.session).toEqual(fresh)
    const refreshes = count('refreshSession')
    expect(await tabs[1]!.agent.sessionHolder.refresh(stale)).toEqual(fresh)
    expect(count('refreshSession')).toBe(refreshes)
  })
})
