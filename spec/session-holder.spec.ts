import { describe, expect, it } from '@jest/globals'
import { XrpcResponseError } from '@atproto/lex-client'
import { LoggedOutError, SessionMismatchError, SessionTimeoutError } from '../lib/core/errors.ts'
import type { SessionHooks } from '../lib/core/hooks.ts'
import { refreshSession } from '../lib/core/lexicons.ts'
import type { IssuedSession, SessionApi } from '../lib/core/session-api.ts'
import { SessionHolder, type SessionHolderOptions } from '../lib/core/session-holder.ts'
import { MemorySessionStore, type SessionLock } from '../lib/core/session-store.ts'
import type { Session } from '../lib/core/session.ts'
import { DID, fakeJwt, session, xrpcError } from './helpers/fixtures.ts'

// The holder's state machine against a fake session API: no HTTP anywhere.

type Answer<T> = T | Promise<T>

/** A {@link SessionApi} that records its calls and answers as told (by default: a new generation / revoked). */
class FakeApi implements SessionApi {
  refreshes: Session[] = []
  deletes: Session[] = []
  onRefresh: (s: Session) => Answer<IssuedSession | Error> = (s) => ({ session: rotated(s) })
  onDelete: (s: Session) => Answer<Error | undefined> = () => undefined
  async refreshSession(s: Session) {
    this.refreshes.push(s)
    return this.onRefresh(s)
  }
  async deleteSession(s: Session) {
    this.deletes.push(s)
    return this.onDelete(s)
  }
}

let generations = 0
/** The next generation of `s`'s account: new tokens, a later access-token expiry. */
const rotated = (s: Session = session()): Session =>
  session(
    { service: s.service, pdsUrl: s.pdsUrl },
    { did: s.data.did, accessJwt: fakeJwt({ sub: DID }, 7200 + ++generations * 60) },
  )

/** A promise to settle by hand. */
function gate<T>() {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => (open = resolve))
  return { promise, open }
}

const refusal = (status: number, error: string) =>
  new XrpcResponseError(refreshSession, new Response(null, { status }), {
    encoding: 'application/json',
    body: xrpcError(error),
  })
const expired = () => refusal(400, 'ExpiredToken')
const upstream = () => refusal(502, 'UpstreamFailure')

/** A holder on a fake API, recording its hooks (`this` included). */
function setup(options: SessionHolderOptions = {}, first: Session = session()) {
  const api = new FakeApi()
  const agent = { name: 'agent' }
  const events: unknown[][] = []
  const record = (name: string) =>
    function (this: unknown, ...args: unknown[]) {
      expect(this).toBe(agent)
      events.push([name, ...args])
    }
  const hooks: SessionHooks<typeof agent> = {
    onRefreshed: record('onRefreshed'),
    onRefreshFailure: record('onRefreshFailure'),
    onDeleted: record('onDeleted'),
    onDeleteFailure: record('onDeleteFailure'),
    onWarning: record('onWarning'),
    onHookError: record('onHookError'),
    ...options.hooks,
  }
  const holder = new SessionHolder(first, { thisArg: agent, api, ...options, hooks })
  return { holder, api, events, first }
}

const settled = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  )

describe('SessionHolder: single flight', () => {
  it('N concurrent refresh(seen) make one refreshSession, and all get its session', async () => {
    const { holder, api, first, events } = setup()
    const results = await Promise.all(Array.from({ length: 10 }, () => holder.refresh(first)))
    expect(api.refreshes).toEqual([first])
    const next = holder.session!
    expect(next).not.toBe(first)
    expect(results.every((r) => r === next)).toBe(true)
    expect(events).toEqual([['onRefreshed', next]])
  })

  it('a refresh(seen) with tokens older than the current ones gets the current session without a call', async () => {
    const { holder, api, first } = setup()
    const next = await holder.refresh(first)
    expect(await holder.refresh(first)).toBe(next)
    expect(api.refreshes).toHaveLength(1)
  })

  it('refresh() without `seen` while one runs shares it; once settled, the next refresh() makes a new call', async () => {
    const { holder, api, first } = setup()
    const answer = gate<IssuedSession>()
    api.onRefresh = () => answer.promise
    const a = holder.refresh(first)
    const b = holder.refresh()
    expect(b).toBe(a)
    answer.open({ session: rotated(first) })
    expect(await b).toBe(await a)
    api.onRefresh = (s) => ({ session: rotated(s) })
    await holder.refresh()
    expect(api.refreshes).toHaveLength(2)
  })
})

