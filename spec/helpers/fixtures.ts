import type { Session, SessionData } from '../../lib/core/session.ts'

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

let counter = 0

/** An unsigned but well-formed JWT; `exp` in seconds from now (default 2 h). */
export function fakeJwt(claims: Record<string, unknown> = {}, expInS = 7200): string {
  const iat = Math.floor(Date.now() / 1000)
  const body = { scope: 'com.atproto.access', sub: 'did:plc:alice', iat, exp: iat + expInS, n: ++counter, ...claims }
  return `${b64url({ typ: 'at+jwt', alg: 'HS256' })}.${b64url(body)}.c2lnbmF0dXJl`
}

export const DID = 'did:plc:alice234567abcdefghijklm' as const
export const SERVICE = 'https://entryway.example'
export const PDS = 'https://pds.example'

export function didDoc(pds: string = PDS, did: string = DID): Record<string, unknown> {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: did,
    alsoKnownAs: ['at://alice.example'],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  }
}

/** A createSession / refreshSession body with fresh tokens. */
export function sessionData(overrides: Partial<SessionData> = {}): SessionData {
  return {
    accessJwt: fakeJwt({ sub: DID }),
    refreshJwt: fakeJwt({ scope: 'com.atproto.refresh', sub: DID }, 90 * 86400),
    did: DID,
    handle: 'alice.example',
    email: 'alice@example.com',
    emailConfirmed: true,
    didDoc: didDoc(),
    active: true,
    ...overrides,
  }
}

export function session(overrides: Partial<Session> = {}, data: Partial<SessionData> = {}): Session {
  return {
    data: sessionData(data),
    refreshedAt: new Date().toISOString(),
    pdsUrl: PDS,
    service: SERVICE,
    ...overrides,
  }
}

export const xrpcError = (error: string, message = error) => ({ error, message })
export const JSON_HEADERS = { 'content-type': 'application/json' }
