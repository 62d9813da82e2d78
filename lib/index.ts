export {
  AccountTakedownError,
  AuthFactorTokenRequiredError,
  DiscoveryError,
  InvalidSessionResponseError,
  isLexPasswordAgentError,
  LockTimeoutError,
  LoggedOutError,
  RateLimitedError,
  SessionAnswerTooLargeError,
  SessionMismatchError,
  SessionTimeoutError,
  type LexPasswordAgentError,
  type LexPasswordAgentErrorCode,
} from './core/errors.ts'
export { globalFetch, pipeline, type FetchLike, type Middleware } from './core/fetch.ts'
export type { HookName, SessionHooks } from './core/hooks.ts'
export {
  PasswordAgent,
  type LoginOptions,
  type LoginResult,
  type PasswordAgentOptions,
  type ResumeOptions,
  type ServiceResolver,
  type ServiceResolverOptions,
} from './password-agent.ts'
export { isNewerSession, MemorySessionStore, type SessionLock, type SessionStore } from './core/session-store.ts'
export { jwtExpiry } from './core/jwt.ts'
export { isDefinitiveRefusal } from './core/session-api.ts'
export { SessionHolder, type SessionHolderOptions, type SessionSource } from './core/session-holder.ts'
export { Session, type SessionData } from './core/session.ts'
export { XrpcResponseError } from '@atproto/lex-client'
