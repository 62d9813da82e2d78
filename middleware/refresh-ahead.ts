import { number, type Rule } from '../lib/core/check.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { accessTokenExpiry } from '../lib/core/jwt.ts'
import { inputSignal, isReplayable } from '../lib/core/request.ts'
import type { SessionSource } from '../lib/core/session-holder.ts'
import type { Session } from '../lib/core/session.ts'
import { checkSessionOptions, currentFor, orAbort, peekSession, settled } from './options.ts'

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
 * request go out with the current token.
 */
export function refreshAhead(options: RefreshAheadOptions): Middleware {
  const {
    session,
    marginMs = 60_000,
    jitterMs = 30_000,
    streamMarginMs = 300_000,
  } = checkSessionOptions('refreshAhead', options, REFRESH_AHEAD_RULES)
  // Per token: when to refresh it. Drawn once so the jitter is stable per generation.
  const due = new WeakMap<Session, number>()
  const refreshAt = (s: Session): number => {
    let at = due.get(s)
    if (at === undefined) {
      const expiry = accessTokenExpiry(s)
      // Never refresh in the first three quarters of a token's life, however
      // short it is (a 60 s margin would otherwise refresh a 30 s token per request).
      const lead = marginMs + Math.random() * jitterMs
      at = !expiry ? Infinity : expiry.expiresAt - Math.min(lead, (expiry.lifeMs ?? Infinity) / 4)
      due.set(s, at)
    }
    return at
  }
  const extraFor = (input: string | URL | Request, init?: RequestInit) =>
    isReplayable(input, init) ? 0 : Math.max(0, streamMarginMs - marginMs)
  return (next) => {
    const slow = async (input: string | URL | Request, init?: RequestInit) => {
      const current = peekSession(session) ?? (await currentFor(session, input, init))
      if (Date.now() + extraFor(input, init) >= refreshAt(current)) {
        // An aborted request stops waiting (rejects with its reason); the refresh goes on.
        await orAbort(
          session.refresh(current).catch(() => {}),
          inputSignal(input, init),
        )
      }
      return next(input, init)
    }
    return settled((input, init) => {
      const current = peekSession(session)
      // The common case, synchronously: a session at hand whose token is not due.
      if (current !== undefined && Date.now() + extraFor(input, init) < refreshAt(current)) {
        return Promise.resolve(next(input, init))
      }
      return slow(input, init)
    })
  }
}
