import { bytes } from '../lib/core/check.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { carriesAccessToken, inputSignal, isReplayable, peekErrorCode } from '../lib/core/request.ts'
import type { SessionSource } from '../lib/core/session-holder.ts'
import type { Session } from '../lib/core/session.ts'
import { checkSessionOptions, stepMiddleware, orAbort, withSessionStep, type Next } from './options.ts'

/** The options of {@link refreshOnExpired}. */
export type RefreshOnExpiredOptions = {
  /** The session to refresh. */
  session: SessionSource
  /** Largest JSON error body read to look for `ExpiredToken` (default 16 KiB). */
  maxPeekBytes?: number
}

/**
 * Whether an answer says the access token expired: an `ExpiredToken` XRPC
 * error (400 on the reference PDS), or a 401 whose `WWW-Authenticate` Bearer
 * challenge says `invalid_token`. Other 400/401 answers (`InvalidToken` "Bad token scope",
 * `AccountDeactivated`, a proxied service's 401) are not a reason to refresh.
 */
export async function isExpiredTokenAnswer(res: Response, maxPeekBytes?: number): Promise<boolean> {
  if (res.status !== 400 && res.status !== 401) return false
  if ((await peekErrorCode(res, maxPeekBytes)) === 'ExpiredToken') return true
  return res.status === 401 && bearerError(res.headers.get('www-authenticate') ?? '') === 'invalid_token'
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
/** A challenge's scheme, or one `name=value` auth-param (RFC 9110 §11.6.1). */
const CHALLENGE_PART = new RegExp(`(${TOKEN})\\s*(?:=\\s*("(?:[^"\\\\]|\\\\.)*"|${TOKEN}))?`, 'g')

/**
 * The `error` of the `Bearer` challenge in a WWW-Authenticate header. Only
 * that one is about the token we sent: a `DPoP` challenge's `invalid_token`
 * says Bearer is the wrong scheme, which a new token would not change.
 */
function bearerError(header: string): string | undefined {
  let scheme = ''
  for (const [, name, value] of header.matchAll(CHALLENGE_PART)) {
    if (value === undefined) scheme = name!.toLowerCase()
    else if (scheme === 'bearer' && name!.toLowerCase() === 'error') return value.replace(/^"|"$/g, '')
  }
  return undefined
}

/**
 * On an expired-token answer to a request that carried the session's token,
 * refreshes the session (shared with every other request that saw the same
 * token) and replays the request once. The first answer is returned as is when
 * the body cannot be replayed (a stream), the request was aborted, or no newer
 * session could be had. Place it outermost so the replay goes through routing
 * and auth again.
 */
export function refreshOnExpired(options: RefreshOnExpiredOptions): Middleware {
  const { session, maxPeekBytes } = checkSessionOptions('refreshOnExpired', options, { maxPeekBytes: bytes })
  return stepMiddleware({ session, maxPeekBytes }, refreshOnExpiredStep)
}

/** What {@link refreshOnExpiredStep} reads from its state: the session, and `maxPeekBytes` (default 16 KiB). */
export type RefreshOnExpiredState = { readonly session: SessionSource; readonly maxPeekBytes?: number }

/** {@link refreshOnExpired}'s work for one request, shared by every chain. */
export function refreshOnExpiredStep<C extends RefreshOnExpiredState>(
  c: C,
  next: Next<C>,
  given: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  // Whether the token went along is judged on the URL that was sent (pinned), and the replay goes there too.
  return withSessionStep(c, next, given, init, send)
}

function send<C extends RefreshOnExpiredState>(
  c: C,
  next: Next<C>,
  seen: Session,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  return Promise.resolve(next(c, input, init)).then((res) =>
    res.status !== 400 && res.status !== 401 ? res : retry(c, next, seen, res, input, init),
  )
}

async function retry<C extends RefreshOnExpiredState>(
  c: C,
  next: Next<C>,
  seen: Session,
  res: Response,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  if (!carriesAccessToken(seen, input, init)) return res
  if (!isReplayable(input, init)) return res
  if (!(await isExpiredTokenAnswer(res, c.maxPeekBytes))) return res
  const signal = inputSignal(input, init)
  if (signal?.aborted) return res
  // An aborted request stops waiting (and gets `res`); the refresh goes on for the others.
  const fresh = await orAbort(c.session.refresh(seen), signal).catch(() => null)
  if (!fresh || fresh.data.accessJwt === seen.data.accessJwt || signal?.aborted) return res
  await res.body?.cancel().catch(() => {})
  return next(c, input, init)
}
