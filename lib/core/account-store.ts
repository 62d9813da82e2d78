import type { DidString } from '@atproto/lex-schema'
import { check, func, isObject, type Rule } from './check.ts'
import { MemorySessionStore, type SessionStore } from './session-store.ts'
import { isDid } from './session.ts'

/**
 * Where the sessions of many accounts live, keyed by DID (a directory of
 * files, Redis keys, a map): what `PasswordAgentPool` takes. Each account is
 * a {@link SessionStore} of its own (`account(did)`), so every agent reads,
 * writes and locks its account's entry exactly as a single-account agent
 * does: adoption, the lock and logout work per account, across processes.
 */
export interface AccountStore {
  /**
   * The store of one account's session: its `get`/`set`/`delete` read and
   * write that DID's entry, its `lock` excludes only that account's other
   * users. Cheap to call; may return a new object each time.
   */
  account(did: DidString): SessionStore
  /** The DIDs with a saved session, in no particular order (each once). */
  list(): AsyncIterable<DidString>
}

/** An {@link AccountStore} in memory: for tests, and for several pools of one process. */
export class MemoryAccountStore implements AccountStore {
  readonly #accounts = new Map<DidString, MemorySessionStore>()

  /** The account's store, the same object for every call (its lock is in-process, FIFO). */
  account(did: DidString): MemorySessionStore {
    check('MemoryAccountStore.account', 'did', did, didRule)
    let store = this.#accounts.get(did)
    if (!store) this.#accounts.set(did, (store = new MemorySessionStore()))
    return store
  }

  async *list(): AsyncIterable<DidString> {
    for (const [did, store] of this.#accounts) if ((await store.get()) !== undefined) yield did
  }
}

/** A DID in atproto syntax (`did:plc:…`, `did:web:…`). */
export const didRule: Rule = [isDid, 'be a DID (did:plc:… or did:web:…)']

/** A `store` option of a pool: an object with `account` and `list`. */
export const accountStore: Rule = [
  (store, where, field) =>
    isObject(store) && ['account', 'list'].every((key) => check(where, `${field}.${key}`, store[key], func)),
  'be an AccountStore (e.g. MemoryAccountStore, FileAccountStore, RedisAccountStore)',
]
