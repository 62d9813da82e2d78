/**
 * The `exp` claim (seconds since the epoch) of a JWT, read without checking
 * the signature: the client never holds the key, it only wants to know when
 * the server will start saying `ExpiredToken`. `undefined` for anything that
 * is not a JWT with a numeric `exp` (callers then rely on reactive refresh).
 */
export function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1]
  if (!payload || payload.length > 8192) return undefined
  try {
    const b64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const json: unknown = JSON.parse(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), '=')))
    const exp = (json as { exp?: unknown } | null)?.exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined
  } catch {
    return undefined
  }
}
