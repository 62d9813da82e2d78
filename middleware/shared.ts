import { parseUrl } from '../lib/core/parse-url.ts'
import { inputUrl, xrpcMethod } from '../lib/core/request.ts'

/** The request's HTTP method, upper-cased (`GET` when none is given). */
export function requestMethod(input: string | URL | Request, init?: RequestInit): string {
  return (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
}

/**
 * The NSID of an XRPC request (a `/xrpc/<nsid>` path or absolute URL), else
 * `undefined`. `input` as `pinInput` left it: the caller forwards that value.
 */
export function requestNsid(input: string | URL | Request): string | undefined {
  const raw = inputUrl(input)
  if (raw === undefined) return undefined
  if (raw.startsWith('/') && !raw.startsWith('//')) return xrpcMethod(raw)
  const url = parseUrl(raw)
  return url ? xrpcMethod(url.pathname) : undefined
}

/** Discards a response we will not return, releasing its connection. */
export async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {})
}