describe('SessionHolder: refresh and logout are serialised', () => {
  it('readers wait for a running refresh (peek says nothing meanwhile) and get the new session', async () => {
    const { holder, api, first } = setup()
    const answer = gate<IssuedSession>()
    api.onRefresh = () => answer.promise
    const refreshing = holder.refresh(first)
    expect(holder.peek()).toBeUndefined()
    const reading = holder.current()
    const next = rotated(first)
    answer.open({ session: next })
    expect(await reading).toEqual(next)
    expect(await refreshing).toEqual(next)
    expect(holder.peek()).toEqual(next)
  })

  it('logout waits for a running refresh and revokes the newest generation', async () => {
    const { holder, api, first, events } = setup()
    const answer = gate<IssuedSession>()
    api.onRefresh = () => answer.promise
    const refreshing = holder.refresh(first)
    const out = holder.logout()
    await new Promise((r) => setTimeout(r, 10))
    expect(api.deletes).toEqual([])
    const next = rotated(first)
    answer.open({ session: next })
    await out
    expect(await refreshing).toEqual(next)
    expect(api.deletes).toEqual([next])
    expect(events).toEqual([
      ['onRefreshed', next],
      ['onDeleted', next],
    ])
    await expect(holder.current()).rejects.toBeInstanceOf(LoggedOutError)
    await expect(holder.refresh()).rejects.toBeInstanceOf(LoggedOutError)
    await holder.logout() // idempotent
    expect(api.deletes).toHaveLength(1)
  })

  it('a logout the server refuses for a transient reason keeps the session (onDeleteFailure)', async () => {
    const { holder, api, first, events } = setup()
    const down = upstream()
    api.onDelete = () => down
    await expect(holder.logout()).rejects.toBe(down)
    expect(events).toEqual([['onDeleteFailure', first, down]])
    expect(await holder.current()).toBe(first)
  })

  it('a logout refused as definitive (the token is already dead) ends the session', async () => {
    const { holder, api, first, events } = setup()
    api.onDelete = () => expired()
    await holder.logout()
    expect(events).toEqual([['onDeleted', first]])
    expect(holder.destroyed).toBe(true)
  })

  it('refresh and logout run under the lock, keyed by the account', async () => {
    const keys: string[] = []
    const lock: SessionLock = (key, fn) => (keys.push(key), fn())
    const { holder, first } = setup({ lock })
    await holder.refresh(first)
    await holder.logout()
    expect(keys).toEqual([`lex-password-agent:${first.data.did}`, `lex-password-agent:${first.data.did}`])
  })
})

describe('SessionHolder: a shared store', () => {
  it('adopts a newer generation another process stored instead of refreshing', async () => {
    const first = session()
    const theirs = rotated(first)
    const store = new MemorySessionStore(theirs)
    const { holder, api, events } = setup({ store }, first)
    expect(await holder.refresh(first)).toEqual(theirs)
    expect(api.refreshes).toEqual([])
    expect(events).toEqual([['onRefreshed', theirs]])
  })

  it('writes a new session to the store before using it; a failed write is a warning, the session is used anyway', async () => {
    const store = new MemorySessionStore()
    const { holder, first } = setup({
      store,
      hooks: { onRefreshed: async (s) => expect(await store.get()).toEqual(s) },
    })
    await holder.refresh(first)

    const broken = new MemorySessionStore()
    broken.set = async () => {
      throw new Error('disk full')
    }
    const other = setup({ store: broken })
    const next = await other.holder.refresh(other.first)
    expect(other.events).toEqual([
      ['onWarning', 'could not save the session; keeping it in memory (disk full)'],
      ['onRefreshed', next],
    ])
  })

  it('a definitive refusal with a newer session in the store adopts it (another process rotated first)', async () => {
    const first = session()
    const store = new MemorySessionStore(first)
    const theirs = rotated(first)
    const { holder, api, events } = setup({ store, lock: (_key, fn) => fn() }, first)
    api.onRefresh = async () => (await store.set(theirs), expired())
    expect(await holder.refresh(first)).toEqual(theirs)
    expect(events).toEqual([['onRefreshed', theirs]])
    expect(holder.destroyed).toBe(false)
  })

  it('logout revokes the newest generation, even one another process stored', async () => {
    const first = session()
    const theirs = rotated(first)
    const store = new MemorySessionStore(theirs)
    const { holder, api } = setup({ store }, first)
    await holder.logout()
    expect(api.deletes).toEqual([theirs])
    expect(await store.get()).toBeUndefined()
  })
})

