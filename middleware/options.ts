import { checkOptions, isObject, required, type Rule, type Rules } from '../lib/core/check.ts'
import type { FetchLike, Middleware } from '../lib/core/fetch.ts'
import { inputSignal, pinInput } from '../lib/core/request.ts'
import type { SessionSource } from '../lib/core/session-holder.ts'
import type { Session } from '../lib/core/session.ts'

/**
 * The session `source.current()` would resolve to at once, read synchronously
 * when the source can tell (`peek`), else `undefined`: the caller then awaits
 * `current()`. Saves a microtask per middleware per request.
 */
export const peekSession = (source: SessionSource): Session | undefined =>
  typeof source.peek === 'function' ? source.peek() : undefined

/**
 * `source.current()` for one request: rejects with the request's abort reason
 * as soon as its signal fires (as `fetch` would), instead of waiting for the
 * refresh or logout `current()` waits for. That operation goes on for the others.
 */
export const currentFor = (
  source: SessionSource,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Session> => orAbort(source.current(), inputSignal(input, init))

/**
 * The rest of a chain, as a shared step sees it: called with the step's state
 * `c` (the preset passes one state object per agent down its whole chain, so
 * an agent holds no closure per middleware).
 */
export type Next<C> = (c: C, input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** The {@link Next} of a step a factory built around a `next` fetch: calls `c.next`. */
export const callNext: Next<{ readonly next: FetchLike }> = (c, input, init) => c.next(input, init)

/** A shared step: its state `c`, the rest of the chain, and the request. */
export type Step<C> = (c: C, next: Next<C>, input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * The middleware a factory makes of a shared step: each chain gets its own
 * copy of `state` with the chain's `next` in it (see {@link callNext}).
 */
export function stepMiddleware<S extends object>(state: S, step: Step<S & { readonly next: FetchLike }>): Middleware {
  return (next) => {
    const c = { ...state, next }
    return (input, init) => step(c, callNext, input, init)
  }
}

/**
 * A shared step's common path: hands `send` the state, the rest of the chain,
 * the current session and the input {@link pinInput pinned} (what `send`
 * checks is what it forwards): at once when the source can tell (`peek`),
 * else once `current()` resolves (see {@link currentFor}). A synchronous throw
 * becomes a rejection, so the common path needs no async frame.
 */
export function withSessionStep<C extends { readonly session: SessionSource }>(
  c: C,
  next: Next<C>,
  given: string | URL | Request,
  init: RequestInit | undefined,
  send: (c: C, next: Next<C>, session: Session, input: string | URL | Request, init?: RequestInit) => Promise<Response>,
): Promise<Response> {
  try {
    const input = pinInput(given)
    const current = peekSession(c.session)
    return current !== undefined
      ? send(c, next, current, input, init)
      : currentFor(c.session, input, init).then((s) => send(c, next, s, input, init))
  } catch (err) {
    return Promise.reject(err)
  }
}

/** `promise`, or a rejection with `signal`'s reason as soon as it aborts. */
export function orAbort<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** A middleware's `session` option. */
const sessionSource: Rule = required([
  (v) => isObject(v) && typeof v.current === 'function' && typeof v.refresh === 'function',
  'be a SessionSource (e.g. agent.sessionHolder)',
])

/** Checks a middleware's options, `{ session }` and its own `rules`, naming the factory in the TypeError. */
export function checkSessionOptions<T extends { session: SessionSource }>(
  factory: string,
  options: T,
  rules?: Rules,
): T {
  checkOptions(factory, options, { session: sessionSource, ...rules })
  return options
}
