import { DidResolverCommon } from '@atproto-labs/did-resolver'
import { AtprotoHandleResolver, type ResolveTxt } from '@atproto-labs/handle-resolver'
import { check, checkOptions, fail, func, isObject, string, type Rule } from './core/check.ts'
import { DiscoveryError } from './core/errors.ts'
import type { FetchLike } from './core/fetch.ts'
import { limitBody } from './core/limit-body.ts'
import { inputSignal } from './core/request.ts'
import { isDid, pdsEndpoint, serviceUrl } from './core/session.ts'

/** Options for finding an account's PDS from its handle or DID. */
export type DiscoveryOptions = {
  /** Fetch for the well-known handle lookup and the DID document (default: global fetch). */
  fetch?: FetchLike
  /** PLC directory for `did:plc` documents (default `https://plc.directory`). */
  plcDirectoryUrl?: string | URL
  /**
   * DNS TXT lookup for `_atproto.<handle>` (return `null` when there is no
   * record). Default: `node:dns` on Node; elsewhere only the well-known
   * HTTPS lookup is used.
   */
  resolveTxt?: ResolveTxt
}

/** {@link DiscoveryOptions}, checked before any lookup. */
const RULES: Record<keyof DiscoveryOptions, Rule> = { fetch: func, plcDirectoryUrl: serviceUrl, resolveTxt: func }

/** A handle (atproto syntax): dot-separated DNS labels, a TLD that starts with a letter, at most 253 characters. */
const HANDLE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/
/** Longest wait for one discovery request (headers and body). */
const REQUEST_TIMEOUT_MS = 10_000
/** Most bytes read from one answer (a DID document is a few KiB; a well-known answer one line). */
const MAX_ANSWER_BYTES = 128 * 1024

export { DiscoveryError }

/** What to do when a handle leads nowhere. */
const CHECK_HANDLE = 'check the handle, or log in with the DID or give "service"'

/** The URL a discovery request goes to, for messages. */
const url = (input: string | URL | Request) => (input instanceof Request ? input.url : String(input))

/**
 * Finds the PDS to log in to from a handle or a DID: handle → DID (DNS TXT
 * `_atproto.<handle>` or `https://<handle>/.well-known/atproto-did`), DID →
 * DID document (did:plc via the PLC directory, did:web), document → its
 * `#atproto_pds` endpoint (checked like every PDS endpoint). For a handle the
 * document must claim it back (`alsoKnownAs`). Pass it to
 * `PasswordAgent.login({ identifier, password, resolveService: discoverService })`
 * to log in by handle or DID, or pass the `service` it finds.
 */
export async function discoverService(
  identifier: string,
  options: DiscoveryOptions = {},
): Promise<{
  /** The account's DID. */
  did: string
  /** The PDS URL from the DID document: pass it to `login` as `service`. */
  service: string
}> {
  checkOptions('discoverService', options, RULES)
  check('discoverService', 'identifier', identifier, string)
  if (identifier.includes('@') && !identifier.startsWith('@')) {
    fail('discoverService', 'identifier', 'be a handle or a DID (to log in with an email, give "service")')
  }
  const fetch = bounded(options.fetch ?? ((input, init) => globalThis.fetch(input, init)))
  let did: string | null
  let handle: string | undefined
  if (identifier.startsWith('did:')) {
    if (!isDid(identifier)) fail('discoverService', 'identifier', 'be a valid DID')
    did = identifier
  } else {
    handle = identifier.replace(/^@/, '').toLowerCase()
    // Before any lookup: the handle becomes a hostname (DNS and https://<handle>/).
    if (handle.length > 253 || !HANDLE.test(handle)) {
      fail('discoverService', 'identifier', 'be a handle (e.g. alice.bsky.social) or a DID')
    }
    const resolver = new AtprotoHandleResolver({ fetch, resolveTxt: options.resolveTxt ?? nodeResolveTxt })
    did = await resolver.resolve(handle)
    if (!did) {
      throw new DiscoveryError(
        `the handle ${handle} does not resolve to a DID (no DNS TXT _atproto.${handle}, no https://${handle}/.well-known/atproto-did): ${CHECK_HANDLE}`,
      )
    }
  }
  const resolver = new DidResolverCommon({ fetch, plcDirectoryUrl: options.plcDirectoryUrl })
  const doc = await resolver.resolve(did as `did:plc:${string}`).catch((err: unknown) => {
    const reason = reasonOf(err)
    throw new DiscoveryError(
      `could not resolve the DID document of ${did}${reason ? ` (${reason})` : ''}: check the DID and the network, or give "service"`,
      { cause: err },
    )
  })
  // Handles are case-insensitive: a document may spell it with capitals.
  if (handle && !doc.alsoKnownAs?.some((aka) => aka.toLowerCase() === `at://${handle}`)) {
    throw new DiscoveryError(`the DID document of ${did} does not claim the handle ${handle}: ${CHECK_HANDLE}`)
  }
  const endpoint = pdsEndpoint(doc, did)
  if (!endpoint.url) throw new DiscoveryError(`no usable PDS for ${did}: ${endpoint.warning}; give "service"`)
  return { did, service: endpoint.url }
}

/**
 * Why a lookup failed, in a few words for a message: our own timeout or size
 * error if it is the cause, else the deepest cause's message when it is one
 * short line (a schema check's is a JSON dump: left to `cause`).
 */
function reasonOf(err: unknown): string | undefined {
  let reason: string | undefined
  for (let e = err, depth = 0; isObject(e) && depth < 5; e = e.cause, depth++) {
    if (e instanceof DiscoveryError) return e.message
    const { message } = e
    if (typeof message === 'string' && message && message.length <= 120 && !/[\n[{]/.test(message)) reason = message
  }
  return reason
}

/**
 * The discovery fetch: each request is aborted after {@link REQUEST_TIMEOUT_MS}
 * (body included), and an answer larger than {@link MAX_ANSWER_BYTES} is cut
 * off with an error, so a slow or hostile host can neither hang a login nor
 * fill memory.
 */
function bounded(fetch: FetchLike): typeof globalThis.fetch {
  return async (input, init) => {
    const timeout = new AbortController()
    const timer = setTimeout(
      () => timeout.abort(new DiscoveryError(`${url(input)} gave no answer within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    )
    ;(timer as { unref?: () => void }).unref?.()
    const own = inputSignal(input, init)
    const signal = own ? AbortSignal.any([own, timeout.signal]) : timeout.signal
    let res: Response
    try {
      res = await fetch(input, { ...init, signal })
    } catch (err) {
      clearTimeout(timer)
      throw err
    }
    const tooLarge = () => new DiscoveryError(`${url(input)} answered with more than ${MAX_ANSWER_BYTES} bytes`)
    return limitBody(res, MAX_ANSWER_BYTES, tooLarge, () => clearTimeout(timer))
  }
}

/** `node:dns` TXT lookup where it exists (hidden from bundlers: browsers skip DNS). */
const nodeResolveTxt: ResolveTxt = async (hostname) => {
  const specifier = 'node:dns/promises'
  let dns: { resolveTxt(h: string): Promise<string[][]> }
  try {
    dns = await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)
  } catch {
    return null
  }
  try {
    return (await dns.resolveTxt(hostname)).map((chunks) => chunks.join(''))
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'ETIMEOUT' || code === 'ESERVFAIL') return null
    throw err
  }
}
