import { XrpcResponseError, type Agent } from '@atproto/lex-client'
import type { DidString } from '@atproto/lex-schema'
import {
  boolean,
  bytes,
  object,
  check,
  checkOptions,
  fail,
  func,
  nested,
  number,
  oneOf,
  required,
  string,
  type Rule,
  type Rules,
} from './core/check.ts'
import { inputError, LoggedOutError, SessionMismatchError, typedFailure } from './core/errors.ts'
import { globalFetch, type FetchLike } from './core/fetch.ts'
import { HOOK_RULES, type SessionHooks } from './core/hooks.ts'
import { createAccount, createSession } from './core/lexicons.ts'
import { authHeaderStep } from '../middleware/auth-header.ts'
import type { Next } from '../middleware/options.ts'
import { refreshOnExpiredStep } from '../middleware/refresh-on-expired.ts'
import { routeToPdsStep } from '../middleware/route-to-pds.ts'
import {
  DEFAULT_REFRESH_AHEAD,
  REFRESH_AHEAD_RULES,
  refreshAheadStep,
  type RefreshAheadOptions,
  type RefreshAheadTiming,
} from '../middleware/refresh-ahead.ts'
import type { BackoffOptions } from './core/backoff.ts'
import { accessTokenExpiry } from './core/jwt.ts'
import { isDefinitiveRefusal, serviceAgent, sessionCall, sessionFromServer } from './core/session-api.ts'
import { SessionHolder } from './core/session-holder.ts'
import { sessionStore, type SessionLock, type SessionStore } from './core/session-store.ts'
import { assertSession, parseHttpUrl, serviceUrl, type Session, type SessionData } from './core/session.ts'

/** Options shared by `login`, `resume`, `delete` and the constructor. */
export type PasswordAgentOptions = {
  /** Session lifecycle callbacks, called with `this` bound to the agent. */
  hooks?: SessionHooks<PasswordAgent>
  /**
   * The fetch every request ends in (default: the global `fetch`, looked up per
   * call). Pass a `pipeline([...])` here to add your own inner middlewares.
   */
  fetch?: FetchLike
  /** Give up on a refresh or logout after this many ms (default 30 000). */
  refreshTimeoutMs?: number
  /**
   * Most bytes read from one answer to createSession, refreshSession,
   * getSession or deleteSession (default 1 MiB). A larger one is not read:
   * it fails as a `SessionAnswerTooLargeError` (an `InvalidSessionResponseError`).
   */
  maxSessionAnswerBytes?: number
  /**
   * After a transient refresh failure, requests do not trigger another refresh
   * for `minMs` (default 1 000), doubling per failure in a row up to `maxMs`
   * (default 60 000). `agent.refresh()` always tries.
   */
  refreshBackoff?: {
    /** The first wait after a failure (default 1 000 ms). */
    minMs?: number
    /** The longest wait (default 60 000 ms). */
    maxMs?: number
  }
  /**
   * Refresh before the access token expires (read from its `exp`), so requests
   * at expiry cost no `ExpiredToken` round trip. Default on (60 s margin + up
   * to 30 s jitter); `false` leaves only the reactive refresh.
   */
  refreshAhead?: false | Omit<RefreshAheadOptions, 'session'>
  /**
   * Shared session storage (see `MemorySessionStore`, `FileSessionStore`):
   * every new session is written to it before use, and a refresh first adopts
   * a newer session another process saved there.
   */
  store?: SessionStore
  /** Cross-process lock around refresh and logout (default: `store.lock`). */
  lock?: SessionLock
}

/** The options of `PasswordAgent.resume`: the shared ones, and when to refresh. */
export type ResumeOptions = PasswordAgentOptions & {
  /**
   * `'always'` (default, as upstream): refresh before returning, which proves
   * the session is alive. `'if-expired'`: no network call while the access
   * token is fresh (by its `exp`); a revoked session is then only noticed on
   * the first request (which gets `onDeleted` through the usual refresh).
   */
  refresh?: 'always' | 'if-expired'
}

