import type { Session } from './session.ts'

/**
 * The `exp` claim (seconds since the epoch) of a JWT, read without checking
 * the signature: the client never holds the key, it only wants to know when
 * the server will start saying `ExpiredToken`. `undefined` for anything that
 * is not a JWT with a numeric `exp` (callers then rely on reactive refresh).
 */
export function jwtExpiry(token: string): number | undefined {
  return jwtTimes(token)?.exp
}

/** `exp` and, when present, `iat` (seconds) of a JWT, unverified. */
export function jwtTimes(token: string): { exp: number; iat?: number } | undefined {
  const payload = token.split('.')[1]
  if (!payload || payload.length > 8192) return undefined
  try {
    // base64url to base64; atob needs no padding (forgiving-base64, as in every runtime with fetch).
    const json: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')))
    const { exp, iat } = (json ?? {}) as { exp?: unknown; iat?: unknown }
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined
    return typeof iat === 'number' && Number.isFinite(iat) && iat < exp ? { exp, iat } : { exp }
  } catch {
    return undefined
  }
}

/** How far our clock may be from the server's before tokens are timed from receipt. */
const CLOCK_TOLERANCE_MS = 30_000

/**
 * When the session's access token expires, by our clock (ms), and its
 * lifetime when known. Timed by the server's `exp`, unless our clock
 * disagrees with the server's (`iat` far from when we received the token,
 * `refreshedAt`): then by its lifetime from when we received it, or every
 * token would look expired. `undefined` for a token without a readable `exp`.
 */
export function accessTokenExpiry(session: Session): { expiresAt: number; lifeMs?: number } | undefined {
  const t = jwtTimes(session.data.accessJwt)
  if (!t) return undefined
  if (t.iat === undefined) return { expiresAt: t.exp * 1000 }
  const lifeMs = (t.exp - t.iat) * 1000
  const received = Date.parse(session.refreshedAt)
  const skewed = Math.abs(received - t.iat * 1000) > CLOCK_TOLERANCE_MS
  return { expiresAt: skewed ? received + lifeMs : t.exp * 1000, lifeMs }
}
