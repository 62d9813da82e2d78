import { arrayOf, check, checkOptions, func, type Rule } from '../lib/core/check.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { inputHeaders, pinInput } from '../lib/core/request.ts'
import { isDid } from '../lib/core/session.ts'
import { requestNsid } from './shared.ts'

/** The options of {@link serviceProxy}. */
export type ServiceProxyOptions = {
  /** Which XRPC methods get the header (default: every XRPC request), e.g. `(nsid) => nsid.startsWith('app.bsky.')`. */
  only?: (nsid: string) => boolean
}

const RULES: Record<keyof ServiceProxyOptions, Rule> = { only: func }

/** A DID service id: URI-unreserved characters only, so nothing can break out of a header. */
const SERVICE_ID = /^[a-zA-Z0-9._~-]+$/

/**
 * Sets `atproto-proxy: <did>#<service-id>` on XRPC requests, so the PDS
 * forwards the ones it does not answer itself (e.g. `app.bsky.*` to
 * `did:web:api.bsky.app#bsky_appview`) with a service token of its own. It
 * changes no URL and no credential; a request that already names a proxy
 * keeps it, and non-XRPC requests are left alone.
 */
export function serviceProxy(service: string, options: ServiceProxyOptions = {}): Middleware {
  check('serviceProxy', 'service', service, [
    isServiceRef,
    'be "<did>#<service-id>", e.g. "did:web:api.bsky.app#bsky_appview"',
  ])
  checkOptions('serviceProxy', options, RULES)
  return withHeader('atproto-proxy', service, options.only)
}

/** The options of {@link acceptLabelers} (the same as {@link serviceProxy}'s). */
export type AcceptLabelersOptions = ServiceProxyOptions

/**
 * Sets `atproto-accept-labelers: <did>[;redact], …` on XRPC requests: the
 * labelers whose labels the appview should apply (`;redact` asks it to
 * remove what they flag, as app labelers do). A request that already names
 * its labelers keeps them; non-XRPC requests are left alone.
 *
 * @example
 * ```ts
 * acceptLabelers(['did:plc:ar7c4by46qjdydhdevvrndac;redact', 'did:plc:my-labeler'])
 * ```
 */
export function acceptLabelers(labelers: readonly string[], options: AcceptLabelersOptions = {}): Middleware {
  check(
    'acceptLabelers',
    'labelers',
    labelers,
    arrayOf([isLabelerRef, 'be a DID, optionally followed by ";redact"'], 'be an array of DIDs'),
  )
  checkOptions('acceptLabelers', options, RULES)
  if (labelers.length === 0) return (next) => next // nothing to ask for: the appview's defaults
  return withHeader('atproto-accept-labelers', [...new Set(labelers)].join(', '), options.only)
}

function withHeader(name: string, value: string, only: ((nsid: string) => boolean) | undefined): Middleware {
  return (next) => async (given, init) => {
    // The header goes only where the NSID was read.
    const input = pinInput(given)
    const nsid = requestNsid(input)
    if (nsid === undefined || (only && !only(nsid))) return next(input, init)
    const headers = inputHeaders(input, init)
    if (headers.has(name)) return next(input, init)
    headers.set(name, value)
    return next(input, { ...init, headers })
  }
}

function isServiceRef(value: unknown): boolean {
  const hash = typeof value === 'string' ? value.indexOf('#') : -1
  return hash > 0 && isDid((value as string).slice(0, hash)) && SERVICE_ID.test((value as string).slice(hash + 1))
}

function isLabelerRef(value: unknown): boolean {
  return typeof value === 'string' && isDid(value.endsWith(';redact') ? value.slice(0, -';redact'.length) : value)
}