/**
 * Finds the service to log in to from the identifier, for `login` without
 * `service`: `discoverService` from `lex-password-agent/discovery` (handle or
 * DID → the account's PDS), or your own. Called with the `discovery` option's
 * fields and the login's `fetch`; resolves to `{ service }` (more fields are
 * ignored).
 */
export type ServiceResolver = (
  identifier: string,
  options: ServiceResolverOptions,
) => Promise<{
  /** The service to log in to (checked like the `service` option). */
  service: string | URL
}>

/** What `login` hands its `resolveService`: the `discovery` option and `fetch`. */
export type ServiceResolverOptions = {
  /** The login's `fetch` option (default: the global `fetch`). */
  fetch: FetchLike
  /** PLC directory for `did:plc` documents (`discoverService`: default `https://plc.directory`). */
  plcDirectoryUrl?: string | URL
  /** DNS TXT lookup for `_atproto.<handle>`, `null` when there is none (`discoverService`: default `node:dns` where it exists). */
  resolveTxt?: (hostname: string) => Promise<string[] | null>
}

/** The options of `PasswordAgent.login` (and `resumeOrLogin`): the shared ones, and the credentials. */
export type LoginOptions = PasswordAgentOptions & {
  /**
   * The service (PDS or entryway) to log in to, e.g. `https://bsky.social`.
   * Required unless `resolveService` is given.
   */
  service?: string | URL
  /** Handle, email or DID. */
  identifier: string
  /** Account password or, better, an app password. */
  password: string
  /** The code from the 2FA email, after a first `AuthFactorTokenRequired` answer. */
  authFactorToken?: string
  /** Let a taken-down account log in (e.g. to export its data). */
  allowTakendown?: boolean
  /**
   * Finds the service from `identifier` when `service` is left out, e.g.
   * `discoverService` from `lex-password-agent/discovery`.
   */
  resolveService?: ServiceResolver
  /** Options for `resolveService` (PLC directory, DNS), when `service` is left out. */
  discovery?: Omit<ServiceResolverOptions, 'fetch'>
}

/**
 * What `login` resolves to: the agent, or the server's expected refusal
 * (`AuthenticationRequired`, `AuthFactorTokenRequired`, `AccountTakedown`,
 * `RateLimitExceeded`, …) as lex-client's `XrpcResponseError`.
 */
export type LoginResult =
  | {
      /** Logged in. */
      success: true
      /** The agent, with the new session. */
      value: PasswordAgent
    }
  | XrpcResponseError<typeof createSession>

/**
 * An authenticated AT Protocol agent backed by a password session.
 *
 * It implements lex-client's `Agent` (`new Client(agent)`), and is nothing more
 * than a preset pipeline, `refreshAhead → refreshOnExpired → routeToPds →
 * authHeader → fetch`, around a {@link SessionHolder}.
 */
export class PasswordAgent implements Agent {
  /** The session state the middlewares share; use it to build custom stacks. */
  readonly sessionHolder: SessionHolder
  readonly #did: DidString
  /** The preset's state, handed down its chain of shared middleware steps (see {@link Preset}). */
  readonly #preset: Preset
  /** {@link PasswordAgent.fetch}, bound on first use. */
  #boundFetch: FetchLike | undefined

