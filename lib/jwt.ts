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
    const b64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const json: unknown = JSON.parse(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), '=')))
    const { exp, iat } = (json ?? {}) as { exp?: unknown; iat?: unknown }
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined
    return typeof iat === 'number' && Number.isFinite(iat) && iat < exp ? { exp, iat } : { exp }
  } catch {
    return undefined
  }
}
