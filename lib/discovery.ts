import { DidResolverCommon } from '@atproto-labs/did-resolver'
import { AtprotoHandleResolver, type ResolveTxt } from '@atproto-labs/handle-resolver'
import type { FetchLike } from './fetch.ts'
import { isDid, pdsEndpoint } from './session.ts'

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

/** The account's identity could not be resolved to a PDS. */
export class DiscoveryError extends Error {
  override name = 'DiscoveryError'
}

/**
 * Finds the PDS to log in to from a handle or a DID: handle → DID (DNS TXT
 * `_atproto.<handle>` or `https://<handle>/.well-known/atproto-did`), DID →
 * DID document (did:plc via the PLC directory, did:web), document → its
 * `#atproto_pds` endpoint (checked like every PDS endpoint). For a handle the
 * document must claim it back (`alsoKnownAs`).
 */
export async function discoverService(
  identifier: string,
  options: DiscoveryOptions = {},
): Promise<{ did: string; service: string }> {
  if (typeof identifier !== 'string' || !identifier) {
    throw new TypeError('"identifier" must be a non-empty string')
  }
  if (identifier.includes('@') && !identifier.startsWith('@')) {
    throw new TypeError('"service" is required to log in with an email address (only a handle or a DID leads to a PDS)')
  }
  const fetch = (options.fetch ?? globalThis.fetch) as typeof globalThis.fetch
  let did: string | null
  let handle: string | undefined
  if (identifier.startsWith('did:')) {
    if (!isDid(identifier)) throw new TypeError('"identifier" is not a valid DID')
    did = identifier
  } else {
    handle = identifier.replace(/^@/, '').toLowerCase()
    const resolver = new AtprotoHandleResolver({ fetch, resolveTxt: options.resolveTxt ?? nodeResolveTxt })
    did = await resolver.resolve(handle)
    if (!did) throw new DiscoveryError(`the handle ${handle} does not resolve to a DID`)
  }
  const resolver = new DidResolverCommon({ fetch, plcDirectoryUrl: options.plcDirectoryUrl })
  const doc = await resolver.resolve(did as `did:plc:${string}`).catch((err: unknown) => {
    throw new DiscoveryError(`could not resolve the DID document of ${did}`, { cause: err })
  })
  if (handle && !doc.alsoKnownAs?.includes(`at://${handle}`)) {
    throw new DiscoveryError(`the DID document of ${did} does not claim the handle ${handle}`)
  }
  const endpoint = pdsEndpoint(doc, did)
  if (!endpoint.url) throw new DiscoveryError(`no usable PDS for ${did}: ${endpoint.warning}`)
  return { did, service: endpoint.url }
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
