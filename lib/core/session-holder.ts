import { Backoff } from './backoff.ts'
import { LoggedOutError, SessionMismatchError } from './errors.ts'
import { globalFetch } from './fetch.ts'
import { HookRunner } from './hook-runner.ts'
import { accessTokenExpiry } from './jwt.ts'
import { failed, ok, settle, type Hook, type Outcome } from './outcome.ts'
import { HttpSessionApi, isDefinitiveRefusal, type SessionApi } from './session-api.ts'
import type { Session } from './session.ts'
import type { SessionSource } from './session-source.ts'
import type { SessionHolderOptions } from './session-holder-options.ts'
import type { SessionLock } from './session-store.ts'
import { StoreSync } from './store-sync.ts'
import type { BackoffOptions } from './backoff.ts'
import type { FetchLike } from './fetch.ts'
import type { HookName, SessionHooks } from './hooks.ts'
import type { SessionStore } from './session-store.ts'

export type { SessionSource } from './session-source.ts'
export type { SessionHolderOptions } from './session-holder-options.ts'

/** Each running refresh's operation (keyed by the promise its sharers get): while it alone is busy, a lent session may be used. */
const refreshRuns = new WeakMap<Promise<Session>, Promise<unknown>>()
/**
 * The session each holder lends while a refresh goes on ({@link SessionHolder.useDuringRefresh}),
 * with that refresh's operation. Kept here, not in a field: an idle holder pays nothing for it.
 */
const lentBy = new WeakMap<SessionHolder, { run: Promise<unknown>; session: Session }>()

/** The hooks of a holder given none (shared). */
const NO_HOOKS: SessionHooks<unknown> = Object.freeze({})
/** The lock of a holder given none and no store with one: runs the operation at once (shared). */
const NO_LOCK: SessionLock = (_key, fn) => fn()

/**
 * The one piece of shared mutable state: the current session. Refresh and
 * logout are serialised; concurrent refreshes collapse into one request; a
 * session only ever moves forward.
 */
export class SessionHolder implements SessionSource {
  #session: Session | null
  /** The running refresh or logout; readers wait for it. */
  #busy: Promise<unknown> | null = null
  /** The running refresh, settling after its hook (what every sharer gets). */
  #refreshing: Promise<Session> | null = null
  // An idle holder keeps only what it was given: the server-call client, the
  // backoff state, the hook runner and the store sync are made when first
  // needed (thousands of idle agents in one process each pay for none of them).
  /** The server calls: `options.api`, else an `HttpSessionApi` made on first use. */
  #api: SessionApi | undefined
  /** For that `HttpSessionApi`: the first session's service, the fetch and the answer limit. */
  readonly #service: string
  readonly #fetch: FetchLike
  readonly #maxAnswerBytes: number | undefined
  readonly #timeoutMs: number
  readonly #hooks: SessionHooks<unknown>
  readonly #thisArg: unknown
  readonly #backoffOptions: BackoffOptions | undefined
  /** Made at the first transient failure; none means no failure to wait after. */
  #backoff: Backoff | undefined
  readonly #store: SessionStore | undefined
  readonly #lock: SessionLock
  readonly #unsubscribe: (() => void) | undefined

  constructor(session: Session, options: SessionHolderOptions = {}) {
    this.#session = session
    this.#api = options.api
    this.#service = session.service
    this.#fetch = options.fetch ?? globalFetch
    this.#maxAnswerBytes = options.maxAnswerBytes
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#hooks = options.hooks ?? NO_HOOKS
    this.#thisArg = options.thisArg ?? this
    // Read now, as the options are everywhere else (the object may change later).
    const backoff = options.backoff
    this.#backoffOptions = backoff && { minMs: backoff.minMs, maxMs: backoff.maxMs }
    this.#store = options.store
    this.#lock = options.lock ?? options.store?.lock ?? NO_LOCK
    // A store that reports changes (another tab's refresh or logout) is followed at once.
    this.#unsubscribe = options.store?.subscribe?.(() => void this.syncFromStore())
  }

  /** Runs a hook (see `HookRunner`: bounded, never rejects). */
  #hook(name: HookName, ...args: unknown[]): Promise<void> {
    return new HookRunner<unknown>(this.#hooks, this.#thisArg, this.#timeoutMs).run(name, ...args)
  }

  /** The store's reads and writes (a no-op without a store), warning through `onWarning`. */
  get #sync(): StoreSync {
    return new StoreSync(this.#store, (message) => this.#hook('onWarning', message))
  }