  /**
   * Wraps an existing session without contacting the server. Prefer
   * {@link PasswordAgent.resume}, which checks the session is still alive.
   */
  constructor(session: Session, options: PasswordAgentOptions = {}) {
    checkAgent('PasswordAgent', session, options)
    this.#did = session.data.did
    this.sessionHolder = new SessionHolder(session, {
      fetch: options.fetch,
      hooks: options.hooks,
      thisArg: this,
      timeoutMs: options.refreshTimeoutMs,
      maxAnswerBytes: options.maxSessionAnswerBytes,
      backoff: options.refreshBackoff,
      store: options.store,
      lock: options.lock,
    })
    this.#preset = new Preset(
      this.sessionHolder,
      refreshAheadTiming(options.refreshAhead),
      options.fetch ?? globalFetch,
    )
  }

  /** The account's DID (stays readable after logout). */
  get did(): DidString {
    return this.#did
  }

  /** The current session. Throws `'Logged out'` once destroyed. */
  get session(): Session {
    const session = this.sessionHolder.session
    if (!session) throw new LoggedOutError()
    return session
  }

  /** True after logout or after the server definitively ended the session. */
  get destroyed(): boolean {
    return this.sessionHolder.destroyed
  }

  /**
   * The hook of lex-client's `Agent` and of @atproto/api's `SessionManager`
   * (`new Agent(passwordAgent)`): `path` is `/xrpc/<nsid>?…`, routed to the
   * PDS. Typed `string` as @atproto/api wants it; anything else is handled as
   * {@link PasswordAgent.fetch} handles it (an absolute URL gets the token only
   * on the session's own origins; another relative URL is a TypeError).
   */
  fetchHandler(path: string, init: RequestInit): Promise<Response> {
    return presetFetch(this.#preset, path, init)
  }

  /**
   * A `fetch` for arbitrary calls: a path (`/xrpc/…`) goes to the PDS; an
   * absolute URL is fetched as is and gets the access token only if it is on
   * the session's own origins. Bound, so `createFetch({ fetch: agent.fetch })`
   * works.
   */
  get fetch(): FetchLike {
    const preset = this.#preset
    return (this.#boundFetch ??= (input, init) => presetFetch(preset, input, init))
  }

  /**
   * Refreshes the tokens now (shared with any refresh already running).
   * Rejects with the server's refusal (a `SessionEndedError`: session deleted,
   * `onDeleted` ran) or the transient fault (session kept, `onRefreshFailure`
   * ran), each naming the service and the account.
   */
  refresh(): Promise<Session> {
    return this.sessionHolder.refresh()
  }

  /**
   * Deletes the session on the server, runs `onDeleted` and destroys the
   * agent. On a transient failure runs `onDeleteFailure`, keeps the session
   * and rejects.
   */
  logout(): Promise<void> {
    return this.sessionHolder.logout()
  }

  /** `await using agent = …`: logs out when the scope ends (unless already logged out). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.destroyed) await this.logout()
  }

  /** No tokens in `JSON.stringify(agent)`; persist `agent.session` instead. */
  toJSON(): {
    /** The account's DID. */
    did: string
    /** Whether the session ended. */
    destroyed: boolean
  } {
    return { did: this.#did, destroyed: this.destroyed }
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `PasswordAgent { did: '${this.#did}', destroyed: ${this.destroyed} }`
  }

  /**
   * Logs in with a password. Resolves to `{ success: true, value: agent }` or
   * to the server's expected refusal (`success: false`, `error`, `message`);
   * throws on unexpected failures (network, 5xx, invalid answer), each with a
   * message that names the service and says what to check.
   * `onRefreshed` runs with the new session before it resolves. A handle may
   * be given with a leading `@` (`@alice.bsky.social`): it is removed.
   */
  static async login(options: LoginOptions): Promise<LoginResult>
  /**
   * Logs in from a credentials URL, `https://<identifier>:<password>@<host>`
   * (percent-encoded, e.g. from an environment variable); `options` adds
   * hooks, fetch, store and the rest.
   *
   * Typed as a rest parameter on purpose: an options object is no match for
   * it by its length, so tsc reports a typo in the object form against that
   * form ("'hook' does not exist in type 'LoginOptions'. Did you mean to write
   * 'hooks'?") instead of "No overload matches this call".
   */
  static async login<U>(
    ...args: [U] extends [string | URL]
      ? [url: U, options?: Omit<LoginOptions, 'service' | 'identifier' | 'password'>]
      : [url: string | URL, options: Omit<LoginOptions, 'service' | 'identifier' | 'password'>, _: never]
  ): Promise<LoginResult>
  static async login(
    input: LoginOptions | string | URL,
    extra?: Omit<LoginOptions, 'service' | 'identifier' | 'password'>,
  ): Promise<LoginResult> {
    const options = typeof input === 'string' || input instanceof URL ? { ...extra, ...parseLoginUrl(input) } : input
    checkLogin('login', options, LOGIN_RULES)
    const { fetch = globalFetch, resolveService, discovery, password, authFactorToken, allowTakendown } = options
    const identifier = withoutAt(options.identifier)
    let service = options.service
    if (service === undefined) {
      service = (await resolveService!(identifier, { ...discovery, fetch }))?.service
      check('login', 'resolveService(…).service', service, serviceUrl)
    }
    return PasswordAgent.#start(
      createSession,
      { identifier, password, authFactorToken, allowTakendown },
      String(service),
      // Errors name the account, but not by its email.
      identifier.includes('@') ? '' : identifier,
      options,
    )
  }

  /**
   * Creates an account and returns an agent for its first session (same
   * result shape as {@link PasswordAgent.login}: expected refusals such as
   * `HandleNotAvailable` or `InvalidInviteCode` come back as `success: false`).
   */
  static async createAccount(
    input: CreateAccountInput,
    options: PasswordAgentOptions & { service: string | URL },
  ): Promise<LoginResult> {
    check('createAccount', 'input', input, nested(CREATE_ACCOUNT_INPUT_RULES))
    checkOptions('createAccount', options, CREATE_ACCOUNT_RULES)
    const handle = withoutAt(input.handle)
    return PasswordAgent.#start(createAccount, { ...input, handle }, String(options.service), handle, options)
  }

  /**
   * Calls createSession / createAccount for `account` (a handle or DID, to
   * name in errors): the agent for its answer, or its typed refusal.
   */
  static async #start(
    method: typeof createSession | typeof createAccount,
    body: object,
    service: string,
    account: string,
    options: PasswordAgentOptions & Record<string, unknown>,
  ): Promise<LoginResult> {
    const res = await sessionCall(
      serviceAgent(service, options.fetch ?? globalFetch, options.maxSessionAnswerBytes),
      method,
      service,
      account,
      { body, timeoutMs: options.refreshTimeoutMs ?? 30_000 },
    )
    if (res instanceof Error) {
      // The server's expected refusals are a result; 5xx answers and faults throw.
      if (res instanceof XrpcResponseError && res.status < 500) return typedFailure(res) as LoginResult
      throw res
    }
    const { session, warning } = sessionFromServer(res as SessionData, service, null)
    const agent = new PasswordAgent(session, agentOptionsOf(options))
    await agent.sessionHolder.announce(warning)
    return { success: true, value: agent }
  }

  /**
   * Restores a saved session and refreshes it. Throws (after `onDeleted`) only
   * if the server definitively refused it: a `SessionEndedError` ("log in
   * again with the password"); on a transient failure `onRefreshFailure` runs
   * and the agent is returned with the saved tokens.
   */
  static async resume(session: Session, options: ResumeOptions = {}): Promise<PasswordAgent> {
    // Before destructuring: `...` would turn a string or number into options.
    checkAgent('resume', session, options, RESUME_RULES)
    const { refresh = 'always', ...agentOptions } = options
    const agent = new PasswordAgent(session, agentOptions)
    // Another process may have rotated it since it was saved.
    await agent.sessionHolder.syncFromStore()
    const expiry = accessTokenExpiry(agent.session)
    if (refresh === 'if-expired' && expiry && expiry.expiresAt > Date.now() + 60_000) return agent
    try {
      await agent.refresh()
    } catch (err) {
      if (agent.destroyed) throw err
    }
    return agent
  }

  /**
   * Restarts without a password round trip when it can: resumes the session
   * saved in `options.store` (no network call while its token is fresh) and
   * logs in with the password only if there is none or the server
   * definitively refused it. Restarts then never spend createSession's rate
   * limit (30 per 5 min, 300 per day).
   */
  static async resumeOrLogin(options: LoginOptions & { store: SessionStore }): Promise<LoginResult> {
    // Everything login needs, checked before the store is even read.
    checkLogin('resumeOrLogin', options, RESUME_OR_LOGIN_RULES)
    const agentOptions = agentOptionsOf(options)
    try {
      const saved = await options.store.get()
      if (saved !== undefined) {
        assertSession(saved, 'resumeOrLogin', 'stored session')
        return { success: true, value: await PasswordAgent.resume(saved, { ...agentOptions, refresh: 'if-expired' }) }
      }
    } catch (err) {
      // A corrupt saved session, or one the server definitively refused (or
      // answered for another DID): log in again. Anything else is transient.
      const dead = err instanceof TypeError || err instanceof SyntaxError || err instanceof SessionMismatchError
      if (!dead && !isDefinitiveRefusal(err)) throw err
    }
    return PasswordAgent.login(options)
  }

  /**
   * Deletes a saved session on the server without resuming it. Throws on a
   * transient failure (the session may still be valid).
   */
  static async delete(session: Session, options: PasswordAgentOptions = {}): Promise<void> {
    checkAgent('delete', session, options)
    await new PasswordAgent(session, options).logout()
  }
}

