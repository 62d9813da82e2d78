// Entry point `lex-password-agent/middleware`: the middleware factories and
// the types of their options and results, by name (README.md's Exports table).
// The tests they apply (expired-token answers, network errors, rate-limit
// headers, URL redaction) are internal.
import { authHeader, type AuthHeaderOptions } from './auth-header.ts'
import { logger, type LoggerEntry, type LoggerOptions } from './logger.ts'
import { rateLimit, type RateLimitInfo, type RateLimitMiddleware, type RateLimitOptions } from './rate-limit.ts'
import { refreshAhead, type RefreshAheadOptions } from './refresh-ahead.ts'
import { refreshOnExpired, type RefreshOnExpiredOptions } from './refresh-on-expired.ts'
import { retry, type RetryOptions } from './retry.ts'
import { routeToPds, type RouteToPdsOptions } from './route-to-pds.ts'
import { acceptLabelers, serviceProxy, type AcceptLabelersOptions, type ServiceProxyOptions } from './service-proxy.ts'

export {
  // The preset's four, each usable alone
  refreshAhead,
  type RefreshAheadOptions,
  refreshOnExpired,
  type RefreshOnExpiredOptions,
  routeToPds,
  type RouteToPdsOptions,
  authHeader,
  type AuthHeaderOptions,
  // Opt-in: concurrency and 429 waits (`.limits` holds the latest RateLimit-* figures)
  rateLimit,
  type RateLimitOptions,
  type RateLimitMiddleware,
  type RateLimitInfo,
  // Opt-in: retries of idempotent requests
  retry,
  type RetryOptions,
  // Opt-in: atproto-proxy and atproto-accept-labelers headers
  serviceProxy,
  type ServiceProxyOptions,
  acceptLabelers,
  type AcceptLabelersOptions,
  // Opt-in: one redacted line per request
  logger,
  type LoggerOptions,
  type LoggerEntry,
}