  get #server(): SessionApi {
    return (this.#api ??= new HttpSessionApi(this.#service, {
      fetch: this.#fetch,
      timeoutMs: this.#timeoutMs,
      maxAnswerBytes: this.#maxAnswerBytes,
    }))
  }

  /** The current session without waiting, or `null` once destroyed. */
  get session(): Session | null {
    return this.#session
  }

  /** Whether the session ended (logout, or the server refused it): every request then throws `LoggedOutError`. */
  get destroyed(): boolean {
    return this.#session === null
  }

  peek(): Session | undefined {
    if (!this.#busy) return this.#session ?? undefined
    return this.#lentNow()
  }

  async current(): Promise<Session> {
    while (this.#busy) {
      const lent = this.#lentNow()
      if (lent) return lent
      await this.#busy.catch(() => {})
    }
    if (!this.#session) throw new LoggedOutError()
    return this.#session
  }

  useDuringRefresh(session: Session): void {
    const run = this.#refreshing && refreshRuns.get(this.#refreshing)
    if (run && run === this.#busy && session === this.#session) lentBy.set(this, { run, session })
  }

  /**
   * The lent session, while the refresh it was lent during is the only
   * operation running, it is still the current session, and its access token
   * has not expired; else `undefined`.
   */
  #lentNow(): Session | undefined {
    const lending = lentBy.get(this)
    const lent = lending?.session
    if (!lent || lent !== this.#session || this.#busy !== lending.run) return undefined
    const expiry = accessTokenExpiry(lent)
    return expiry && Date.now() < expiry.expiresAt ? lent : undefined
  }

  refresh(seen?: Session): Promise<Session> {
    if (this.#refreshing) return this.#refreshing
    const current = this.#session
    if (!current) return Promise.reject(new LoggedOutError())
    // No refresh storm while the entryway is down: requests that saw the
    // current tokens get the last failure (a newer session is theirs at once).
    const failure = seen && !this.#busy ? this.#backoff?.blocking : undefined
    if (seen && failure)
      return seen.data.accessJwt === current.data.accessJwt ? Promise.reject(failure) : Promise.resolve(current)
    const run = this.#exclusive(() => this.#locked(() => this.#doRefresh(seen)))
    // Sharers settle with the first caller, once onRefreshFailure / onDeleted
    // ran. It stops being shared as soon as `run` settles, before that hook
    // starts (`clear` is registered first): a hook calling refresh() starts a
    // new one instead of waiting for itself.
    const clear = () => {
      if (this.#refreshing === done) this.#refreshing = null
      if (lentBy.get(this)?.run === run) lentBy.delete(this)
    }
    run.then(clear, clear)
    const done = settle(run)
    this.#refreshing = done
    refreshRuns.set(done, run)
    return done
  }

  /** Deletes the session on the server. Resolves once it is gone (idempotent). */
  logout(): Promise<void> {
    return settle(this.#exclusive(() => this.#locked(() => this.#doLogout())))
  }

  /**
   * Runs the hooks for a session the server just issued outside a refresh
   * (login): `onWarning` if its DID document was refused, then `onRefreshed`.
   */
  async announce(warning?: string): Promise<void> {
    if (warning) await this.#hook('onWarning', warning)
    if (!this.#session) return
    await this.#sync.save(this.#session)
    await this.#hook('onRefreshed', this.#session)
  }

  /**
   * Adopts the store's session if it is a newer generation of this account
   * (another process refreshed it), running `onRefreshed`; ends the session
   * (`onDeleted`) if the store marks the account logged out. A failed read or
   * a malformed entry is reported through `onWarning`, never thrown.
   */
  syncFromStore(): Promise<void> {
    return settle(
      this.#exclusive(async () => {
        const session = this.#session
        const ended = session && (await this.#adoptFromStore(session)) === null
        return ok(undefined, ended ? await this.#end(session) : undefined)
      }),
    )
  }

  async #doRefresh(seen: Session | undefined): Promise<Outcome<Session>> {
    const session = this.#session
    if (!session) return failed(new LoggedOutError())
    // By access token, not generation (isNewerSession): the caller needs a token
    // other than the one it was refused, and a refresh within the same second
    // can hand back the very same access JWT.
    if (seen && seen.data.accessJwt !== session.data.accessJwt) return ok(session)
    const adopted = await this.#adoptFromStore(session)
    if (adopted) return ok(adopted)
    if (adopted === null) return failed(new LoggedOutError(), await this.#end(session))

    const issued = await this.#server.refreshSession(session)
    if (issued instanceof Error) {
      if (!isDefinitiveRefusal(issued)) {
        ;(this.#backoff ??= new Backoff(this.#backoffOptions)).failed(issued)
        return failed(issued, () => this.#hook('onRefreshFailure', session, issued))
      }
      // Without a lock, another process may have rotated this generation
      // first: its newer session in the store is alive, ours is not.
      const newer = await this.#adoptFromStore(session)
      return newer ? ok(newer) : failed(issued, await this.#end(session))
    }
    this.#backoff?.reset()
    const { session: next, warning } = issued
    if (next.data.did !== session.data.did) {
      const onDeleted = await this.#end(session)
      const message = `refreshSession at ${session.service} answered for ${next.data.did}, not ${session.data.did}: log in again with the password`
      return failed(new SessionMismatchError(message), onDeleted)
    }
    await this.#sync.save(next)
    this.#session = next
    if (warning) await this.#hook('onWarning', warning)
    await this.#hook('onRefreshed', next)
    return ok(next)
  }

  async #doLogout(): Promise<Outcome<void>> {
    if (!this.#session) return ok(undefined)
    // Revoke the newest generation, even if another process rotated it.
    const session = (await this.#adoptFromStore(this.#session)) ?? this.#session
    const error = await this.#server.deleteSession(session)
    if (!error || isDefinitiveRefusal(error)) return ok(undefined, await this.#end(session))
    return failed(error, () => this.#hook('onDeleteFailure', session, error))
  }

  /** Destroys the session now; returns its `onDeleted`, to run once the operation is over. */
  async #end(session: Session): Promise<Hook> {
    this.#session = null
    this.#unsubscribe?.()
    await this.#sync.remove(session)
    return () => this.#hook('onDeleted', session)
  }

  /** Adopts a newer session from the store (another process refreshed it), if there is one; `null`: logged out there. */
  async #adoptFromStore(session: Session): Promise<Session | null | undefined> {
    const stored = await this.#sync.newer(session)
    if (!stored) return stored
    this.#session = stored
    this.#backoff?.reset()
    await this.#hook('onRefreshed', stored)
    return stored
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
}