/**
 * The preset, `refreshAhead → refreshOnExpired → routeToPds → authHeader →
 * fetch`, as one chain of the middlewares' shared steps: each agent holds this
 * one small state object instead of a closure (and its context) per
 * middleware. The steps are the code `refreshAhead(…)`, `refreshOnExpired(…)`,
 * `routeToPds(…)` and `authHeader(…)` run, so the preset behaves as
 * `pipeline([refreshAhead({ session }), refreshOnExpired({ session }),
 * routeToPds({ session }), authHeader({ session })], fetch)` does.
 */
class Preset {
  /** The token whose refresh time was last drawn, and that time (refreshAhead's jitter, drawn once per token). */
  dueFor: Session | undefined = undefined
  dueAt: number | undefined = undefined
  readonly session: SessionHolder
  /** refreshAhead's timing; `undefined` for `refreshAhead: false`. */
  readonly timing: RefreshAheadTiming | undefined
  readonly terminal: FetchLike

  constructor(session: SessionHolder, timing: RefreshAheadTiming | undefined, terminal: FetchLike) {
    this.session = session
    this.timing = timing
    this.terminal = terminal
  }
}

/** The preset's chain, outermost last; `c` is the agent's {@link Preset}. */
const toTerminal: Next<Preset> = (c, input, init) => c.terminal(input, init)
const authStep: Next<Preset> = (c, input, init) => authHeaderStep(c, toTerminal, input, init)
const routeStep: Next<Preset> = (c, input, init) => routeToPdsStep(c, authStep, input, init)
const onExpiredStep: Next<Preset> = (c, input, init) => refreshOnExpiredStep(c, routeStep, input, init)

