import { XrpcResponseError } from '@atproto/lex-client'
import { rateLimitResetAt } from './retry-timing.ts'

/**
 * Every error this package throws carries this brand and a stable `code`
 * (`ERR_` + upper snake case, in the style of Node's own codes), so it is
 * recognised by {@link isLexPasswordAgentError} across realms and across
 * copies of the package, where `instanceof` fails. `Symbol.for` keys are
 * shared by every realm of a process.
 */
const BRAND = Symbol.for('lex-password-agent.error')

/**
 * Brands an instance (in its constructor: a brand on the prototype, set at
 * module load, would keep bundlers from dropping unused classes).
 */
function brand(error: Error): void {
  Object.defineProperty(error, BRAND, { value: true })
}

/** The `code` of each error this package throws. */
export type LexPasswordAgentErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_LOGGED_OUT'
  | 'ERR_SESSION_MISMATCH'
  | 'ERR_SESSION_TIMEOUT'
  | 'ERR_AUTH_FACTOR_TOKEN_REQUIRED'
  | 'ERR_ACCOUNT_TAKEDOWN'
  | 'ERR_RATE_LIMITED'
  | 'ERR_INVALID_SESSION_RESPONSE'
  | 'ERR_SESSION_ANSWER_TOO_LARGE'
  | 'ERR_LOCK_TIMEOUT'
  | 'ERR_DISCOVERY'
  | 'ERR_SERVICE_UNREACHABLE'
  | 'ERR_SESSION_ENDED'

/** An error thrown (or returned as a failure) by this package, from any copy of it. */
export type LexPasswordAgentError = Error & {
  /** What went wrong, as a stable string (`ERR_*`). */
  readonly code: LexPasswordAgentErrorCode
}

/**
 * Whether `value` is an error of this package: branded with
 * `Symbol.for('lex-password-agent.error')` and carrying a string `code`.
 * Judged structurally, not by `instanceof`, so it holds for errors from
 * another realm (a `vm` context) or another copy of the package.
 */
export function isLexPasswordAgentError(value: unknown): value is LexPasswordAgentError {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false
  return (value as Record<symbol, unknown>)[BRAND] === true && typeof (value as { code?: unknown }).code === 'string'
}

/**
 * A `TypeError` for a bad argument or option (code `ERR_INVALID_ARG`): every
 * input check of the package throws one.
 */
export function inputError(message: string): TypeError & { readonly code: 'ERR_INVALID_ARG' } {
  const error = new TypeError(message) as TypeError & { code: 'ERR_INVALID_ARG' }
  brand(error)
  error.code = 'ERR_INVALID_ARG'
  return error
}

/** The string `code` of an error-like value from any realm (`ECONNRESET`, …), else `undefined`. */
export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any constructor
type ErrorClass = abstract new (...args: any[]) => Error

/**
 * The base of each error class: `Base` whose instances carry `name`, the
 * brand and the `code` getter (on the prototype: no own property). Each error
 * stays a real class of its own name, constructed as `Base` is.
 */
