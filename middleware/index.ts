export { authHeader, type AuthHeaderOptions } from './auth-header.ts'
export {
  isExpiredTokenAnswer,
  refreshOnExpired,
  type RefreshOnExpiredOptions,
} from './refresh-on-expired.ts'
export { routeToPds, type RouteToPdsOptions } from './route-to-pds.ts'
export { refreshAhead, type RefreshAheadOptions } from './refresh-ahead.ts'
