import { inputError } from '../lib/core/errors.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { inputHeaders, pinInput } from '../lib/core/request.ts'
import { isDid } from '../lib/core/session.ts'
import { requestNsid } from './shared.ts'

export type ServiceProxyOptions = {
  /** Which XRPC methods get the header (default: every XRPC request), e.g. `(nsid) => nsid.startsWith('app.bsky.')`. */
  only?: (nsid: string) => boolean
}

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
  if (typeof service !== 'string' || !isServiceRef(service)) {
    throw inputError('serviceProxy: "service" must be "<did>#<service-id>", e.g. "did:web:api.bsky.app#bsky_appview"')
  }
  const only = checkOnly('serviceProxy', options)
  return withHeader('atproto-proxy', service, only)
}

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
  if (!Array.isArray(labelers)) {
    throw inputError('acceptLabelers: "labelers" must be an array of DIDs')
  }
  labelers.forEach((labeler, i) => {
    if (typeof labeler !== 'string' || !isLabelerRef(labeler)) {
      throw inputError(`acceptLabelers: "labelers[${i}]" must be a DID, optionally followed by ";redact"`)
    }
  })
  const only = checkOnly('acceptLabelers', options)
  if (labelers.length === 0) return (next) => next // nothing to ask for: the appview's defaults
  return withHeader('atproto-accept-labelers', [...new Set(labelers)].join(', '), only)
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

function isServiceRef(value: string): boolean {
  const hash = value.indexOf('#')
  return hash > 0 && isDid(value.slice(0, hash)) && SERVICE_ID.test(value.slice(hash + 1))
}

function isLabelerRef(value: string): boolean {
  return isDid(value.endsWith(';redact') ? value.slice(0, -';redact'.length) : value)
}

function checkOnly(factory: string, options: ServiceProxyOptions): ServiceProxyOptions['only'] {
  if (typeof options !== 'object' || options === null) {
    throw inputError(`${factory}: options must be an object`)
  }
  if (options.only !== undefined && typeof options.only !== 'function') {
    throw inputError(`${factory}: "only" must be a function (nsid) => boolean`)
  }
  return options.only
}
