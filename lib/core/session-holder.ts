import { XrpcResponseError, xrpcSafe, type Agent, type XrpcFailure } from '@atproto/lex-client'
import { InvalidSessionResponseError, LoggedOutError, rateLimitReset, SessionAnswerTooLargeError, SessionMismatchError, SessionTimeoutError, withoutPayload } from './errors.ts'
import { globalFetch, type FetchLike } from './fetch.ts'
import type { HookName, SessionHooks } from './hooks.ts'
import { deleteSession, getSession, refreshSession } from './lexicons.ts'
import { limitBody } from './limit-body.ts'
import { assertSession, isJwtShaped, pdsEndpoint, type Session, type SessionData } from './session.ts'
import { isNewerSession, type SessionLock, type SessionStore } from './session-store.ts'

/** What the middlewares need from a session: read it, and ask for a newer one. */
export interface SessionSource {
  /**
   * The current session. Waits while a refresh or logout is in progress
   * (including its hooks); rejects with {@link LoggedOutError} once destroyed.
   */
  current(): Promise<Session>
  /**
   * A session newer than `seen`. Refreshes only if `seen` still holds the
   * newest tokens (single flight: concurrent callers share one refreshSession);
   * rejects if no newer session can be had.
   */
  refresh(seen?: Session): Promise<Session>
  /**
   * Optional fast path: the session `current()` would resolve to at once (no
   * refresh or logout running), else `undefined`. Middlewares use it to skip
   * a microtask per request and fall back to `current()`.
   */
  peek?(): Session | undefined
}

export type SessionHolderOptions = {
  /** Terminal fetch for refreshSession / getSession / deleteSession (default: global fetch). */
  fetch?: FetchLike
  hooks?: SessionHooks<any>
  /** `this` for the hooks (the agent). */
  thisArg?: unknown
  /** Give up on a refresh or logout after this many ms (default 30 000). */
  timeoutMs?: number
  /** Most bytes read from one session answer (default {@link MAX_SESSION_ANSWER_BYTES}). */
  maxAnswerBytes?: number
  /**
   * After a transient refresh failure, automatic refreshes (from requests) are
   * not retried for this long, doubling per consecutive failure up to
   * `maxMs` (default `{ minMs: 1000, maxMs: 60_000 }`). `refresh()` called
   * without a `seen` session (e.g. `agent.refresh()`) always tries.
   */
  backoff?: { minMs?: number; maxMs?: number }
  /**
   * Shared storage for the session. Under `lock`, a refresh first re-reads it
   * and adopts a session another process already rotated; new sessions are
   * written before they are used.
   */
  store?: SessionStore
  /** Cross-process lock (default: `store.lock`, else none). */
  lock?: SessionLock
}

/**
 * Default most bytes read from one session answer. A session with its DID
 * document is a few KiB; the limit only has to stop a hostile or broken server
 * from filling memory.
 */
export const MAX_SESSION_ANSWER_BYTES = 1024 * 1024

/** Server answers that end a session for good (anything else is transient). */
const DEFINITIVE_ERRORS = new Set(['ExpiredToken', 'InvalidToken', 'AccountTakedown'])

/**
 * True only for a well-formed 400/401 XRPC answer whose error code says the
 * token is dead. A 5xx carrying the same code, a proxy's HTML page or a
 * network fault is never definitive.
 */
export function isDefinitiveRefusal(error: unknown): boolean {
  return (
    error instanceof XrpcResponseError &&
    (error.status === 400 || error.status === 401) &&
    DEFINITIVE_ERRORS.has(error.error)
  )
}

/**
 * The one piece of shared mutable state: the current session. Refresh and
 * logout are serialised; concurrent refreshes collapse into one request; a
 * session only ever moves forward.
 */
export class SessionHolder implements SessionSource {
  #session: Session | null
  /** The running refresh or logout; readers wait for it. */
  #busy: Promise<unknown> | null = null
  /** The running refresh, settling after its deferred hooks (what every sharer gets). */
  #refreshing: Promise<Session> | null = null
  readonly #fetch: FetchLike
  readonly #hooks: SessionHooks<any>
  readonly #thisArg: unknown
  readonly #timeoutMs: number
  readonly #service: Agent
  readonly #backoff: { minMs: number; maxMs: number }
  /** Transient failures in a row, the last one, and when automatic refreshes may try again. */
  #failures = 0
  #lastFailure: Error | null = null
  #retryAt = 0
  readonly #store: SessionStore | undefined
  readonly #lock: SessionLock

