import { number, type Rule } from '../lib/core/check.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { accessTokenExpiry } from '../lib/core/jwt.ts'
import { inputSignal, isReplayable } from '../lib/core/request.ts'
import type { SessionSource } from '../lib/core/session-holder.ts'
import type { Session } from '../lib/core/session.ts'
import { checkSessionOptions, stepMiddleware, currentFor, orAbort, peekSession, type Next } from './options.ts'

/** The options of {@link refreshAhead}. */
export type RefreshAheadOptions = {
  /** The session to refresh. */
  session: SessionSource
  /** Refresh when the access token has less than this left (default 60 s). */
  marginMs?: number
  /** Up to this much random extra margin, drawn per token, so a fleet spreads out (default 30 s). */
  jitterMs?: number
  /**
   * Margin for requests whose body is a stream (cannot be replayed after an
   * `ExpiredToken`): they refresh first if the token would expire within this
   * upload window (default 5 min).
   */
  streamMarginMs?: number
}

/** Its options but `session` (also the preset's `refreshAhead` option), each 0 to 2^31-1 ms. */
export const REFRESH_AHEAD_RULES: Record<Exclude<keyof RefreshAheadOptions, 'session'>, Rule> = {
  marginMs: number(),
  jitterMs: number(),
  streamMarginMs: number(),
}

/**
 * Refreshes before the access token expires (from the JWT's `exp`; at most
 * the last quarter of its lifetime when `iat` is known), so
 * requests at natural expiry cost one refreshSession and no `ExpiredToken`
 * round trip. Concurrent requests share the refresh. A token without a
 * readable `exp` is left to `refreshOnExpired`; a failed refresh lets the
 * request go out with the current token. A request whose token is still
 * valid waits for the refresh at most 1 s and half the time the token has
 * left, then goes out with it while the refresh goes on (with a
 * `SessionHolder`, later requests then use it too, without waiting, until the
 * refresh settles or the token expires); a request whose token has expired,
 * or whose body is a stream, waits for the refresh.
 */
export function refreshAhead(options: RefreshAheadOptions): Middleware {
  const {
    session,
    marginMs = 60_000,
    jitterMs = 30_000,
    streamMarginMs = 300_000,
  } = checkSessionOptions('refreshAhead', options, REFRESH_AHEAD_RULES)
  const timing = { marginMs, jitterMs, streamMarginMs }
  // Per token: when to refresh it. Drawn once so the jitter is stable per generation.
  const due = new WeakMap<Session, number>()
  return stepMiddleware<RefreshAheadState>({ session, timing, due }, refreshAheadStep)
}

/** When {@link refreshAheadStep} refreshes: {@link RefreshAheadOptions}' figures, defaults applied. */
export type RefreshAheadTiming = {
  readonly marginMs: number
  readonly jitterMs: number
  readonly streamMarginMs: number
}

/** The defaults of {@link RefreshAheadTiming} (shared, frozen). */
export const DEFAULT_REFRESH_AHEAD: RefreshAheadTiming = Object.freeze({
  marginMs: 60_000,
  jitterMs: 30_000,
  streamMarginMs: 300_000,
})

/**
 * What {@link refreshAheadStep} reads and keeps: the session, the timing, and
 * when to refresh each token (drawn once per token, so the jitter is stable
 * per generation): in `due`, or, without it, for the last token only
 * (`dueFor`, `dueAt`), enough for a source whose session only moves forward.
 */
export type RefreshAheadState = {
  readonly session: SessionSource
  readonly timing: RefreshAheadTiming
  readonly due?: WeakMap<Session, number>
  dueFor?: Session
  dueAt?: number
}

/**
 * Per state, the token whose refresh outlasted a request's bounded wait:
 * later requests with it do not wait again (a WeakMap: an idle agent pays nothing).
 */
const waitedOut = new WeakMap<RefreshAheadState, Session>()

/** {@link refreshAhead}'s work for one request, shared by every chain. */
export function refreshAheadStep<C extends RefreshAheadState>(
  c: C,
  next: Next<C>,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  try {
    const current = peekSession(c.session)
    // The common case, synchronously: a session at hand whose token is not due.
    if (current !== undefined && Date.now() + extraFor(c.timing, input, init) < refreshAt(c, current)) {
      return Promise.resolve(next(c, input, init))
    }
    return slow(c, next, input, init)
  } catch (err) {
    return Promise.reject(err)
  }
}

async function slow<C extends RefreshAheadState>(
  c: C,
  next: Next<C>,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const current = peekSession(c.session) ?? (await currentFor(c.session, input, init))
  if (Date.now() + extraFor(c.timing, input, init) >= refreshAt(c, current)) {
    const refreshed = c.session.refresh(current).catch(() => {})
    // A replayable request whose token is still valid waits a bounded time,
    // then goes out with it while the refresh goes on (an entryway outage
    // holds up no such request); an expired token or a stream body waits.
    // Once a request waited that long for this token, the next ones do not.
    const waitMs = isReplayable(input, init) ? refreshWaitMs(current) : undefined
    const lend = () => {
      waitedOut.set(c, current)
      c.session.useDuringRefresh?.(current)
    }
    if (waitMs !== undefined && waitedOut.get(c) === current) lend()
    // An aborted request stops waiting (rejects with its reason); the refresh goes on.
    else
      await orAbort(waitMs === undefined ? refreshed : boundedWait(refreshed, waitMs, lend), inputSignal(input, init))
  }
  return next(c, input, init)
}

/** Longest wait for a due token's refresh, when that token is still valid (ms). */
const MAX_REFRESH_WAIT_MS = 1000

/**
 * How long a request with `s`'s token waits for its refresh: at most
 * {@link MAX_REFRESH_WAIT_MS} and half the time the token has left;
 * `undefined` (until the refresh settles) once it has expired or has no readable `exp`.
 */
function refreshWaitMs(s: Session): number | undefined {
  const expiry = accessTokenExpiry(s)
  const left = expiry ? expiry.expiresAt - Date.now() : 0
  return left > 0 ? Math.min(MAX_REFRESH_WAIT_MS, left / 2) : undefined
}

/** Settles when `refreshed` does or after `ms`, whichever comes first (then `onTimeout` runs). */
function boundedWait(refreshed: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      onTimeout()
      resolve()
    }, ms)
    void refreshed.then(() => {
      clearTimeout(timer)
      resolve()
    })
  })
}

function extraFor(timing: RefreshAheadTiming, input: string | URL | Request, init?: RequestInit): number {
  return isReplayable(input, init) ? 0 : Math.max(0, timing.streamMarginMs - timing.marginMs)
}

/** When to refresh `s`'s token: drawn on first sight, then remembered. */
function refreshAt(c: RefreshAheadState, s: Session): number {
  if (c.due) {
    let at = c.due.get(s)
    if (at === undefined) c.due.set(s, (at = drawRefreshAt(c.timing, s)))
    return at
  }
  if (c.dueFor !== s || c.dueAt === undefined) {
    c.dueAt = drawRefreshAt(c.timing, s)
    c.dueFor = s
  }
  return c.dueAt
}

function drawRefreshAt({ marginMs, jitterMs }: RefreshAheadTiming, s: Session): number {
  const expiry = accessTokenExpiry(s)
  // Never refresh in the first three quarters of a token's life, however
  // short it is (a 60 s margin would otherwise refresh a 30 s token per request).
  const lead = marginMs + Math.random() * jitterMs
  return !expiry ? Infinity : expiry.expiresAt - Math.min(lead, (expiry.lifeMs ?? Infinity) / 4)
}
