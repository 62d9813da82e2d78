import {
  isXrpcErrorPayload,
  XrpcFetchError,
  XrpcInternalError,
  XrpcResponseError,
  xrpcSafe,
  type Agent,
  type XrpcResult,
} from '@atproto/lex-client'
import type { Procedure, Query } from '@atproto/lex-schema'
import {
  codeOf,
  InvalidSessionResponseError,
  quiet,
  ServiceUnreachableError,
  SessionAnswerTooLargeError,
  SessionEndedError,
  SessionTimeoutError,
} from './errors.ts'
import type { FetchLike } from './fetch.ts'
import { deleteSession, getSession, refreshSession } from './lexicons.ts'
import { limitBody } from './limit-body.ts'
import { originOf } from './request.ts'
import { isJwtShaped, pdsEndpoint, type Session, type SessionData } from './session.ts'

/** A session the server just issued, and what was wrong with its DID document (if anything). */
export type IssuedSession = { session: Session; warning?: string }

/**
 * The server calls the session holder makes (a fake in specs). Neither
 * method rejects: a failure comes back as an Error that carries no payload
 * (no tokens). A definitive refusal is an `XrpcResponseError`
 * ({@link isDefinitiveRefusal}); any other Error, a timeout included, is
 * transient.
 */
export interface SessionApi {
  /**
   * refreshSession with `session`'s refresh token. An answer for another DID
   * is handed back as is: refusing it is the caller's decision.
   */
  refreshSession(session: Session): Promise<IssuedSession | Error>
  /** deleteSession with `session`'s refresh token: `undefined` once revoked. */
  deleteSession(session: Session): Promise<Error | undefined>
}

/**
 * Default most bytes read from one session answer. A session with its DID
 * document is a few KiB; the limit only has to stop a hostile or broken server
 * from filling memory.
 */
export const MAX_SESSION_ANSWER_BYTES = 1024 * 1024

/** {@link SessionApi} over HTTP: XRPC calls to the service, each bounded by `timeoutMs`. */
export class HttpSessionApi implements SessionApi {
  readonly #agent: Agent
  readonly #timeoutMs: number

  constructor(service: string, options: { fetch: FetchLike; timeoutMs: number; maxAnswerBytes?: number }) {
    this.#agent = serviceAgent(service, options.fetch, options.maxAnswerBytes)
    this.#timeoutMs = options.timeoutMs
  }

  async refreshSession(session: Session): Promise<IssuedSession | Error> {
    // One deadline for the refresh and its getSession backfill.
    const deadline = AbortSignal.timeout(this.#timeoutMs)
    const res = await this.#call(refreshSession, session, session.data.refreshJwt, deadline)
    if (res instanceof Error) return res
    const data: SessionData = { ...res }
    // Some servers leave didDoc / email out of refreshSession though createSession
    // had them; getSession has them. (A server that never sends them costs nothing.)
    if (
      data.did === session.data.did &&
      ((data.didDoc == null && session.data.didDoc != null) ||
        (data.emailConfirmed == null && session.data.emailConfirmed != null))
    ) {
      const extra = await this.#call(getSession, session, data.accessJwt, deadline)
      if (!(extra instanceof Error) && extra.did === data.did) {
        Object.assign(data, extra, { accessJwt: data.accessJwt, refreshJwt: data.refreshJwt })
      }
    }
    return sessionFromServer(data, session.service, session.pdsUrl)
  }

  async deleteSession(session: Session): Promise<Error | undefined> {
    const res = await this.#call(deleteSession, session, session.data.refreshJwt)
    return res instanceof Error ? res : undefined
  }

  /** A session call for `session` with `token` as bearer. */
  #call<M extends typeof refreshSession | typeof getSession | typeof deleteSession>(
    method: M,
    session: Session,
    token: string,
    signal?: AbortSignal,
  ): Promise<SessionAnswer<M> | Error> {
    return sessionCall(this.#agent, method, session.service, session.data.did, {
      headers: { authorization: `Bearer ${token}` },
      timeoutMs: this.#timeoutMs,
      signal,
    })
  }
}