  constructor(session: Session, options: SessionHolderOptions = {}) {
    this.#session = session
    this.#fetch = options.fetch ?? globalFetch
    this.#hooks = options.hooks ?? {}
    this.#thisArg = options.thisArg ?? this
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#backoff = { minMs: 1000, maxMs: 60_000, ...options.backoff }
    this.#store = options.store
    this.#lock = options.lock ?? options.store?.lock ?? ((_key, fn) => fn())
    this.#service = serviceAgent(session.service, this.#fetch, options.maxAnswerBytes)
  }

  /** The current session without waiting, or `null` once destroyed. */
  get session(): Session | null {
    return this.#session
  }

  get destroyed(): boolean {
    return this.#session === null
  }

  peek(): Session | undefined {
    return this.#busy ? undefined : (this.#session ?? undefined)
  }

  async current(): Promise<Session> {
    while (this.#busy) await this.#busy.catch(() => {})
    if (!this.#session) throw new LoggedOutError()
    return this.#session
  }

  refresh(seen?: Session): Promise<Session> {
    if (this.#refreshing) return this.#refreshing
    const current = this.#session
    if (!current) return Promise.reject(new LoggedOutError())
    // No refresh storm while the entryway is down: requests that saw the
    // current tokens get the last failure (a newer session is theirs at once).
    if (seen && this.#lastFailure && Date.now() < this.#retryAt && !this.#busy) {
      return seen.data.accessJwt === current.data.accessJwt ? Promise.reject(this.#lastFailure) : Promise.resolve(current)
    }
    const after: Deferred = []
    const run = this.#exclusive(() => this.#locked(() => this.#doRefresh(seen, after)))
    // Sharers settle with the first caller, once onRefreshFailure / onDeleted
    // ran. It stops being shared as soon as `run` settles, before those hooks
    // start (`clear` is registered first): a hook calling refresh() starts a
    // new one instead of waiting for itself.
    const clear = () => {
      if (this.#refreshing === done) this.#refreshing = null
    }
    run.then(clear, clear)
    const done = this.#thenHooks(run, after)
    this.#refreshing = done
    return done
  }

  /** Deletes the session on the server. Resolves once it is gone (idempotent). */
  logout(): Promise<void> {
    const after: Deferred = []
    return this.#thenHooks(
      this.#exclusive(() => this.#locked(() => this.#doLogout(after))),
      after,
    )
  }

  /**
   * Settles like `run`, after running the hooks `run` deferred. Failure and
   * deletion hooks run once the refresh/logout is over (requests no longer
   * wait for it), so a hook may call `refresh()` or `logout()` again without
   * waiting on itself.
   */
  #thenHooks<T>(run: Promise<T>, after: Deferred): Promise<T> {
    const hooks = async () => {
      for (const hook of after.splice(0)) await hook()
    }
    return run.then(
      async (value) => (await hooks(), value),
      async (err: unknown) => {
        await hooks()
        throw err
      },
    )
  }

  /**
   * Runs the hooks for a session the server just issued outside a refresh
   * (login): `onWarning` if its DID document was refused, then `onRefreshed`.
   */
  async announce(warning?: string): Promise<void> {
    if (warning) await this.#runHook('onWarning', warning)
    if (!this.#session) return
    await this.#persist(this.#session)
    await this.#runHook('onRefreshed', this.#session)
  }

  /**
   * Adopts the store's session if it is a newer generation of this account
   * (another process refreshed it), running `onRefreshed`. A failed read or a
   * malformed entry is reported through `onWarning`, never thrown.
   */
  syncFromStore(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#session) await this.#adoptFromStore(this.#session)
    })
  }

  /** Runs `op` after the running refresh/logout; readers wait for the newest one. */
  #exclusive<T>(op: () => Promise<T>): Promise<T> {
    const prev = this.#busy
    const run = prev ? prev.then(op, op) : op()
    this.#busy = run
    const clear = () => {
      if (this.#busy === run) this.#busy = null
    }
    run.then(clear, clear)
    return run
  }

  /** Runs a refresh/logout under the cross-process lock, keyed by the account. */
  #locked<T>(op: () => Promise<T>): Promise<T> {
    const did = this.#session?.data.did
    return did ? this.#lock(`lex-password-agent:${did}`, op) : op()
  }

  /**
   * Adopts a newer session from the store (another process refreshed it).
   * Returns it, or `undefined` when ours is the newest.
   */
  async #adoptFromStore(session: Session): Promise<Session | undefined> {
    if (!this.#store) return undefined
    let stored: Session | undefined
    try {
      stored = await this.#store.get()
    } catch (err) {
      await this.#runHook('onWarning', `could not read the session store (${errorText(err)})`)
      return undefined
    }
    if (stored == null) return undefined
    try {
      // A custom store may hand back anything; never adopt (and send) malformed tokens.
      assertSession(stored, 'stored session')
    } catch (err) {
      await this.#runHook('onWarning', `the session store holds something that is not a valid Session; ignoring it (${errorText(err)})`)
      return undefined
    }
    if (stored.data.did !== session.data.did || !isNewerSession(stored, session)) return undefined
    this.#session = stored
    this.#failures = 0
    this.#lastFailure = null
    await this.#runHook('onRefreshed', stored)
    return stored
  }

  /** Writes a new session before it is used; on failure keeps it in memory and says so. */
  async #persist(session: Session): Promise<void> {
    try {
      await this.#store?.set(session)
    } catch (err) {
      await this.#runHook('onWarning', `could not save the session; keeping it in memory (${errorText(err)})`)
    }
  }

