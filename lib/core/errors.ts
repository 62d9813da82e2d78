import { XrpcInvalidResponseError, XrpcResponseError } from '@atproto/lex-client'

/**
 * Thrown by every request, refresh or session read of an agent after logout
 * or after the server definitively ended the session. Its message is exactly
 * `'Logged out'`.
 */
export class LoggedOutError extends Error {
  override name = 'LoggedOutError'
  constructor(options?: ErrorOptions) {
    super('Logged out', options)
  }
}

/**
 * A refresh answer that cannot be accepted although the server said 200, e.g.
 * tokens issued for another DID. Treated as a definitive failure.
 */
export class SessionMismatchError extends Error {
  override name = 'SessionMismatchError'
}

/** A refresh or logout that did not finish within the configured timeout. */
export class SessionTimeoutError extends Error {
  override name = 'SessionTimeoutError'
}

/**
 * Typed versions of the server's expected login refusals. `login()` and
 * `createAccount()` return them as their `{ success: false }` result; each is
 * an `XrpcResponseError` (same `error`, `message`, `status`), so seed-style
 * `result.error === 'AuthFactorTokenRequired'` checks keep working, and
 * `instanceof` works too.
 */
export class AuthFactorTokenRequiredError extends XrpcResponseError {
  override name = 'AuthFactorTokenRequiredError'
}

/** The account has been taken down (`AccountTakedown`). */
export class AccountTakedownError extends XrpcResponseError {
  override name = 'AccountTakedownError'
}

/** HTTP 429: wait until {@link RateLimitedError.resetAt} before trying again. */
export class RateLimitedError extends XrpcResponseError {
  override name = 'RateLimitedError'
  /** When the server's window reopens (`RateLimit-Reset`, epoch seconds), if it said. */
  get resetAt(): Date | undefined {
    return rateLimitReset(this.headers)
  }
}

/** `RateLimit-Reset` as a Date (atproto servers send an epoch in seconds). */
export function rateLimitReset(headers: Headers): Date | undefined {
  const value = Number(headers.get('ratelimit-reset') ?? NaN)
  return Number.isFinite(value) && value > 0 ? new Date(value * 1000) : undefined
}

/** The typed subclass for an expected refusal, or the error itself. */
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
 * The server answered a session call with something that is not a valid
 * answer (truncated JSON, a body that fails the schema, a reset mid-body).
 * Transient: the session is kept. Unlike lex-client's
 * `XrpcInvalidResponseError`, it carries no payload (which could hold tokens).
 */
export class InvalidSessionResponseError extends Error {
  override name = 'InvalidSessionResponseError'
  /** The HTTP status of the answer. */
  readonly status: number
  constructor(status: number, options?: ErrorOptions) {
    super(`the server's answer is not a valid session response (HTTP ${status})`, options)
    this.status = status
  }
}

/**
 * A session call's answer was larger than the agent's `maxSessionAnswerBytes`:
 * refused by its `Content-Length`, or cut off once that many bytes were read.
 * An invalid answer like any other (transient: the session is kept).
 */
export class SessionAnswerTooLargeError extends InvalidSessionResponseError {
  override name = 'SessionAnswerTooLargeError'
  /** The limit the answer passed. */
  readonly maxBytes: number
  constructor(status: number, maxBytes: number) {
    super(status)
    this.message = `the server's answer is larger than ${maxBytes} bytes (HTTP ${status})`
    this.maxBytes = maxBytes
  }
}

/**
 * A 200 whose body failed the schema check comes back from lex-client with
 * that body (new tokens!) in its payload: pass on an
 * {@link InvalidSessionResponseError} instead, so no hook, log or thrown value
 * ever holds them. An answer cut off for its size comes back wrapped (as a
 * fetch error when refused by its `Content-Length`, as an invalid answer when
 * cut off mid-body): pass on the size error itself. Other errors pass through.
 */
export function withoutPayload(error: Error): Error {
  if (error.cause instanceof SessionAnswerTooLargeError) return error.cause
  if (!(error instanceof XrpcInvalidResponseError)) return error
  return new InvalidSessionResponseError(error.response.status)
}