/** The body of a session method's answer. */
type SessionAnswer<M extends Procedure | Query> = Extract<XrpcResult<M>, { success: true }>['body']

/** How a session call is sent: its body or bearer, and its deadline (`signal`, else `timeoutMs` from now). */
type SessionCallOptions = { body?: object; headers?: HeadersInit; timeoutMs: number; signal?: AbortSignal }

/**
 * Sends a session call (through {@link serviceAgent}) and never throws: the
 * answer's body, or the failure as an Error that names the call, the service
 * and the account (`account`: a DID or handle, never a token) and says what
 * to do. No failure carries the answer's payload, which could hold tokens.
 *
 * - no answer before the deadline: {@link SessionTimeoutError};
 * - no answer at all (refused, DNS, TLS, reset, redirect):
 *   {@link ServiceUnreachableError}, `cause` the fetch's error;
 * - an answer no atproto service gives (an HTML page, truncated JSON, a 404 or
 *   501, a body that fails the schema, tokens that are not JWTs):
 *   {@link InvalidSessionResponseError} (its `cause`, for a non-2xx answer,
 *   lex-client's error);
 * - an answer larger than the limit: {@link SessionAnswerTooLargeError};
 * - a refreshSession refusal that ends the session (`ExpiredToken`,
 *   `InvalidToken`, `AccountTakedown`): {@link SessionEndedError}, `cause` the
 *   server's refusal;
 * - any other XRPC error answer (`RateLimitExceeded`, a 5xx, …): lex-client's
 *   `XrpcResponseError` as it is, printed short ({@link quiet}).
 */
export async function sessionCall<M extends Procedure | Query>(
  agent: Agent,
  method: M,
  service: string,
  account: string | undefined,
  { body, headers, timeoutMs, signal = AbortSignal.timeout(timeoutMs) }: SessionCallOptions,
): Promise<SessionAnswer<M> | Error> {
  // "refreshSession at https://bsky.social for did:plc:…"
  const at = `${method.nsid.replace(/.*\./, '')} at ${originOf(service)}${account ? ` for ${account}` : ''}`
  const res = await xrpcSafe(agent, method as typeof getSession, { body: body as never, headers, signal }).catch(
    // It throws only for a signal aborted before the request left.
    (err: unknown) => new XrpcFetchError(method, err),
  )
  if (res.success) {
    // The answers that carry tokens must carry JWTs (a saved session is checked for them).
    const noTokens = (method as Procedure | Query) === getSession || (method as Procedure | Query) === deleteSession
    return noTokens || hasJwtTokens(res.body as never) ? (res.body as never) : invalid(at, 200)
  }
  if (res.cause instanceof SessionAnswerTooLargeError) return res.cause
  if (signal.aborted) {
    return new SessionTimeoutError(
      `${at} got no answer in ${timeoutMs} ms: ${CHECK} and the network, or raise refreshTimeoutMs`,
      { cause: signal.reason },
    )
  }
  if (res instanceof XrpcFetchError) {
    // lex-client unwraps Node's "fetch failed" only when it is a TypeError of its own realm (not under jest).
    let cause = res.cause as Error | undefined
    if (cause?.message === 'fetch failed' && cause.cause !== undefined) cause = cause.cause as Error
    // Node's AggregateError (every address refused) has an empty message.
    const reason = cause?.message || codeOf(cause) || String(cause)
    return new ServiceUnreachableError(`${at} failed (${reason}): ${CHECK} and the network`, { cause })
  }
  if (res instanceof XrpcResponseError && isXrpcAnswer(res)) {
    if (!isDefinitiveRefusal(res) || (method as Procedure | Query) !== refreshSession) return quiet(res)
    const error = new SessionEndedError(res.method, res.response, res.payload, { cause: quiet(res) })
    error.message = `${at} refused (${res.error}: ${res.message}): log in again with the password`
    return error
  }
  if (res instanceof XrpcInternalError) return quiet(res)
  return invalid(at, res.response.status, res.response.headers.get('content-type'), res)
}

