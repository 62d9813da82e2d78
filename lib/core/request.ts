import { fail } from './check.ts'
import { limitBody } from './limit-body.ts'
import { canParseUrl, parseUrl } from './parse-url.ts'
import type { Session } from './session.ts'

/**
 * `new URL(url).origin`, memoised: a session's PDS and service URLs are parsed
 * once, not on every request (they were most of the preset's per-request CPU).
 * The cache is keyed by the string itself, so a changed session is never stale.
 */
const origins = new Map<string, string>()
export function originOf(url: string): string {
  let origin = origins.get(url)
  if (origin === undefined) {
    origin = new URL(url).origin
    if (origins.size >= 32) origins.clear()
    origins.set(url, origin)
  }
  return origin
}

/** The origin requests to the PDS go to: `pdsUrl`, else `service`. */
const pdsOriginOf = (session: Session) => originOf(session.pdsUrl ?? session.service)

/**
 * The Request class and its own `url` and `redirect` getters, captured at load.
 * Those getters read the state `fetch` uses: an own property defined on a
 * Request, or a getter in a subclass, cannot make them say something else.
 */
const NativeRequest = Request
const requestGetter = (name: 'url' | 'redirect') => Object.getOwnPropertyDescriptor(NativeRequest.prototype, name)!.get!
const requestUrl = requestGetter('url') as (this: Request) => string
const requestRedirect = requestGetter('redirect') as (this: Request) => RequestRedirect

/**
 * The input as `fetch` will read it, fixed once: a string or a Request as
 * they are, anything else (URL, URL subclass, URL-like object) as
 * `String(input)`, which is what fetch itself would use. A middleware that
 * decides from the URL forwards this value, so a `toString` or `href` that
 * says one thing to the check and another to fetch gets no say.
 *
 * An object whose string is neither a URL nor a path (a Request from another
 * realm or library, which only its own fetch understands) is passed on as it
 * is: {@link inputUrl} then knows no URL for it, so it gets no token and no
 * routing.
 */
export function pinInput(input: string | URL | Request): string | URL | Request {
  if (typeof input === 'string' || input instanceof NativeRequest) return input
  if (typeof input !== 'object' || input === null) fail('fetch', 'input', 'be a URL string, a URL or a Request')
  const href = String(input)
  return href[0] === '/' || canParseUrl(href) ? href : input
}

/**
 * The URL a {@link pinInput pinned} input goes to (may be a path): a string
 * as given, a Request's through the Request getter. `undefined` for anything
 * else: an unpinned object could answer differently the next time it is asked.
 */
export function inputUrl(input: string | URL | Request): string | undefined {
  if (typeof input === 'string') return input
  return input instanceof NativeRequest ? requestUrl.call(input) : undefined
}

/** The redirect mode of a pinned input: `init.redirect`, else the Request's own (read as fetch will). */
export function inputRedirect(input: string | URL | Request, init?: RequestInit): RequestRedirect {
  return init?.redirect ?? (input instanceof NativeRequest ? requestRedirect.call(input) : 'follow')
}

/** The headers a request will carry: the Request's own, overridden by `init.headers`. */
export function inputHeaders(input: string | URL | Request, init?: RequestInit): Headers {
  if (init?.headers !== undefined) return new Headers(init.headers)
  return new Headers(input instanceof Request ? input.headers : undefined)
}

/** The `signal` that governs a request. */
export function inputSignal(input: string | URL | Request, init?: RequestInit) {
  return init?.signal ?? (input instanceof Request ? input.signal : undefined)
}

