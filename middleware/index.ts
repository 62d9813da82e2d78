export { authHeader, type AuthHeaderOptions } from './auth-header.ts'
export {
  isExpiredTokenAnswer,
  refreshOnExpired,
  type RefreshOnExpiredOptions,
} from './refresh-on-expired.ts'
export { routeToPds, type RouteToPdsOptions } from './route-to-pds.ts'
export { refreshAhead, type RefreshAheadOptions } from './refresh-ahead.ts'
export {
  rateLimit,
  readRateLimit,
  type RateLimitInfo,
  type RateLimitMiddleware,
  type RateLimitOptions,
} from './rate-limit.ts'
export { isNetworkError, retry, type RetryOptions } from './retry.ts'
export {
  acceptLabelers,
  serviceProxy,
  type AcceptLabelersOptions,
  type ServiceProxyOptions,
} from './service-proxy.ts'
export { logger, redactUrl, type LoggerEntry, type LoggerOptions } from './logger.ts'