/** A request through the preset. */
function presetFetch(c: Preset, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  return c.timing === undefined
    ? onExpiredStep(c, input, init)
    : refreshAheadStep(c as Preset & { timing: RefreshAheadTiming }, onExpiredStep, input, init)
}

/** The `refreshAhead` option as timing (defaults filled in, shared when all are defaults); `undefined` for `false`. */
function refreshAheadTiming(option: PasswordAgentOptions['refreshAhead']): RefreshAheadTiming | undefined {
  if (option === false) return undefined
  const { marginMs, jitterMs, streamMarginMs } = option ?? {}
  if (marginMs === undefined && jitterMs === undefined && streamMarginMs === undefined) return DEFAULT_REFRESH_AHEAD
  return {
    marginMs: marginMs ?? DEFAULT_REFRESH_AHEAD.marginMs,
    jitterMs: jitterMs ?? DEFAULT_REFRESH_AHEAD.jitterMs,
    streamMarginMs: streamMarginMs ?? DEFAULT_REFRESH_AHEAD.streamMarginMs,
  }
}

/** The agent's own options out of login-style options (no credentials): the keys of its rules. */
function agentOptionsOf(options: PasswordAgentOptions): PasswordAgentOptions {
  return Object.fromEntries(Object.keys(AGENT_RULES).map((key) => [key, options[key as keyof PasswordAgentOptions]]))
}

/** The input of {@link PasswordAgent.createAccount}. */
type CreateAccountInput = {
  handle: string
  email?: string
  password?: string
  inviteCode?: string
  did?: string
  verificationCode?: string
  verificationPhone?: string
  recoveryKey?: string
  /** A signed PLC operation, for a DID the caller created. */
  plcOp?: unknown
}

