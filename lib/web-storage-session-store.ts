import type { DidString } from '@atproto/lex-schema'
import { check, checkOptions, fail, func, isObject, number, string, type Rule } from './core/check.ts'
import { LockTimeoutError } from './core/errors.ts'
import { isDid, type Session } from './core/session.ts'
import { parseStoredSession, type LoggedOutMarker, type SessionLock, type SessionStore } from './core/session-store.ts'
import { sleep } from './core/sleep.ts'

/** The Web Storage methods the store calls: `localStorage` (default), `sessionStorage`, or your own. */
export type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

/** The part of the Web Locks API (`navigator.locks`) the store calls. */
export interface LockManagerLike {
  /** Runs `callback` once the lock `name` is granted, and releases it when the callback's promise settles. */
  request(
    name: string,
    options: { mode: 'exclusive'; signal?: AbortSignal },
    callback: () => Promise<unknown>,
  ): Promise<unknown>
}

/** Where `storage` events arrive: the window (default `globalThis`, where it has `addEventListener`). */
export type StorageEventTarget = Pick<EventTarget, 'addEventListener' | 'removeEventListener'>

/** The options of {@link WebStorageSessionStore}; every one has a default in a browser. */
export type WebStorageSessionStoreOptions = {
  /** The storage key of the session: one per account (default `lex-password-agent:session`). */
  key?: string
  /** Where the session is kept (default `globalThis.localStorage`). */
  storage?: StorageLike
  /**
   * The Web Locks that serialise refreshes across tabs (default
   * `navigator.locks`). Required where it is missing: without it tabs would
   * refresh one single-use token at once, and the loser's refusal would end
   * every tab's session.
   */
  locks?: LockManagerLike
  /** Where `storage` events from other tabs arrive (default `globalThis`, the window). */
  eventTarget?: StorageEventTarget
  /** Give up acquiring the lock after this long (default 120 000). */
  acquireTimeoutMs?: number
}

const WHERE = 'WebStorageSessionStore'
const methods = (must: string, ...names: string[]): Rule => [
  (v) => isObject(v) && names.every((m) => typeof v[m] === 'function'),
  must,
]
const RULES: Record<keyof WebStorageSessionStoreOptions, Rule> = {
  key: string,
  storage: methods(
    'be a Storage (getItem, setItem, removeItem), e.g. localStorage',
    'getItem',
    'setItem',
    'removeItem',
  ),
  locks: methods('be a LockManager (request), e.g. navigator.locks', 'request'),
  eventTarget: methods(
    'be an EventTarget (addEventListener, removeEventListener), e.g. window',
    'addEventListener',
    'removeEventListener',
  ),
  acquireTimeoutMs: number({ above: true }),
}
/**
 * How long a tab keeps the lock after writing the entry. Chromium hands a
 * `localStorage` write to the other tabs' copies asynchronously, on another
 * channel than the Web Lock's release: a tab granted the lock at once can
 * still read the old session and spend its refresh token a second time (the
 * runtime matrix saw it in a quarter of its runs). The write reaches them
 * within a few milliseconds (at most 6 ms measured, under load too).
 */
const SETTLE_MS = 50
/** Exactly what {@link WebStorageSessionStore.markLoggedOut} writes (a DID has no `"` or `\`). */
const MARKER = /^\{"loggedOut":"(did:[^"\\]+)"\}$/

/**
 * One account's session in Web Storage (`localStorage`), shared by every tab
 * of an origin: the key holds exactly the `Session` JSON (and nothing else
 * holds a token), refreshes are serialised across tabs by the Web Locks API,
 * and a tab is told through the `storage` event when another one refreshed
 * the session (adopted without a request) or ended it: `markLoggedOut` leaves
 * a `{"loggedOut":"<did>"}` marker that ends every tab's session, where a
 * missing entry ends none.
 *
 * Browser only in spirit (no Node API): any `Storage`, `LockManager` and
 * event target can be given, for tests or other runtimes.
 */
export class WebStorageSessionStore implements SessionStore {
  /** The storage key of the session. */
  readonly key: string
  readonly #storage: StorageLike
  readonly #locks: LockManagerLike
  readonly #events: StorageEventTarget | undefined
  readonly #acquireTimeoutMs: number
  readonly #listeners = new Set<() => void>()
  /** Writes so far (set, delete, markLoggedOut): whether a lock holder wrote. */
  #writes = 0