/* @__NO_SIDE_EFFECTS__ */
function coded<C extends LexPasswordAgentErrorCode, B extends ErrorClass>(
  name: string,
  code: C,
  Base: B,
): new (...args: ConstructorParameters<B>) => InstanceType<B> & {
  /** What went wrong, as a stable string (`ERR_*`). */
  readonly code: C
} {
  // @ts-expect-error -- a mixin of an abstract-typed base; every base here is concrete
  return class extends Base {
    override name = name
    get code(): C {
      return code
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the base's arguments
    constructor(...args: any[]) {
      super(...args)
      brand(this)
      quiet(this)
    }
  }
}

/**
 * Hides an XRPC error's `method` (its lexicon schema), `response` and
 * `payload` from `util.inspect` and `console.log`, where they made an
 * uncaught error print 70 to 140 lines; they stay readable as properties.
 */
export function quiet<E extends object>(error: E): E {
  for (const key of ['method', 'response', 'payload']) {
    if (Object.hasOwn(error, key)) Object.defineProperty(error, key, { enumerable: false })
  }
  return error
}

/**
 * Thrown by every request, refresh or session read of an agent after logout
 * or after the server definitively ended the session. Its message is exactly
 * `'Logged out'`.
 */
export class LoggedOutError extends coded('LoggedOutError', 'ERR_LOGGED_OUT', Error) {
  constructor(options?: ErrorOptions) {
    super('Logged out', options)
  }
}

/**
 * A refresh answer that cannot be accepted although the server said 200, e.g.
 * tokens issued for another DID. Treated as a definitive failure.
 */
export class SessionMismatchError extends coded('SessionMismatchError', 'ERR_SESSION_MISMATCH', Error) {}

/**
 * A session call (login, refresh, logout) that got no answer within the
 * agent's `refreshTimeoutMs`. Transient: a session is kept.
 */
export class SessionTimeoutError extends coded('SessionTimeoutError', 'ERR_SESSION_TIMEOUT', Error) {}

/**
 * A session call (login, refresh, logout) that reached no server: connection
 * refused, DNS failure, TLS error, a reset before the answer, or a redirect
 * (session calls never follow one). Its `cause` is the fetch's own error.
 * Transient: a session is kept.
 */
export class ServiceUnreachableError extends coded('ServiceUnreachableError', 'ERR_SERVICE_UNREACHABLE', Error) {}

/**
 * The server refused a refresh for good (`ExpiredToken`, `InvalidToken` or
 * `AccountTakedown`: the session was revoked, it expired, or the account is
 * gone): the agent is destroyed and `onDeleted` ran; log in again with the
 * password. It is an `XrpcResponseError` with the server's `error` and
 * `status`, so `err.error === 'ExpiredToken'` checks keep working; the
 * message is ours and the server's own error is its `cause`.
 */
export class SessionEndedError extends coded('SessionEndedError', 'ERR_SESSION_ENDED', XrpcResponseError) {}

/**
 * Typed versions of the server's expected login refusals. `login()` and
 * `createAccount()` return them as their `{ success: false }` result; each is
 * an `XrpcResponseError` (same `error`, `message`, `status`), so seed-style
 * `result.error === 'AuthFactorTokenRequired'` checks keep working, and
 * `instanceof` works too.
 */
export class AuthFactorTokenRequiredError extends coded(
  'AuthFactorTokenRequiredError',
  'ERR_AUTH_FACTOR_TOKEN_REQUIRED',
  XrpcResponseError,
) {}

/** The account has been taken down (`AccountTakedown`). */
export class AccountTakedownError extends coded('AccountTakedownError', 'ERR_ACCOUNT_TAKEDOWN', XrpcResponseError) {}

/** HTTP 429: wait until {@link RateLimitedError.resetAt} before trying again. */
export class RateLimitedError extends coded('RateLimitedError', 'ERR_RATE_LIMITED', XrpcResponseError) {
  readonly #receivedAt = Date.now()
  /**
   * When the server's window reopens, if it said (`RateLimit-Reset`: an epoch
   * in seconds as atproto sends it, or seconds from when the answer came).
   */
  get resetAt(): Date | undefined {
    return rateLimitResetAt(this.headers, this.#receivedAt)
  }
}

/** The typed subclass for an expected refusal, or the error itself. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any method's refusal
export function typedFailure<E extends XrpcResponseError<any>>(error: E): E {
  const Typed =
    error.error === 'AuthFactorTokenRequired'
      ? AuthFactorTokenRequiredError
      : error.error === 'AccountTakedown'
        ? AccountTakedownError
        : error.status === 429
          ? RateLimitedError
          : undefined
  return Typed ? (new Typed(error.method, error.response, error.payload) as unknown as E) : error
}

/**
 * The server answered a session call with something no atproto service
 * answers: an HTML page, a 404 or 501 (no such method there), truncated JSON,
 * a body that fails the schema, tokens that are not JWTs, a reset mid-body.
 * Mostly a wrong service URL. Transient: the session is kept. Unlike
 * lex-client's `XrpcInvalidResponseError`, it carries no payload (which could
 * hold tokens); its `cause` is lex-client's error for a non-2xx answer only.
 */
export class InvalidSessionResponseError extends coded<
  'ERR_INVALID_SESSION_RESPONSE' | 'ERR_SESSION_ANSWER_TOO_LARGE',
  ErrorConstructor
>('InvalidSessionResponseError', 'ERR_INVALID_SESSION_RESPONSE', Error) {
  /** The HTTP status of the answer. */
  readonly status: number
  constructor(status: number, options?: ErrorOptions, message = `invalid session answer (HTTP ${status})`) {
    super(message, options)
    this.status = status
  }
}

/**
 * A session call's answer was larger than the agent's `maxSessionAnswerBytes`:
 * refused by its `Content-Length`, or cut off once that many bytes were read.
 * An invalid answer like any other (transient: the session is kept).
 */
export class SessionAnswerTooLargeError extends coded(
  'SessionAnswerTooLargeError',
  'ERR_SESSION_ANSWER_TOO_LARGE',
  InvalidSessionResponseError,
) {
  /** The limit the answer passed. */
  readonly maxBytes: number
  constructor(status: number, maxBytes: number) {
    super(status, undefined, `the server's answer is larger than ${maxBytes} bytes (HTTP ${status})`)
    this.maxBytes = maxBytes
  }
}

/**
 * Waiting for a cross-process session lock (the file or Redis store) took
 * longer than its `acquireTimeoutMs`.
 */
export class LockTimeoutError extends coded('LockTimeoutError', 'ERR_LOCK_TIMEOUT', Error) {}

/** The account's identity could not be resolved to a PDS. */
export class DiscoveryError extends coded('DiscoveryError', 'ERR_DISCOVERY', Error) {}