/** The NSID of an `/xrpc/<nsid>` path or URL pathname, else `undefined`. */
export function xrpcMethod(pathname: string): string | undefined {
  return /^\/xrpc\/([a-zA-Z0-9.-]+)(?:[?#]|$)/.exec(pathname)?.[1]
}

/**
 * A path or pathname that calls one of the session methods (create, refresh,
 * get, deleteSession), whose requests always go to the session's `service`
 * (the entryway): the whole NSID, then the end, a query or a fragment.
 * Spelled out rather than read from lib/core/lexicons.ts: that would pull
 * lex-schema into every middleware's bundle. A spec checks it against the schemas.
 */
const SESSION_METHOD = /^\/xrpc\/com\.atproto\.server\.(?:create|refresh|get|delete)Session(?:[?#]|$)/

/**
 * Whether a path or pathname calls one of the session methods (see
 * {@link SESSION_METHOD}). They all live under `com.atproto.server.`, so every
 * other path skips the regex.
 */
export function isSessionMethod(pathname: string): boolean {
  return pathname.startsWith('/xrpc/com.atproto.server.') && SESSION_METHOD.test(pathname)
}

/**
 * Where a lex-client path goes: session methods to the service (entryway),
 * everything else to the PDS. The path is appended to the origin, never
 * resolved with `new URL(path, base)`, so `//host`, `\host` or `@host` tricks
 * stay on our origin.
 */
export function routePath(session: Session, path: string): string {
  if (!path.startsWith('/')) fail('routeToPds', 'path', 'start with "/" (or be an absolute URL)')
  // After "<origin>/" nothing can change the authority: no parse needed to be sure.
  return (isSessionMethod(path) ? originOf(session.service) : pdsOriginOf(session)) + path
}

/**
 * Whether a request to `url` may carry the access token: app requests to the
 * PDS, session methods to the service. Nothing else, ever.
 */
export function accessTokenAllowed(session: Session, url: URL): boolean {
  if (url.username || url.password) return false
  // `blob:https://pds…` has the PDS as its origin but is no request to it.
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false
  const origin = url.origin
  if (origin === pdsOriginOf(session)) return true
  return origin === originOf(session.service) && isSessionMethod(url.pathname)
}

/**
 * Whether our middlewares will attach the access token to this request: the
 * caller set no `Authorization` of their own, and it goes (or will be routed)
 * to one of the session's origins. `input` as {@link pinInput} left it.
 */
export function carriesAccessToken(session: Session, input: string | URL | Request, init?: RequestInit): boolean {
  if (inputHeaders(input, init).has('authorization')) return false
  const raw = inputUrl(input)
  if (raw === undefined) return false // authHeader sends no token where it cannot tell the URL
  if (raw.startsWith('/')) return true // routeToPds pins paths to our origins
  return accessTokenAllowedFor(session, raw)
}

/**
 * {@link accessTokenAllowed} for a URL string, without parsing it when it
 * plainly starts with one of the session's origins followed by "/" (the
 * authority ends there, so the origin is certain); else parsed.
 */
export function accessTokenAllowedFor(session: Session, href: string): boolean {
  const pds = pdsOriginOf(session)
  if (href.startsWith(pds) && href[pds.length] === '/') return true
  const service = originOf(session.service)
  if (href.startsWith(service) && href[service.length] === '/') return isSessionMethod(href.slice(service.length))
  const url = parseUrl(href)
  return !!url && accessTokenAllowed(session, url)
}

/** Whether the request body can be sent a second time. */
export function isReplayable(input: string | URL | Request, init?: RequestInit): boolean {
  const body = init?.body !== undefined ? init.body : input instanceof Request ? input.body : null
  if (body == null) return true
  if (input instanceof Request && init?.body === undefined) return false // stream already consumed
  if (body instanceof ReadableStream) return false
  return !(typeof body === 'object' && Symbol.asyncIterator in body)
}

/**
 * The XRPC `error` code of a small JSON error response, read from a clone
 * without buffering more than `maxBytes`. `undefined` for anything else.
 */
export async function peekErrorCode(res: Response, maxBytes = 16 * 1024): Promise<string | undefined> {
  const type = res.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json' || !res.body || res.bodyUsed) return undefined
  try {
    // A larger clone is refused by its Content-Length or cut off once past the limit (and cancelled).
    const json: unknown = await (await limitBody(res.clone(), maxBytes, () => new RangeError('too large'))).json()
    const error = (json as { error?: unknown } | null)?.error
    return typeof error === 'string' ? error : undefined
  } catch {
    return undefined
  }
}
