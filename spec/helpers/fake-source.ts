import { LoggedOutError } from '../../lib/core/errors.ts'
import type { FetchLike } from '../../lib/core/fetch.ts'
import type { SessionSource } from '../../lib/core/session-holder.ts'
import type { Session } from '../../lib/core/session.ts'

/** A SessionSource whose refresh hands out the sessions it is given, counting calls. */
export class FakeSource implements SessionSource {
  refreshes = 0
  destroyed = false
  session: Session
  readonly #next: (s: Session) => Session | Promise<Session>
  constructor(session: Session, next: (s: Session) => Session | Promise<Session> = (s) => s) {
    this.session = session
    this.#next = next
  }
  async current() {
    if (this.destroyed) throw new LoggedOutError()
    return this.session
  }
  async refresh(seen?: Session) {
    if (seen && seen.data.accessJwt !== this.session.data.accessJwt) return this.session
    this.refreshes++
    this.session = await this.#next(this.session)
    return this.session
  }
}

export type Call = { url: string; headers: Headers; init: RequestInit | undefined }

/** A terminal fetch that records calls and answers from a queue of responses. */
export function recordingFetch(answer: (call: Call, n: number) => Response | Promise<Response>) {
  const calls: Call[] = []
  const fetch: FetchLike = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined))
    const call = { url, headers, init }
    calls.push(call)
    return answer(call, calls.length)
  }
  return { fetch, calls }
}

export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
