import type { DidString } from '@atproto/lex-schema'

/** The body of a createSession / refreshSession answer, kept as the server sent it. */
export type SessionData = {
  accessJwt: string
  refreshJwt: string
  did: DidString
  handle: string
  email?: string
  emailConfirmed?: boolean
  emailAuthFactor?: boolean
  didDoc?: Record<string, unknown>
  active?: boolean
  status?: string
  [key: string]: unknown
}

/**
 * Everything needed to authenticate and to restore a session later. Plain
 * JSON: persist it with `JSON.stringify` and restore it with
 * `PasswordAgent.resume(JSON.parse(text))`. It holds the tokens, so store it
 * like a password.
 */
export type Session = {
  /** Session credentials and account info from createSession / refreshSession. */
  data: SessionData
  /** When the tokens were last issued (ISO 8601). */
  refreshedAt: string
  /** PDS origin from the DID document, used to route requests; `null` routes to `service`. */
  pdsUrl: string | null
  /** The service (entryway) the session was created on; session calls go here. */
  service: string
}

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/
const ISO_DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parses an http(s) URL, or returns `null`. Never echoes the value in errors. */
export function parseHttpUrl(value: unknown): URL | null {
  if (typeof value !== 'string' && !(value instanceof URL)) return null
  const url = URL.parse(String(value))
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return null
  return url
}

/**
 * A service URL we may send credentials to: http(s), no userinfo, no query or
 * fragment. Returns its normalised form (origin + path) or throws a TypeError
 * naming `field`.
 */
export function checkServiceUrl(value: unknown, field: string): string {
  const url = parseHttpUrl(value)
  if (!url) throw new TypeError(`"${field}" must be an http(s) URL`)
  if (url.username || url.password) {
    throw new TypeError(`"${field}" must not contain credentials`)
  }
  if (url.search || url.hash) {
    throw new TypeError(`"${field}" must not contain a query or fragment`)
  }
  return url.href
}

export function isJwtShaped(value: unknown): value is string {
  return typeof value === 'string' && value.length < 16_384 && JWT_RE.test(value)
}

export function isDid(value: unknown): value is DidString {
  return typeof value === 'string' && value.length <= 2048 && DID_RE.test(value)
}

/**
 * Checks that `value` is a usable {@link Session} and throws a TypeError that
 * names the first bad field (never its value: it may be a token).
 */
export function assertSession(value: unknown, name = 'session'): asserts value is Session {
  if (!isObject(value)) throw new TypeError(`"${name}" must be a Session object`)
  const { data } = value
  if (!isObject(data)) throw new TypeError(`"${name}.data" must be an object`)
  if (!isJwtShaped(data.accessJwt)) {
    throw new TypeError(`"${name}.data.accessJwt" must be a JWT string`)
  }
  if (!isJwtShaped(data.refreshJwt)) {
    throw new TypeError(`"${name}.data.refreshJwt" must be a JWT string`)
  }
  if (!isDid(data.did)) throw new TypeError(`"${name}.data.did" must be a DID`)
  if (typeof data.handle !== 'string' || !data.handle) {
    throw new TypeError(`"${name}.data.handle" must be a non-empty string`)
  }
  if (data.didDoc !== undefined && !isObject(data.didDoc)) {
    throw new TypeError(`"${name}.data.didDoc" must be an object when present`)
  }
  // Date.parse alone accepts "1" or "hello 1" (as 2001).
  if (
    typeof value.refreshedAt !== 'string' ||
    !ISO_DATETIME_RE.test(value.refreshedAt) ||
    Number.isNaN(Date.parse(value.refreshedAt))
  ) {
    throw new TypeError(`"${name}.refreshedAt" must be an ISO 8601 date string`)
  }
  if (value.pdsUrl !== null) checkServiceUrl(value.pdsUrl, `${name}.pdsUrl`)
  checkServiceUrl(value.service, `${name}.service`)
}

/** Outcome of reading the PDS endpoint from a DID document. */
export type PdsEndpoint = { url: string; warning?: undefined } | { url: null; warning: string }

/**
 * The PDS origin of `did`'s DID document: the `#atproto_pds` service of type
 * `AtprotoPersonalDataServer` with a bare http(s) origin as endpoint. Anything
 * else is refused with a reason, and the caller falls back to `service`.
 */
export function pdsEndpoint(didDoc: unknown, did: string): PdsEndpoint {
  if (didDoc === undefined) return { url: null, warning: 'the session has no DID document' }
  if (!isObject(didDoc)) return { url: null, warning: 'the DID document is not an object' }
  if (didDoc.id !== did) {
    return { url: null, warning: 'the DID document belongs to another DID' }
  }
  const services = Array.isArray(didDoc.service) ? didDoc.service : []
  const entry = services.find(
    (s): s is Record<string, unknown> =>
      isObject(s) && (s.id === '#atproto_pds' || s.id === `${did}#atproto_pds`),
  )
  if (!entry) return { url: null, warning: 'the DID document has no #atproto_pds service' }
  if (entry.type !== 'AtprotoPersonalDataServer') {
    return { url: null, warning: '#atproto_pds is not of type AtprotoPersonalDataServer' }
  }
  const url = parseHttpUrl(entry.serviceEndpoint)
  if (!url) return { url: null, warning: '#atproto_pds endpoint is not an http(s) URL' }
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    return {
      url: null,
      warning: '#atproto_pds endpoint must be a bare origin (no credentials, path or query)',
    }
  }
  return { url: url.origin }
}

/**
 * Helpers for saved sessions. `Session` is both this value and the type above,
 * so `import { Session } from 'lex-password-agent'` works in plain JS too.
 */
export const Session: {
  /** Throws a TypeError naming the first bad field of `value`. */
  assert(value: unknown): asserts value is Session
  /** Whether `value` is a usable Session. */
  is(value: unknown): value is Session
  /** Parses saved JSON and checks it (SyntaxError or TypeError on bad input). */
  parse(json: string): Session
} = {
  assert: (value) => assertSession(value),
  is: (value): value is Session => {
    try {
      assertSession(value)
      return true
    } catch {
      return false
    }
  },
  parse: (json) => {
    const value: unknown = JSON.parse(json)
    assertSession(value)
    return value
  },
}