/** Any finite number of milliseconds (a wait compared with the clock, not a timer). */
const anyMs = number({ max: Number.MAX_VALUE })
const refreshAheadRule = nested(REFRESH_AHEAD_RULES)

/** The agent's options, each with its bounds; derived from the types, so every documented key is accepted. */
export const AGENT_RULES: Record<keyof PasswordAgentOptions, Rule> = {
  hooks: nested(HOOK_RULES),
  fetch: func,
  refreshTimeoutMs: number({ above: true }),
  maxSessionAnswerBytes: bytes,
  refreshBackoff: nested({ minMs: anyMs, maxMs: anyMs } satisfies Record<keyof BackoffOptions, Rule>),
  refreshAhead: [(v, where, field) => v === false || refreshAheadRule[0](v, where, field), 'be false or an object'],
  store: sessionStore,
  lock: func,
}
const RESUME_RULES: Record<keyof ResumeOptions, Rule> = { ...AGENT_RULES, refresh: oneOf('always', 'if-expired') }
export const LOGIN_RULES: Record<keyof LoginOptions, Rule> = {
  ...AGENT_RULES,
  // Checked before String(): an object's toString could throw or say anything.
  service: serviceUrl,
  identifier: required(string),
  password: required(string),
  authFactorToken: string,
  allowTakendown: boolean,
  resolveService: func,
  // What login hands the resolver besides `fetch`.
  discovery: nested({ plcDirectoryUrl: serviceUrl, resolveTxt: func } satisfies Record<keyof DiscoveryFields, Rule>),
}
const RESUME_OR_LOGIN_RULES: Rules = { ...LOGIN_RULES, store: required(sessionStore) }
const CREATE_ACCOUNT_RULES: Rules = { ...AGENT_RULES, service: required(serviceUrl) }
const CREATE_ACCOUNT_INPUT_RULES: Record<keyof CreateAccountInput, Rule> = {
  handle: required(string),
  email: string,
  password: string,
  inviteCode: string,
  did: string,
  verificationCode: string,
  verificationPhone: string,
  recoveryKey: string,
  plcOp: object,
}

type DiscoveryFields = NonNullable<LoginOptions['discovery']>

/** Checks a session and the options given with it, naming `where`. */
function checkAgent(where: string, session: unknown, options: unknown, rules: Rules = AGENT_RULES): void {
  assertSession(session, where)
  checkOptions(where, options, rules)
}

/** Checks login options: their rules, and a way to the service. */
function checkLogin(where: string, options: unknown, rules: Rules): asserts options is LoginOptions {
  checkOptions(where, options, rules)
  const { service, resolveService } = options as LoginOptions
  if (service === undefined && !resolveService) {
    fail(where, 'service', 'be given, or "resolveService" (e.g. discoverService from "lex-password-agent/discovery")')
  }
}

/**
 * A handle without the leading `@` it is often written with: `@alice.bsky.social`
 * is `alice.bsky.social`. No handle holds `@` or `:`, so `@`, `@did:…` and
 * `@a@b.c` are left as they are (and refused by the server).
 */
export const withoutAt = (name: string) => name.replace(/^@(?=[^@:]+$)/, '')

/**
 * `https://<identifier>:<password>@<host>` → login options. Errors never
 * include the URL (it holds the password).
 */
function parseLoginUrl(input: string | URL): { service: string; identifier: string; password: string } {
  const url = parseHttpUrl(input)
  if (!url) {
    throw inputError('login URL must be an http(s) URL like https://<identifier>:<password>@<host>')
  }
  if (url.pathname !== '/' || url.search || url.hash) {
    throw inputError('login URL must have no path, query or fragment')
  }
  if (!url.username || !url.password) throw inputError('login URL must contain an identifier and a password')
  try {
    return {
      service: url.origin,
      identifier: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    }
  } catch {
    throw inputError('login URL has a malformed percent-encoding')
  }
}
