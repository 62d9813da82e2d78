export {
  AccountTakedownError,
  AuthFactorTokenRequiredError,
  InvalidSessionResponseError,
  LoggedOutError,
  RateLimitedError,
  SessionAnswerTooLargeError,
  SessionMismatchError,
  SessionTimeoutError,
} from './errors.ts'
export { globalFetch, pipeline, type FetchLike, type Middleware } from './fetch.ts'
export type { HookName, SessionHooks } from './hooks.ts'
export {
  PasswordAgent,
  type LoginOptions,
  type LoginResult,
  type PasswordAgentOptions,
  type ResumeOptions,
} from './password-agent.ts'
export { isNewerSession, MemorySessionStore, type SessionLock, type SessionStore } from './session-store.ts'
export { jwtExpiry } from './jwt.ts'
export {
  isDefinitiveRefusal,
  SessionHolder,
  type SessionHolderOptions,
  type SessionSource,
} from './session-holder.ts'
export { Session, type SessionData } from './session.ts'
export { XrpcResponseError } from '@atproto/lex-client'
