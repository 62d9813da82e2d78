import type { DidString } from '@atproto/lex-schema'
import { accountStore, didRule, type AccountStore } from './core/account-store.ts'
import { check, checkOptions, number, required, type Rule } from './core/check.ts'
import { RateLimitedError, SessionMismatchError } from './core/errors.ts'
import { createSession } from './core/lexicons.ts'
import { retryWaitMs } from './core/retry-timing.ts'
import { assertSession } from './core/session.ts'
import {
  AGENT_RULES,
  LOGIN_RULES,
  PasswordAgent,
  withoutAt,
  type LoginOptions,
  type LoginResult,
  type PasswordAgentOptions,
} from './password-agent.ts'

/**
 * The options of {@link PasswordAgentPool}: the store of every account, the
 * cap of agents kept in memory, and what every agent of the pool gets
 * (`hooks`, `fetch`, `refreshAhead`, … as for `new PasswordAgent`). Each
 * agent's `store` is its account's entry in `store`, and so is its lock.
 */
export type PasswordAgentPoolOptions = Omit<PasswordAgentOptions, 'store' | 'lock'> & {
  /** Where the accounts' sessions live, keyed by DID: `MemoryAccountStore`, `FileAccountStore`, `RedisAccountStore`. */
  store: AccountStore
  /**
   * Most agents kept in memory (default 1 000): past it, the least recently
   * used one is dropped and comes back from the store on its next `get`
   * (an agent that a caller still holds is handed out again until it is
   * garbage-collected, never a second one).
   */
  max?: number
}

/** The options of {@link PasswordAgentPool.login}: the credentials and how to find the service (the agent's own options are the pool's). */
export type PoolLoginOptions = Omit<LoginOptions, keyof PasswordAgentOptions>

// Built on first use, not at import: bundles of the main entry without the pool drop it all.
let rules:
  { pool: Record<keyof PasswordAgentPoolOptions, Rule>; login: Record<keyof PoolLoginOptions, Rule> } | undefined
function poolRules() {
  if (rules) return rules
  const { store: _store, lock: _lock, ...agent } = AGENT_RULES
  rules = {
    pool: {
      ...agent,
      store: required(accountStore),
      max: number({ min: 1, integer: true, max: Number.MAX_SAFE_INTEGER, unit: 'agents' }),
    },
    login: Object.fromEntries(Object.entries(LOGIN_RULES).filter(([key]) => !(key in AGENT_RULES))) as Record<
      keyof PoolLoginOptions,
      Rule
    >,
  }
  return rules
}

/**
 * Agents for many accounts, keyed by DID, over one {@link AccountStore}: for
 * services that act for thousands of users, in one process or in many
 * sharing the store.
 *
 * `get(did)` builds an account's agent from its stored session on first use
 * (one store read, no request while the access token is fresh) and hands the
 * same agent to every caller while it is in memory. At most `max` agents are
 * kept; the least recently used is dropped and rebuilt from the store later.
 * Each agent is a plain `PasswordAgent` whose store is its account's entry:
 * refreshes are locked and adopted per account exactly as for one agent, so
 * a refresh by one process is adopted by the others instead of repeated.
 *
 * The pool's `hooks` are every agent's, called with `this` bound to the
 * account's agent (`this.did`); `onRefreshed` and `onDeleted` also get the
 * session, which carries the DID (`session.data.did`).
 */
