// Tokens and account layout shared by bench/pool.ts and its mock (bench/pool-mock.ts).

export const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
export const HEADER = b64url({ typ: 'at+jwt', alg: 'HS256' })
export const jwt = (claims: Record<string, unknown>) => `${HEADER}.${b64url(claims)}.c2lnbmF0dXJl`
export type Claims = { sub: string; iat: number; exp: number; gen: number; aiat?: number; aexp?: number; scope: string }
export function claims(token: string | undefined): Claims | undefined {
  const payload = token?.split('.')[1]
  if (!payload) return undefined
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Claims
  } catch {
    return undefined
  }
}
/** When `refreshAhead` refreshes a token whose lifetime is under 4 min (its margin is capped at a quarter of it). */
export const dueMs = (iat: number, exp: number) => exp * 1000 - (exp - iat) * 250

/** Which PDS an account lives on: a hash of its DID, as bench/pool.ts assigns it. */
export function pdsIndex(did: string, count: number): number {
  let h = 0
  for (let i = 0; i < did.length; i++) h = (h * 31 + did.charCodeAt(i)) >>> 0
  return h % count
}

/** A refreshSession answer (no DID document: the session keeps its `pdsUrl`). */
export function tokens(did: string, gen: number, iat: number, ttlS: number) {
  const exp = iat + ttlS
  return {
    accessJwt: jwt({ scope: 'com.atproto.access', sub: did, iat, exp, gen }),
    refreshJwt: jwt({ scope: 'com.atproto.refresh', sub: did, iat, exp: iat + 90 * 86400, gen, aiat: iat, aexp: exp }),
    did,
    handle: `${did.slice(8)}.test`,
    active: true,
  }
}
