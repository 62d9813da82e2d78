// Handling what lex-password-agent returns and throws: a login refusal (say
// why; rate limited: say when to try again), and the errors it throws, also
// when lex-client's Client wraps them. docs/errors.md quotes this file;
// spec/error-messages.spec.ts runs each function against every failure.
import { XrpcFetchError } from '@atproto/lex-client'
import { isLexPasswordAgentError, PasswordAgent, RateLimitedError, type LoginOptions } from 'lex-password-agent'

/**
 * Logs in, or throws an Error that says why not and what to do. Refusals are
 * `login`'s result (the server's `error` and `message`, unchanged); failures
 * (network, timeout, an answer that is no atproto answer, a 5xx) throw, with
 * a message that names the service and says what to check.
 */
export async function logIn(options: LoginOptions): Promise<PasswordAgent> {
  const result = await PasswordAgent.login(options)
  if (result.success) return result.value
  switch (result.error) {
    case 'AuthenticationRequired':
      throw new Error(`Wrong identifier or password (${result.message}): check both, or use an app password`)
    case 'AuthFactorTokenRequired':
      throw new Error('The account sent a code by email: log in again with it as authFactorToken')
    case 'AccountTakedown':
      throw new Error(`The account is taken down (${result.message})`)
    case 'RateLimitExceeded':
      // createSession allows 30 logins per 5 minutes and 300 per day per account:
      // never retry it in a loop. The answer says when the window reopens.
      throw new Error(`Too many logins: try again after ${retryTime(result)?.toISOString() ?? 'a while'}`)
    default:
      throw new Error(`Login refused: ${result.error}: ${result.message}`)
  }
}

/** When a rate-limited login may be tried again: `RateLimit-Reset` (atproto), else `Retry-After`. */
export function retryTime(refusal: { headers: Headers }): Date | undefined {
  if (refusal instanceof RateLimitedError && refusal.resetAt) return refusal.resetAt
  const retryAfter = refusal.headers.get('retry-after')
  if (retryAfter && /^\d+$/.test(retryAfter)) return new Date(Date.now() + Number(retryAfter) * 1000)
  const date = Date.parse(retryAfter ?? '')
  return Number.isNaN(date) ? undefined : new Date(date)
}

/**
 * What to do about an error this package threw: from `login`, `resume`,
 * `refresh`, `logout`, a store's lock, or a `Client` call (lex-client wraps
 * what the agent throws in an `XrpcFetchError` whose `cause` is ours).
 * Anything else is not ours: it is thrown again.
 */
export function whatToDo(err: unknown): string {
  const error = err instanceof XrpcFetchError && isLexPasswordAgentError(err.cause) ? err.cause : err
  if (!isLexPasswordAgentError(error)) throw err
  switch (error.code) {
    case 'ERR_LOGGED_OUT': // the agent was logged out, or the server ended its session
    case 'ERR_SESSION_ENDED': // the server refused the refresh for good: revoked, expired, taken down
    case 'ERR_SESSION_MISMATCH': // the refresh answered for another account
      return 'log in again with the password'
    case 'ERR_SERVICE_UNREACHABLE': // refused, DNS, TLS, reset, redirect
    case 'ERR_SESSION_TIMEOUT': // no answer within refreshTimeoutMs
    case 'ERR_INVALID_SESSION_RESPONSE': // an HTML page, a 404, truncated JSON
    case 'ERR_SESSION_ANSWER_TOO_LARGE':
      return 'check the service URL and the network, then try again (a session is kept)'
    case 'ERR_LOCK_TIMEOUT': // another process held the store's lock too long
      return 'check the other processes on this store, or raise acquireTimeoutMs'
    case 'ERR_DISCOVERY': // the handle or DID led to no PDS
      return 'check the handle, or give the service URL'
    default: // ERR_INVALID_ARG and the login refusals' codes
      return error.message
  }
}