export class PasswordAgentPool {
  readonly #store: AccountStore
  readonly #max: number
  readonly #options: Omit<PasswordAgentOptions, 'store' | 'lock'>
  /** The agents kept in memory, least recently used first. */
  readonly #kept = new Map<DidString, PasswordAgent>()
  /** Every agent this pool made that may still be alive (held by a caller after it was dropped). */
  readonly #made = new Map<DidString, WeakRef<PasswordAgent>>()
  /** Agents being built from the store: concurrent `get`s share one. */
  readonly #loading = new Map<DidString, Promise<PasswordAgent | undefined>>()
  /**
   * Identifiers (normalized) whose createSession the server refused with a
   * 429 that said when to come back: until then, their logins are refused
   * here without a request. Expired entries are dropped as new ones come.
   */
  readonly #loginLimited = new Map<string, number>()
  readonly #collected = new FinalizationRegistry<{ did: DidString; ref: WeakRef<PasswordAgent> }>(({ did, ref }) => {
    if (this.#made.get(did) === ref) this.#made.delete(did)
  })

  constructor(options: PasswordAgentPoolOptions) {
    checkOptions('PasswordAgentPool', options, poolRules().pool)
    const { store, max = 1000, ...agentOptions } = options
    this.#store = store
    this.#max = max
    this.#options = agentOptions
  }

  /** How many agents the pool keeps in memory now (at most `max`). */
  get size(): number {
    return this.#kept.size
  }

  /**
   * The account's agent: the one in memory, or one built from its stored
   * session (no request while the access token is fresh: an expired one is
   * refreshed by the first request, as always). `undefined` if the store has
   * no session for `did` (never logged in here, or logged out). Rejects if
   * the store cannot be read, with a `TypeError` if its entry is not a
   * valid session, and with a `SessionMismatchError` if it is another
   * account's.
   */
  async get(did: DidString): Promise<PasswordAgent | undefined> {
    check('PasswordAgentPool.get', 'did', did, didRule)
    const live = this.#live(did)
    if (live) return this.#keep(did, live)
    const agent = await this.#loadOnce(did, true)
    // Ended meanwhile (a concurrent logout): as if the store had none.
    return agent && !agent.destroyed ? this.#keep(did, agent) : undefined
  }

  /**
   * Logs an account in with its password and adds it to the pool: its session
   * goes to the store, `onRefreshed` runs, and it resolves as
   * `PasswordAgent.login` does (the agent, or the server's refusal). If the
   * account's agent is already in this process, it takes the new session and
   * is the one returned (other processes adopt it at their next refresh).
   */
  async login(options: PoolLoginOptions): Promise<LoginResult> {
    checkOptions('PasswordAgentPool.login', options, poolRules().login)
    // createSession limits are per identifier: a 429 for this one is honoured
    // here until its window reopens (other identifiers are unaffected).
    const key = identifierKey(options.identifier)
    const until = this.#loginLimited.get(key)
    if (until !== undefined && Date.now() < until) return rateLimitedLogin(options.identifier, until)
    if (until !== undefined) this.#loginLimited.delete(key)
    const warnings: string[] = []
    const { hooks: _hooks, ...quiet } = this.#options
    const result = await PasswordAgent.login({
      ...options,
      ...quiet,
      // The pool's agent announces the session, under the pool's hooks.
      hooks: { onWarning: (message) => void warnings.push(message) },
    })
    if (!result.success) {
      const wait = result.status === 429 ? retryWaitMs(result.headers) : undefined
      if (wait !== undefined && wait > 0) this.#rememberLimit(key, Date.now() + wait)
      return result
    }
    const session = result.value.session
    const did = session.data.did
    const account = this.#store.account(did)
    const live = this.#live(did) ?? (await this.#loading.get(did)?.catch(() => undefined))
    if (live && !live.destroyed) {
      // Saved under the account's lock, then adopted as a newer generation (onRefreshed runs).
      const lock = account.lock ?? ((_key, fn) => fn())
      await lock(`lex-password-agent:${did}`, () => account.set(session))
      await live.sessionHolder.syncFromStore()
      return { success: true, value: this.#keep(did, live) }
    }
    const agent = this.#add(did, new PasswordAgent(session, { ...this.#options, store: account }))
    await agent.sessionHolder.announce(warnings.join('; ') || undefined)
    return { success: true, value: agent }
  }

  /**
   * Logs the account out: its agent (built from the store if need be) deletes
   * the session on the server and in the store, runs `onDeleted` and is
   * destroyed. Resolves to `false` if the store had no session for `did`.
   * On a transient failure rejects and keeps the session (`onDeleteFailure`).
   */
  async logout(did: DidString): Promise<boolean> {
    check('PasswordAgentPool.logout', 'did', did, didRule)
    return this.#logOut(did, await this.get(did))
  }

  /**
   * `PasswordAgent.delete` for an account of the pool: deletes its stored
   * session on the server (and in the store) without keeping an agent for
   * it in memory (a cleanup pass over many accounts does not push the
   * active ones out). If the account's agent is alive, it is the one that
   * logs out (`onDeleted` runs). Resolves to `false` if there was no
   * session; rejects on a transient failure (the session is kept).
   */
  async delete(did: DidString): Promise<boolean> {
    check('PasswordAgentPool.delete', 'did', did, didRule)
    return this.#logOut(did, this.#live(did) ?? (await this.#loadOnce(did, false)))
  }

  /** Logs `agent` out and forgets it; `false` if there is no live agent (no session). */
  async #logOut(did: DidString, agent: PasswordAgent | undefined): Promise<boolean> {
    if (!agent || agent.destroyed) return false
    await agent.logout()
    this.#forget(did, agent)
    return true
  }

  /** The DIDs of every account with a session in the store (not only those in memory). */
  accounts(): AsyncIterable<DidString> {
    return this.#store.list()
  }

  /** Refuses logins of `key` until `until`; forgets the windows that reopened. */
  #rememberLimit(key: string, until: number): void {
    const now = Date.now()
    for (const [k, at] of this.#loginLimited) if (at <= now) this.#loginLimited.delete(k)
    this.#loginLimited.set(key, until)
  }

  /** The living agent of `did` this pool made, if any (in memory, or dropped but still held). */
  #live(did: DidString): PasswordAgent | undefined {
    const agent = this.#kept.get(did) ?? this.#made.get(did)?.deref()
    if (!agent?.destroyed) return agent
    this.#forget(did, agent)
    return undefined
  }

  /** {@link #load}, shared with every caller that comes while it runs. */
  #loadOnce(did: DidString, keep: boolean): Promise<PasswordAgent | undefined> {
    let loading = this.#loading.get(did)
    if (!loading) {
      const load = this.#load(did, keep)
      loading = load
      this.#loading.set(did, load)
      const done = () => {
        if (this.#loading.get(did) === load) this.#loading.delete(did)
      }
      load.then(done, done)
    }
    return loading
  }

  /** Builds the agent of `did` from its stored session (kept in memory or only tracked); `undefined` if there is none. */
  async #load(did: DidString, keep: boolean): Promise<PasswordAgent | undefined> {
    const account = this.#store.account(did)
    const saved = await account.get()
    if (saved === undefined) return undefined
    assertSession(saved, 'PasswordAgentPool.get', 'stored session')
    if (saved.data.did !== did) {
      throw new SessionMismatchError(`the store's entry for ${did} holds the session of ${saved.data.did}`)
    }
    // A login of this account may have finished during the read.
    const live = this.#live(did)
    if (live) return live
    const agent = new PasswordAgent(saved, { ...this.#options, store: account })
    return keep ? this.#add(did, agent) : this.#track(did, agent)
  }

  /** A new agent: tracked, and kept in memory. */
  #add(did: DidString, agent: PasswordAgent): PasswordAgent {
    return this.#keep(did, this.#track(did, agent))
  }

  /** Remembers `agent` (weakly) as `did`'s, so it is handed out again while anyone holds it. */
  #track(did: DidString, agent: PasswordAgent): PasswordAgent {
    const ref = new WeakRef(agent)
    this.#made.set(did, ref)
    this.#collected.register(agent, { did, ref }, ref)
    return agent
  }

  /** Marks `agent` most recently used; drops the least recently used past `max`. */
  #keep(did: DidString, agent: PasswordAgent): PasswordAgent {
    this.#kept.delete(did)
    this.#kept.set(did, agent)
    for (const oldest of this.#kept.keys()) {
      if (this.#kept.size <= this.#max) break
      this.#kept.delete(oldest)
    }
    return agent
  }

  /** Forgets a destroyed agent. */
  #forget(did: DidString, agent: PasswordAgent): void {
    if (this.#kept.get(did) === agent) this.#kept.delete(did)
    const ref = this.#made.get(did)
    if (ref?.deref() === agent) {
      this.#made.delete(did)
      this.#collected.unregister(ref)
    }
  }
}

/** An identifier as createSession limits count it: as login sends it ({@link withoutAt}), lower case. */
const identifierKey = (identifier: string) => withoutAt(identifier).toLowerCase()

/** The refusal of a login the server's 429 still covers, made here (no request): as the server's, with `Retry-After`. */
function rateLimitedLogin(identifier: string, until: number): LoginResult {
  const at = new Date(until)
  const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000))
  const response = new Response(null, {
    status: 429,
    headers: { 'retry-after': String(seconds), 'ratelimit-reset': String(Math.ceil(until / 1000)) },
  })
  const name = withoutAt(identifier)
  // Named by handle or DID, never by email (as the agent's errors do).
  const message = `createSession for ${name.includes('@') ? 'this account' : name} was rate limited by the server: retry after ${at.toISOString()} (in ${seconds} s); no request was sent`
  return new RateLimitedError(createSession, response, {
    encoding: 'application/json',
    body: { error: 'RateLimitExceeded', message },
  }) as unknown as LoginResult
}