  async #doRefresh(seen: Session | undefined, after: Deferred): Promise<Session> {
    const session = this.#session
    if (!session) throw new LoggedOutError()
    // By access token, not generation (isNewerSession): the caller needs a token
    // other than the one it was refused, and a refresh within the same second
    // can hand back the very same access JWT.
    if (seen && seen.data.accessJwt !== session.data.accessJwt) return session
    const adopted = await this.#adoptFromStore(session)
    if (adopted) return adopted

    // One deadline for the refresh and its getSession backfill.
    const deadline = AbortSignal.timeout(this.#timeoutMs)
    let res = await this.#call((signal) =>
      xrpcSafe(this.#service, refreshSession, {
        headers: { authorization: `Bearer ${session.data.refreshJwt}` },
        signal,
      }),
      deadline,
    )
    if (!(res instanceof Error) && res.success && !hasJwtTokens(res.body)) res = new InvalidSessionResponseError(200)
    if (res instanceof Error || !res.success) {
      if (isDefinitiveRefusal(res)) {
        // Without a lock, another process may have rotated this generation
        // first: its newer session in the store is alive, ours is not.
        const newer = await this.#adoptFromStore(session)
        if (newer) return newer
        await this.#end(session, after)
        throw res
      }
      this.#failures++
      const delay = Math.min(this.#backoff.maxMs, this.#backoff.minMs * 2 ** (this.#failures - 1))
      this.#retryAt = Date.now() + delay * (0.75 + Math.random() * 0.5)
      // A 429 says when the window reopens: never retry into a closed one.
      const reset = res instanceof XrpcResponseError && res.status === 429 ? rateLimitReset(res.headers) : undefined
      if (reset) this.#retryAt = Math.max(this.#retryAt, reset.getTime())
      const error = withoutPayload(res)
      this.#lastFailure = error
      after.push(() => this.#runHook('onRefreshFailure', session, error))
      throw error
    }
    this.#failures = 0
    this.#lastFailure = null

    const data: SessionData = { ...res.body }
    if (data.did !== session.data.did) {
      await this.#end(session, after)
      throw new SessionMismatchError('refreshSession answered for another DID')
    }
    // Some servers leave didDoc / email out of refreshSession though createSession
    // had them; getSession has them. (A server that never sends them costs nothing.)
    if ((data.didDoc == null && session.data.didDoc != null) || (data.emailConfirmed == null && session.data.emailConfirmed != null)) {
      const extra = await this.#call((signal) =>
        xrpcSafe(this.#service, getSession, {
          headers: { authorization: `Bearer ${data.accessJwt}` },
          signal,
        }),
        deadline,
      )
      if (!(extra instanceof Error) && extra.success && extra.body.did === data.did) {
        Object.assign(data, extra.body, { accessJwt: data.accessJwt, refreshJwt: data.refreshJwt })
      }
    }
    const { session: next, warning } = sessionFromServer(data, session.service, session.pdsUrl)
    await this.#persist(next)
    this.#session = next
    if (warning) await this.#runHook('onWarning', warning)
    await this.#runHook('onRefreshed', next)
    return next
  }

  async #doLogout(after: Deferred): Promise<void> {
    if (!this.#session) return
    // Revoke the newest generation, even if another process rotated it.
    const session = (await this.#adoptFromStore(this.#session)) ?? this.#session
    const res = await this.#call((signal) =>
      xrpcSafe(this.#service, deleteSession, {
        headers: { authorization: `Bearer ${session.data.refreshJwt}` },
        signal,
      }),
    )
    if ((!(res instanceof Error) && res.success) || isDefinitiveRefusal(res)) {
      await this.#end(session, after)
      return
    }
    const error = withoutPayload(res)
    after.push(() => this.#runHook('onDeleteFailure', session, error))
    throw error
  }

  /** Destroys the session now; `onDeleted` runs once the operation is over. */
  async #end(session: Session, after: Deferred): Promise<void> {
    this.#session = null
    try {
      // Remove it from the store only if it still holds this generation (of this account).
      const stored = await this.#store?.get()
      if (stored && stored.data?.did === session.data.did && !isNewerSession(stored, session)) await this.#store!.delete()
    } catch (err) {
      await this.#runHook('onWarning', `could not remove the session from the store (${errorText(err)})`)
    }
    after.push(() => this.#runHook('onDeleted', session))
  }

  /**
   * A session call bounded by the timeout (or by the operation's `signal`).
   * Never throws: a fault or a timeout comes back as an Error, which callers
   * treat as transient.
   */
  async #call<T>(call: (signal: AbortSignal) => Promise<T>, signal = AbortSignal.timeout(this.#timeoutMs)): Promise<T | Error> {
    try {
      const res = await call(signal)
      if (signal.aborted && typeof res === 'object' && res && 'success' in res && !res.success) {
        return new SessionTimeoutError(`session call timed out after ${this.#timeoutMs} ms`)
      }
      return res
    } catch (err) {
      if (signal.aborted) {
        return new SessionTimeoutError(`session call timed out after ${this.#timeoutMs} ms`)
      }
      return err instanceof Error ? err : new Error('session call failed', { cause: err })
    }
  }

  async #runHook(name: HookName, ...args: unknown[]): Promise<void> {
    const hook = this.#hooks[name] as ((...a: unknown[]) => unknown) | undefined
    if (!hook) return
    try {
      await this.#bounded(name, () => hook.apply(this.#thisArg, args))
    } catch (err) {
      try {
        const report = this.#hooks.onHookError
        if (report) await this.#bounded('onHookError', () => report.call(this.#thisArg, err, name))
        else console.error(`lex-password-agent: the ${name} hook failed`, err)
      } catch {
        // A failing (or hanging) error reporter must not break the session either.
      }
    }
  }

  /**
   * Calls a hook and waits for it at most the timeout: requests (and logout)
   * wait for hooks, so one that never settles would stall the agent for good.
   * After that it is reported as a {@link SessionTimeoutError} and left running.
   */
  #bounded(name: string, call: () => unknown): unknown {
    const result = call()
    if (!(typeof result === 'object' || typeof result === 'function') || result === null || typeof (result as PromiseLike<unknown>).then !== 'function') {
      return result
    }
    const run = Promise.resolve(result)
    run.catch(() => {}) // rejecting after we stopped waiting: nobody to tell
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new SessionTimeoutError(`the ${name} hook did not settle within ${this.#timeoutMs} ms; no longer waiting for it`)),
        this.#timeoutMs,
      )
    })
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer))
  }
}

