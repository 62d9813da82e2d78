import { arrayOf, checkOptions, func, type Rule } from '../lib/core/check.ts'
import { codeOf } from '../lib/core/errors.ts'
import type { Middleware } from '../lib/core/fetch.ts'
import { parseUrl } from '../lib/core/parse-url.ts'
import { inputUrl, pinInput } from '../lib/core/request.ts'
import { requestMethod } from './shared.ts'

/** What `logger` reports about one request. Never headers or bodies. */
export type LoggerEntry = {
  /** The HTTP method, upper-cased. */
  method: string
  /** The URL with credentials removed: userinfo and sensitive query values read `***`, no fragment. */
  url: string
  /** The answer's status; `undefined` when the request failed. */
  status: number | undefined
  /** How it failed: the error's name and code (e.g. `TypeError ECONNREFUSED`), never its message. */
  error: string | undefined
  /** Milliseconds until the answer's headers (or the failure). */
  ms: number
}

/** The options of {@link logger}. */
export type LoggerOptions = {
  /**
   * Receives one line per request, e.g. `GET https://pds.example/xrpc/…?limit=5 200 31ms`,
   * and the same as an object (default: the line to `console.log`).
   */
  log?: (line: string, entry: LoggerEntry) => void
  /** More query parameter names whose values are hidden (case-insensitive), beyond tokens, passwords, keys, codes, signatures and any JWT-shaped value. */
  redactParams?: readonly string[]
}

/** Query parameters that carry secrets in the wild: tokens, passwords, API keys, OAuth codes, signed-URL signatures. */
const SENSITIVE_PARAM =
  /token|secret|passw|^pass$|^pw$|pwd|jwt|^auth(orization)?$|session|credential|signature|^sig$|api[-_]?key|^key$|^code$/i
/** A JWT (header.payload.signature, base64url, header opening with `{"`), hidden whatever its parameter is called. */
const JWT_VALUE = /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/
const MAX_URL_CHARS = 2048
const RELATIVE_BASE = 'http://relative.invalid'

const RULES: Record<keyof LoggerOptions, Rule> = {
  log: func,
  // Any string, '' included.
  redactParams: arrayOf([(v) => typeof v === 'string', 'be a string'], 'be an array of strings'),
}

/**
 * Logs each request that passes through it: method, URL (credentials
 * redacted), status or failure, and the time to the answer's headers. Headers
 * and bodies are never logged, nor error messages (they can quote a URL with
 * its credentials). A throwing `log` never fails the request.
 *
 * Placed inside `PasswordAgent` (its `fetch` option) it sees every attempt,
 * refreshes and retries included; wrapping `agent.fetch`, one line per call.
 */
export function logger(options: LoggerOptions = {}): Middleware {
  checkOptions('logger', options, RULES)
  // console.log is looked up per line, so a spy or redirect installed later is honoured.
  const { log = (line: string) => console.log(line), redactParams = [] } = options
  const extra = new Set(redactParams.map((p) => p.toLowerCase()))
  const sensitive = (name: string) => SENSITIVE_PARAM.test(name) || extra.has(name.toLowerCase())

  return (next) => async (given, init) => {
    // The URL logged is the one passed on, even if the input's toString would change its mind.
    const input = pinInput(given)
    const method = requestMethod(input, init)
    const href = inputUrl(input)
    const url = href === undefined ? '[unknown URL]' : redactUrl(href, sensitive)
    const start = performance.now()
    const report = (status: number | undefined, error: string | undefined) => {
      const ms = Math.round(performance.now() - start)
      const entry: LoggerEntry = { method, url, status, error, ms }
      try {
        const result: unknown = log(`${method} ${url} ${status ?? `failed: ${error}`} ${ms}ms`, entry)
        // An async log that rejects would otherwise be an unhandled rejection (fatal in Node).
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
          ;(result as PromiseLike<unknown>).then(undefined, () => {})
        }
      } catch {
        // The log is an observer: its failure is not the request's.
      }
    }
    let res: Response
    try {
      res = await next(input, init)
    } catch (error) {
      report(undefined, describeError(error))
      throw error
    }
    report(res.status, undefined)
    return res
  }
}

/**
 * A URL fit for logs: userinfo and the values of sensitive query parameters
 * replaced by `***`, the fragment dropped, the rest as given. A path stays a
 * path.
 */
export function redactUrl(raw: string, sensitive: (name: string) => boolean = (n) => SENSITIVE_PARAM.test(n)): string {
  const absolute = parseUrl(raw)
  const url = absolute ?? parseUrl(raw, RELATIVE_BASE)
  if (!url) return '[invalid URL]'
  if (url.username) url.username = '***'
  if (url.password) url.password = '***'
  const query = url.search
    .slice(1)
    .split('&')
    .map((pair) => {
      const name = pair.split('=', 1)[0]!
      if (pair.length === name.length) return pair
      const hidden = sensitive(safeDecode(name)) || JWT_VALUE.test(safeDecode(pair.slice(name.length + 1)))
      return hidden ? `${name}=***` : pair
    })
    .join('&')
  url.hash = ''
  url.search = ''
  // A path stays a path; `//host/…` (protocol-relative) names a host: shown in full.
  const base = !absolute && url.origin === RELATIVE_BASE ? url.pathname : url.href
  const line = query ? `${base}?${query}` : base
  return line.length > MAX_URL_CHARS ? `${line.slice(0, MAX_URL_CHARS)}…` : line
}

function safeDecode(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '))
  } catch {
    return name
  }
}

/** The error's name and code, e.g. `TypeError ECONNREFUSED` or `AbortError`. */
function describeError(error: unknown): string {
  if (typeof error !== 'object' || error === null) return typeof error
  const { name, cause } = error as { name?: unknown; cause?: unknown }
  // Not `instanceof Error`: fetch's errors may come from another realm.
  const label = typeof name === 'string' && /^[\w$.-]{1,60}$/.test(name) ? name : 'Error'
  const code = [codeOf(error), codeOf(cause)].find((c) => c !== undefined && /^[A-Z0-9_]{1,40}$/.test(c))
  return code ? `${label} ${code}` : label
}
