import type { Middleware } from '../lib/core/fetch.ts'
import { parseUrl } from '../lib/core/parse-url.ts'
import {
  accessTokenAllowed,
  accessTokenAllowedFor,
  inputHeaders,
  inputRedirect,
  inputSignal,
  inputUrl,
  isReplayable,
} from '../lib/core/request.ts'
import type { SessionSource } from '../lib/core/session-holder.ts'
import type { Session } from '../lib/core/session.ts'
import { checkSessionOptions, stepMiddleware, withSessionStep, type Next } from './options.ts'
import { requestMethod } from './shared.ts'

/** The options of {@link authHeader}. */
export type AuthHeaderOptions = {
  /** The session whose access token is attached. */
  session: SessionSource
}

const MAX_REDIRECTS = 20
const isRedirect = (status: number) =>
  status === 301 || status === 302 || status === 303 || status === 307 || status === 308

/**
 * Whether this runtime's fetch takes `redirect: 'error'`: workerd refuses it by
 * design ("use 'manual' and check the response status code"), in its Request
 * constructor as in fetch. A feature test, run only for stream uploads.
 */
function redirectErrorWorks(): boolean {
  try {
    new Request('http://localhost/', { redirect: 'error' })
    return true
  } catch {
    return false
  }
}

/**
 * Adds `Authorization: Bearer <accessJwt>`, but only to absolute URLs on the
 * session's own origins (the PDS; the service for session methods). A request
 * that already has an `Authorization` header keeps the caller's and gets none
 * of ours. Place it after `routeToPds` so paths are already absolute.
 *
 * Redirects of an authenticated request are followed here, not by the fetch
 * below it, so the token goes only to hops that may see it, whatever fetch
 * implementation is underneath. An authenticated stream upload is sent with
 * `redirect: 'error'` (a redirect fails it) so that nothing buffers the body;
 * where the runtime refuses that mode (workerd), with `'manual'`, and a
 * redirect fails it all the same.
 */
export function authHeader(options: AuthHeaderOptions): Middleware {
  const { session } = checkSessionOptions('authHeader', options)
  return stepMiddleware({ session }, authHeaderStep)
}

/** {@link authHeader}'s work for one request, shared by every chain (`c.session` the session). */
export function authHeaderStep<C extends { readonly session: SessionSource }>(
  c: C,
  next: Next<C>,
  given: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  // The URL checked is the one sent: the pinned input is what goes on.
  return withSessionStep(c, next, given, init, attach)
}

function attach<C>(
  c: C,
  next: Next<C>,
  current: Session,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const headers = inputHeaders(input, init)
  if (headers.has('authorization')) return Promise.resolve(next(c, input, init))
  // What routeToPds hands on ("<origin>/…") is checked without a URL parse.
  const href = inputUrl(input)
  if (href === undefined || !accessTokenAllowedFor(current, href)) return Promise.resolve(next(c, input, init))
  headers.set('authorization', `Bearer ${current.data.accessJwt}`)

  const mode = inputRedirect(input, init)
  if (mode !== 'follow') return Promise.resolve(next(c, input, { ...init, headers }))
  // A stream body cannot follow a redirect anyway, and any mode but 'error'
  // makes Node's fetch keep the whole body in memory in case it has to
  // (nodejs/undici#4058): a 100 MB upload would cost 100 MB. Where 'error'
  // is refused (workerd), 'manual', and a redirect fails the upload as 'error' would.
  const stream = !isReplayable(input, init)
  const redirect = stream && redirectErrorWorks() ? 'error' : 'manual'
  return Promise.resolve(next(c, input, { ...init, headers, redirect })).then((res) => {
    if (res.type !== 'opaqueredirect' && !isRedirect(res.status)) return res
    if (!stream) return follow(c, next, current, href, headers, res, input, init)
    void res.body?.cancel().catch(() => {})
    throw new TypeError(`authHeader: a stream upload was redirected (${res.status}), which it does not follow`)
  })
}

async function follow<C>(
  c: C,
  next: Next<C>,
  current: Session,
  href: string,
  headers: Headers,
  res: Response,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  // A browser hides manual redirects (opaqueredirect); its own follow drops
  // Authorization across origins as the fetch standard requires.
  if (res.type === 'opaqueredirect') return next(c, input, { ...init, headers })

  let url = new URL(href)
  let method = requestMethod(input, init)
  let body = init?.body
  // Hops are fetched by URL: keep a Request input's signal (ky's timeout) on them.
  const signal = inputSignal(input, init)
  for (let hops = 0; isRedirect(res.status) && hops < MAX_REDIRECTS; hops++) {
    const location = parseUrl(res.headers.get('location') ?? '', url)
    if (!location || (location.protocol !== 'https:' && location.protocol !== 'http:')) return res
    if (res.status === 303 ? method !== 'HEAD' : res.status <= 302 && method === 'POST') {
      method = method === 'HEAD' ? 'HEAD' : 'GET'
      body = undefined
      headers.delete('content-type')
      headers.delete('content-length')
    } else if (!isReplayable(input, { ...init, body })) {
      return res // a stream body cannot follow a 307/308
    }
    if (!accessTokenAllowed(current, location)) headers.delete('authorization')
    await res.body?.cancel().catch(() => {})
    url = location
    res = await next(c, location.href, { ...init, method, body, headers, redirect: 'manual', signal })
  }
  return res
}