describe('SessionHolder: definitive and transient failures', () => {
  it('a definitive refusal ends the session: callers get the refusal once onDeleted ran, the store is cleared', async () => {
    const first = session()
    const store = new MemorySessionStore(first)
    let deleted = false
    const { holder, api } = setup(
      { store, hooks: { onDeleted: async () => void (await tick(), (deleted = true)) } },
      first,
    )
    const dead = expired()
    api.onRefresh = () => dead
    const results = await Promise.all(
      [settled(holder.refresh(first)), settled(holder.refresh(first))].map((p) => p.then((r) => ({ ...r, deleted }))),
    )
    expect(results).toEqual([
      { error: dead, deleted: true },
      { error: dead, deleted: true },
    ])
    expect(api.refreshes).toHaveLength(1)
    expect(await store.get()).toBeUndefined()
    await expect(holder.current()).rejects.toBeInstanceOf(LoggedOutError)
  })

  it('a refresh answered for another DID ends the session with a SessionMismatchError', async () => {
    const { holder, api, first, events } = setup()
    api.onRefresh = () => ({ session: session({}, { did: 'did:plc:someoneelse234567abcdef' }) })
    await expect(holder.refresh(first)).rejects.toBeInstanceOf(SessionMismatchError)
    expect(events).toEqual([['onDeleted', first]])
    expect(holder.destroyed).toBe(true)
  })

  it('a transient failure keeps the session: callers get it once onRefreshFailure ran', async () => {
    let reported = false
    const { holder, api, first, events } = setup({
      hooks: { onRefreshFailure: async () => void (await tick(), (reported = true)) },
    })
    const down = upstream()
    api.onRefresh = () => down
    const results = await Promise.all(
      [holder.refresh(first), holder.refresh(first)].map((p) => settled(p).then((r) => ({ ...r, reported }))),
    )
    expect(results).toEqual([
      { error: down, reported: true },
      { error: down, reported: true },
    ])
    expect(events).toEqual([])
    expect(await holder.current()).toBe(first)
  })

  it('backoff: within the window an automatic refresh gets the last failure without a call; refresh() always tries', async () => {
    const { holder, api, first, events } = setup({ backoff: { minMs: 200, maxMs: 200 } })
    const down = upstream()
    api.onRefresh = () => down
    await expect(holder.refresh(first)).rejects.toBe(down)
    expect(events).toEqual([['onRefreshFailure', first, down]])

    await expect(holder.refresh(first)).rejects.toBe(down)
    expect(api.refreshes).toHaveLength(1)

    api.onRefresh = (s) => ({ session: rotated(s) })
    const next = await holder.refresh()
    expect(api.refreshes).toHaveLength(2)
    expect(await holder.refresh(first)).toBe(next) // a newer session is there at once
  })

  it('backoff: once the window is over, an automatic refresh tries again', async () => {
    const { holder, api, first } = setup({ backoff: { minMs: 40, maxMs: 40 } })
    api.onRefresh = () => upstream()
    await expect(holder.refresh(first)).rejects.toBeInstanceOf(XrpcResponseError)
    await new Promise((r) => setTimeout(r, 60))
    api.onRefresh = (s) => ({ session: rotated(s) })
    await holder.refresh(first)
    expect(api.refreshes).toHaveLength(2)
  })
})

describe('SessionHolder: hooks', () => {
  it('a hook that never settles is reported as a SessionTimeoutError and stalls the agent only for the timeout', async () => {
    const { holder, first, events } = setup({ timeoutMs: 80, hooks: { onRefreshed: () => new Promise(() => {}) } })
    const started = Date.now()
    const next = await holder.refresh(first)
    expect(await holder.current()).toBe(next)
    expect(Date.now() - started).toBeLessThan(80 * 5)
    expect(events).toHaveLength(1)
    expect(events[0]![0]).toBe('onHookError')
    expect(events[0]![1]).toBeInstanceOf(SessionTimeoutError)
    expect(events[0]![2]).toBe('onRefreshed')
  })

  it('a hook calling refresh() from onRefreshFailure starts a new refresh instead of waiting for itself', async () => {
    let inner: Promise<Session> | undefined
    const { holder, api, first } = setup({
      hooks: {
        async onRefreshFailure() {
          api.onRefresh = (s) => ({ session: rotated(s) })
          inner = holder.refresh()
          await inner
        },
      },
    })
    const down = upstream()
    api.onRefresh = () => down
    await expect(holder.refresh(first)).rejects.toBe(down)
    expect(api.refreshes).toHaveLength(2)
    expect(await inner).toBe(holder.session)
    expect(holder.session).not.toBe(first)
  })

  it('a hook calling logout() from onRefreshed does not deadlock', async () => {
    const { holder, api, first } = setup({
      hooks: {
        async onRefreshed() {
          // Requests wait for onRefreshed, so the logout queues behind this refresh.
          void holder.logout()
        },
      },
    })
    await holder.refresh(first)
    await expect(holder.current()).rejects.toBeInstanceOf(LoggedOutError)
    expect(api.deletes).toHaveLength(1)
  })
})

const tick = () => new Promise((r) => setTimeout(r, 5))
