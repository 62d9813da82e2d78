// The main entry's public surface, by name: each one is in README.md's Exports
// table. Helpers the modules share (JWT reading, refusal tests, checks) are
// internal; import them from their module inside this repository.
import { XrpcResponseError } from '@atproto/lex-client'
import {
  AccountTakedownError,
  AuthFactorTokenRequiredError,
  DiscoveryError,
  InvalidSessionResponseError,
  isLexPasswordAgentError,
  LockTimeoutError,
  LoggedOutError,
  RateLimitedError,
  ServiceUnreachableError,
  SessionAnswerTooLargeError,
  SessionEndedError,
  SessionMismatchError,
  SessionTimeoutError,
  type LexPasswordAgentError,
  type LexPasswordAgentErrorCode,
} from './core/errors.ts'
import { MemoryAccountStore, type AccountStore } from './core/account-store.ts'
import { pipeline, type FetchLike, type Middleware } from './core/fetch.ts'
import type { HookName, SessionHooks } from './core/hooks.ts'
import { SessionHolder, type SessionHolderOptions } from './core/session-holder.ts'
import type { SessionSource } from './core/session-source.ts'
import {
  isNewerSession,
  MemorySessionStore,
  type LoggedOutMarker,
  type SessionLock,
  type SessionStore,
} from './core/session-store.ts'
import { Session, type SessionData } from './core/session.ts'
import {
  PasswordAgent,
  type LoginOptions,
  type LoginResult,
  type PasswordAgentOptions,
  type ResumeOptions,
  type ServiceResolver,
  type ServiceResolverOptions,
} from './password-agent.ts'
import { PasswordAgentPool, type PasswordAgentPoolOptions, type PoolLoginOptions } from './password-agent-pool.ts'

export {
  // The agent, its options and results
  PasswordAgent,
  type PasswordAgentOptions,
  type LoginOptions,
  type ResumeOptions,
  type LoginResult,
  type ServiceResolver,
  type ServiceResolverOptions,
  // The saved session and the hooks that receive it
  Session,
  type SessionData,
  type SessionHooks,
  type HookName,
  // Errors: this package's (branded, with a `code`), and lex-client's for `instanceof`
  isLexPasswordAgentError,
  type LexPasswordAgentError,
  type LexPasswordAgentErrorCode,
  LoggedOutError,
  SessionMismatchError,
  SessionTimeoutError,
  ServiceUnreachableError,
  SessionEndedError,
  InvalidSessionResponseError,
  SessionAnswerTooLargeError,
  AuthFactorTokenRequiredError,
  AccountTakedownError,
  RateLimitedError,
  LockTimeoutError,
  DiscoveryError,
  XrpcResponseError,
  // Sessions shared between processes: the store contract and the in-memory store
  type SessionStore,
  type SessionLock,
  type LoggedOutMarker,
  MemorySessionStore,
  isNewerSession,
  // Many accounts: the pool of agents keyed by DID, the store contract and the in-memory one
  PasswordAgentPool,
  type PasswordAgentPoolOptions,
  type PoolLoginOptions,
  type AccountStore,
  MemoryAccountStore,
  // Custom stacks: the pipeline, and the session source the middlewares take
  pipeline,
  type FetchLike,
  type Middleware,
  SessionHolder,
  type SessionHolderOptions,
  type SessionSource,
}