  constructor(options: WebStorageSessionStoreOptions = {}) {
    checkOptions(WHERE, options, RULES)
    this.key = options.key ?? 'lex-password-agent:session'
    this.#storage =
      options.storage ?? defaultStorage() ?? fail(WHERE, 'storage', 'be given where localStorage is missing')
    this.#locks =
      options.locks ??
      globalThis.navigator?.locks ??
      fail(WHERE, 'locks', 'be given where navigator.locks is missing (Web Locks need https or localhost)')
    const global = globalThis as Partial<StorageEventTarget>
    this.#events = options.eventTarget ?? (typeof global.addEventListener === 'function' ? globalThis : undefined)
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 120_000
  }

  /** The saved session, or `undefined` (also for a logged-out marker: there is no session). */
  async get(): Promise<Session | undefined> {
    const stored = await this.read()
    return stored && 'loggedOut' in stored ? undefined : stored
  }

  /**
   * The saved session, the logged-out marker, or `undefined`. A malformed
   * entry rejects (a SyntaxError or TypeError naming the key, never quoting it).
   */
  async read(): Promise<Session | LoggedOutMarker | undefined> {
    const text = this.#storage.getItem(this.key)
    if (text == null) return undefined
    const did = MARKER.exec(text)?.[1]
    return did ? { loggedOut: did as DidString } : parseStoredSession(text, `Web Storage key "${this.key}"`)
  }

  async set(session: Session): Promise<void> {
    this.#writes++
    this.#storage.setItem(this.key, JSON.stringify(session))
  }

  /** Removes the entry: no one is logged out by it (see {@link markLoggedOut}). */
  async delete(): Promise<void> {
    this.#writes++
    this.#storage.removeItem(this.key)
  }

  /** Replaces the session by the logged-out marker: every tab's agent of `did` ends its session. */
  async markLoggedOut(did: DidString): Promise<void> {
    check(`${WHERE}.markLoggedOut`, 'did', did, [isDid, 'be a DID'])
    this.#writes++
    this.#storage.setItem(this.key, JSON.stringify({ loggedOut: did }))
  }

  /**
   * Calls `listener` (in a microtask) when another tab changed this key, as
   * the browser reports it (a tab is not told of its own writes). Returns the
   * unsubscribe. Without an event target, never calls it.
   */
  subscribe(listener: () => void): () => void {
    check(`${WHERE}.subscribe`, 'listener', listener, func)
    const events = this.#events
    // Its own entry, so that one function subscribed twice is also unsubscribed twice.
    const entry = () => listener()
    if (!this.#listeners.size) events?.addEventListener('storage', this.#onStorage)
    this.#listeners.add(entry)
    return () => {
      if (this.#listeners.delete(entry) && !this.#listeners.size)
        events?.removeEventListener('storage', this.#onStorage)
    }
  }

  /**
   * Runs `fn` under the Web Lock `name`, exclusive across the tabs of the
   * origin (a closed tab releases it). If `fn` wrote the entry, the lock is
   * held a moment longer, until the other tabs can read the write.
   */
  lock: SessionLock = async (name, fn) => {
    let granted = false
    const signal = AbortSignal.timeout(this.#acquireTimeoutMs)
    try {
      return (await this.#locks.request(name, { mode: 'exclusive', signal }, async () => {
        granted = true
        const writes = this.#writes
        try {
          return await fn()
        } finally {
          if (this.#writes !== writes) await sleep(SETTLE_MS)
        }
      })) as Awaited<ReturnType<typeof fn>>
    } catch (err) {
      if (granted || !signal.aborted) throw err
      throw new LockTimeoutError(
        `timed out after ${this.#acquireTimeoutMs} ms waiting for the session lock ${name}, which another tab holds: check that tab, or raise acquireTimeoutMs`,
      )
    }
  }

  readonly #onStorage = (event: Event) => {
    const { key, storageArea } = event as StorageEvent
    // Each listener on its own: one that throws does not keep the others from running.
    if (key === this.key && storageArea === this.#storage)
      for (const listener of this.#listeners) queueMicrotask(listener)
  }
}

/** `localStorage`, if this runtime has one and lets us read it (a sandboxed frame throws a SecurityError). */
function defaultStorage(): StorageLike | undefined {
  try {
    return globalThis.localStorage ?? undefined
  } catch {
    return undefined
  }
}