const CHECK = 'check the service URL'

/**
 * An answer no atproto service gives. Its lex-client error is the `cause`
 * only for a non-2xx answer: a 2xx one could hold new tokens.
 */
const invalid = (at: string, status: number, type?: string | null, error?: Error) =>
  new InvalidSessionResponseError(
    status,
    status > 299 && error ? { cause: quiet(error) } : undefined,
    `${at} got HTTP ${status}${type ? ` (${type.split(';')[0]})` : ''}, not a session answer: ${CHECK}`,
  )

/**
 * Whether an error answer is one a session method gives: an XRPC error body
 * (`{ "error": … }` as JSON), on any status but 404 and 501 (the service has
 * no such method: not an atproto service, or not the one to log in to). A
 * 429 counts whatever its body (a proxy's rate limit is still one).
 */
function isXrpcAnswer(error: XrpcResponseError): boolean {
  return error.status === 429 || (error.status !== 404 && error.status !== 501 && isXrpcErrorPayload(error.payload))
}

/** Server answers that end a session for good (anything else is transient). */
const DEFINITIVE_ERRORS = new Set(['ExpiredToken', 'InvalidToken', 'AccountTakedown'])

/**
 * True only for a well-formed 400/401 XRPC answer whose error code says the
 * token is dead. A 5xx carrying the same code, a proxy's HTML page or a
 * network fault is never definitive.
 */
export function isDefinitiveRefusal(error: unknown): boolean {
  return (
    error instanceof XrpcResponseError &&
    (error.status === 400 || error.status === 401) &&
    DEFINITIVE_ERRORS.has(error.error)
  )
}

/**
 * A lex-client Agent for the session methods on `service`. They carry a
 * password or a token, so they go there and nowhere else: no redirects. An
 * answer larger than `maxBytes` is not read (see {@link limitBody}); lex-client
 * hands the {@link SessionAnswerTooLargeError} back wrapped, and
 * {@link sessionCall} unwraps it.
 */
export function serviceAgent(service: string, fetch: FetchLike, maxBytes = MAX_SESSION_ANSWER_BYTES): Agent {
  return {
    fetchHandler: async (path, init) => {
      // 'manual' rather than 'error', which workerd refuses; a redirect then
      // fails the call as a network fault would (transient), unread.
      const res = await fetch(new URL(path, service), { ...init, redirect: 'manual' })
      if (res.type === 'opaqueredirect' || (res.status > 299 && res.status < 400)) {
        void res.body?.cancel().catch(() => {})
        throw new TypeError(
          `${new URL(service).origin} answered ${path} with a redirect, which session calls never follow`,
        )
      }
      return limitBody(res, maxBytes, () => new SessionAnswerTooLargeError(res.status, maxBytes))
    },
  }
}

/**
 * Whether a session answer's tokens are JWT-shaped, as a saved Session's must
 * be. The schema only says "string": an empty, opaque or multi-line token
 * would be saved (and then refused by `resume`) or end up quoted in a
 * `Headers` TypeError when sent.
 */
export function hasJwtTokens(data: { accessJwt: unknown; refreshJwt: unknown }): boolean {
  return isJwtShaped(data.accessJwt) && isJwtShaped(data.refreshJwt)
}

/**
 * Builds a {@link Session} from a createSession / refreshSession answer. Routes
 * to the DID document's PDS when it passes the checks; with no DID document
 * the previous `pdsUrl` is kept, so routing survives servers that omit it.
 */
export function sessionFromServer(data: SessionData, service: string, previousPdsUrl: string | null): IssuedSession {
  let pdsUrl = previousPdsUrl
  let warning: string | undefined
  if (data.didDoc != null) {
    const endpoint = pdsEndpoint(data.didDoc, data.did)
    pdsUrl = endpoint.url
    if (endpoint.warning) warning = `${endpoint.warning}; requests go to the service URL`
  }
  return { session: { data, refreshedAt: new Date().toISOString(), pdsUrl, service }, warning }
}
