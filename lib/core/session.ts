import { isDatetimeString, isDidString, type DidString } from '@atproto/lex-schema'
import { check, fail, type Rule } from './check.ts'
import { parseUrl } from './parse-url.ts'

/** The body of a createSession / refreshSession answer, kept as the server sent it. */
export type SessionData = {
  /** The access token: a short-lived JWT (2 h on the reference PDS) sent as `Authorization: Bearer`. */
  accessJwt: string
  /** The refresh token: a long-lived JWT (90 days) for refreshSession and deleteSession. */
  refreshJwt: string
  /** The account's DID. */
  did: DidString
  /** The account's handle, as the server last said. */
  handle: string
  /** The account's email, when the server sends it. */
  email?: string
  /** Whether the email is confirmed. */
  emailConfirmed?: boolean
  /** Whether login asks for an email code (`AuthFactorTokenRequired`). */
  emailAuthFactor?: boolean
  /** The DID document, when the server sends it: where the PDS URL comes from. */
  didDoc?: Record<string, unknown>
  /** `false` for a deactivated, suspended or taken-down account. */
  active?: boolean
  /** Why the account is not active (`deactivated`, `suspended`, `takendown`). */
  status?: string
  /** Any other field the server adds, kept as sent. */
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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Parses an http(s) URL, or returns `null`. Never echoes the value in errors. */
export function parseHttpUrl(value: unknown): URL | null {
  if (typeof value !== 'string' && !(value instanceof URL)) return null
  const url = parseUrl(String(value))
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return null
  return url
}

/** A service URL we may send credentials to: http(s), no userinfo, no query or fragment. */
export const serviceUrl: Rule = [
  (value) => {
    const url = parseHttpUrl(value)
    return !!url && !url.username && !url.password && !url.search && !url.hash
  },
  'be an http(s) URL without credentials, query or fragment',
]

export function isJwtShaped(value: unknown): value is string {
  return typeof value === 'string' && value.length < 16_384 && JWT_RE.test(value)
}

/**
 * A DID (atproto syntax, at most 2 KiB; the rule of lex-schema's `isDidString`).
 * Kept here: lex-schema's would bring all of `@atproto/syntax` (no
 * `sideEffects: false`) into middlewares bundled without lex-client, such as
 * `serviceProxy`. ({@link assertSession}, bundled with lex-client anyway, uses
 * lex-schema's own.)
 */
export function isDid(value: unknown): value is DidString {
  return typeof value === 'string' && value.length <= 2048 && DID_RE.test(value)
}

/**
 * Checks that `value` is a usable {@link Session} and throws a TypeError that
 * names the first bad field (never its value: it may be a token). Data, not
 * options: servers add fields, so unknown ones are kept.
 */
export function assertSession(value: unknown, where = 'Session', name = 'session'): asserts value is Session {
  const must = (ok: unknown, field: string, what: string) => ok || fail(where, name + field, what)
  must(isObject(value), '', 'be a Session object')
  const { data, refreshedAt, pdsUrl, service } = value as Record<string, unknown>
  must(isObject(data), '.data', 'be an object')
  const { accessJwt, refreshJwt, did, handle, didDoc } = data as Record<string, unknown>
  must(isJwtShaped(accessJwt), '.data.accessJwt', 'be a JWT')
  must(isJwtShaped(refreshJwt), '.data.refreshJwt', 'be a JWT')
  must(isDidString(did), '.data.did', 'be a DID')
  must(typeof handle === 'string' && handle, '.data.handle', 'be a non-empty string')
  must(didDoc === undefined || isObject(didDoc), '.data.didDoc', 'be an object')
  // Atproto's datetime (lex-schema's check): Date.parse alone accepts "1" or "hello 1" (as 2001).
  must(isDatetimeString(refreshedAt), '.refreshedAt', 'be an ISO 8601 date')
  if (pdsUrl !== null) check(where, `${name}.pdsUrl`, pdsUrl, serviceUrl)
  check(where, `${name}.service`, service, serviceUrl)
}

/** Outcome of reading the PDS endpoint from a DID document. */
export type PdsEndpoint = { url: string; warning?: undefined } | { url: null; warning: string }

/**
 * The PDS origin of `did`'s DID document: the `#atproto_pds` service of type
 * `AtprotoPersonalDataServer` with a bare http(s) origin as endpoint. Anything
 * else is refused with a reason, and the caller falls back to `service`.
 */
export function pdsEndpoint(didDoc: unknown, did: string): PdsEndpoint {
  const refused = (warning: string): PdsEndpoint => ({ url: null, warning: `the DID document ${warning}` })
  if (!isObject(didDoc) || didDoc.id !== did) return refused('is missing or of another DID')
  const services = Array.isArray(didDoc.service) ? didDoc.service : []
  const entry = services.find(
    (s): s is Record<string, unknown> => isObject(s) && (s.id === '#atproto_pds' || s.id === `${did}#atproto_pds`),
  )
  if (entry?.type !== 'AtprotoPersonalDataServer')
    return refused('has no #atproto_pds of type AtprotoPersonalDataServer')
  const url = parseHttpUrl(entry.serviceEndpoint)
  if (!url || url.username || url.password || url.search || url.hash || url.pathname !== '/') {
    return refused('gives no bare http(s) origin for #atproto_pds')
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