/**
 * A lex-client Agent for the session methods on `service`. They carry a
 * password or a token, so they go there and nowhere else: no redirects. An
 * answer larger than `maxBytes` is not read (see {@link limitBody}); lex-client
 * hands the {@link SessionAnswerTooLargeError} back wrapped, and
 * `withoutPayload` unwraps it.
 */
export function serviceAgent(service: string, fetch: FetchLike, maxBytes = MAX_SESSION_ANSWER_BYTES): Agent {
  return {
    fetchHandler: async (path, init) => {
      const res = await fetch(new URL(path, service), { ...init, redirect: 'error' })
      return limitBody(res, maxBytes, () => new SessionAnswerTooLargeError(res.status, maxBytes))
    },
  }
}

/**
 * Whether a session answer's tokens are JWT-shaped, as a saved Session's must
 * be. The schema only says "string": an empty, opaque or multi-line token
 * would be saved (and then refused by `resume`) or end up quoted in a
 * `Headers` TypeError when sent.
 */
export function hasJwtTokens(data: { accessJwt: unknown; refreshJwt: unknown }): boolean {
  return isJwtShaped(data.accessJwt) && isJwtShaped(data.refreshJwt)
}

/** Hooks an operation runs after it is over (see `#thenHooks`). */
type Deferred = (() => Promise<void>)[]

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err))

/**
 * Builds a {@link Session} from a createSession / refreshSession answer. Routes
 * to the DID document's PDS when it passes the checks; with no DID document
 * the previous `pdsUrl` is kept, so routing survives servers that omit it.
 */
export function sessionFromServer(
  data: SessionData,
  service: string,
  previousPdsUrl: string | null,
): { session: Session; warning?: string } {
  let pdsUrl = previousPdsUrl
  let warning: string | undefined
  if (data.didDoc != null) {
    const endpoint = pdsEndpoint(data.didDoc, data.did)
    pdsUrl = endpoint.url
    if (endpoint.warning) warning = `${endpoint.warning}; requests go to the service URL`
  }
  return { session: { data, refreshedAt: new Date().toISOString(), pdsUrl, service }, warning }
}
