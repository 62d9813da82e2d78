import { XrpcResponseError, xrpcSafe, type Agent, type XrpcResult } from '@atproto/lex-client'
import {
  InvalidSessionResponseError,
  SessionAnswerTooLargeError,
  SessionTimeoutError,
  withoutPayload,
} from './errors.ts'
import type { FetchLike } from './fetch.ts'
import { deleteSession, getSession, refreshSession } from './lexicons.ts'
import { limitBody } from './limit-body.ts'
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
    const res = await this.#call(refreshSession, session.data.refreshJwt, deadline)
    if (res instanceof Error) return res
    if (!hasJwtTokens(res)) return new InvalidSessionResponseError(200)
    const data: SessionData = { ...res }
    // Some servers leave didDoc / email out of refreshSession though createSession
    // had them; getSession has them. (A server that never sends them costs nothing.)
    if (
      data.did === session.data.did &&
      ((data.didDoc == null && session.data.didDoc != null) ||
        (data.emailConfirmed == null && session.data.emailConfirmed != null))
    ) {
      const extra = await this.#call(getSession, data.accessJwt, deadline)
      if (!(extra instanceof Error) && extra.did === data.did) {
        Object.assign(data, extra, { accessJwt: data.accessJwt, refreshJwt: data.refreshJwt })
      }
    }
    return sessionFromServer(data, session.service, session.pdsUrl)
  }

  async deleteSession(session: Session): Promise<Error | undefined> {
    const res = await this.#call(deleteSession, session.data.refreshJwt)
    return res instanceof Error ? res : undefined
  }

  /**
   * A session call with `token` as bearer, bounded by the timeout (or by the
   * operation's `signal`): the answer's body, or an Error without payload
   * (see {@link withoutPayload}). Never throws: a fault or a timeout comes
   * back as an Error, which callers treat as transient.
   */
  async #call<M extends typeof refreshSession | typeof getSession | typeof deleteSession>(
    method: M,
    token: string,
    signal = AbortSignal.timeout(this.#timeoutMs),
  ): Promise<Extract<XrpcResult<M>, { success: true }>['body'] | Error> {
    let error: Error
    try {
      const res = await xrpcSafe(this.#agent, method as typeof getSession, {
        headers: { authorization: `Bearer ${token}` },
        signal,
      })
      if (res.success) return res.body as never
      error = withoutPayload(res)
    } catch (err) {
      error = err instanceof Error ? err : new Error('session call failed', { cause: err })
    }
    return signal.aborted ? new SessionTimeoutError(`session call timed out after ${this.#timeoutMs} ms`) : error
  }
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
 * `withoutPayload` unwraps it.
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
