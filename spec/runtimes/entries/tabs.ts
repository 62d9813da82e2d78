// Entry for the "chromium-tabs" check (chromium-tabs.mjs): one page of an app
// whose tabs share one session. It runs examples/browser-tabs.ts as written
// (localStorage, navigator.locks and the window's `storage` events, no option)
// and exposes what the runner drives through page.evaluate as `globalThis.tab`.
// Nothing it returns holds a token: tokens are compared inside the page.
import { Client } from '@atproto/lex-client'
import { isLexPasswordAgentError, type PasswordAgent } from 'lex-password-agent'
import { resumeTab, signIn } from '../../../examples/browser-tabs.ts'
import getProfile from '../../../examples/lexicons/app/bsky/actor/getProfile.ts'

/** The store's key (WebStorageSessionStore's default, which browser-tabs.ts keeps). */
const KEY = 'lex-password-agent:session'
const CONSOLE_MARK = 'scenario: console.log(agent) ='

let agent: PasswordAgent | undefined
let client: Client | undefined
let signedOut = 0
const events = { onSignedOut: () => void signedOut++ }
const start = new BroadcastChannel('runtime-matrix-start')
let armed: Promise<Burst> | undefined

/** What one page's burst of concurrent calls did: when it started (epoch ms) and how the calls ended. */
type Burst = { startedAt: number; ok: number; failures: string[]; ms: number }

function use(a: PasswordAgent) {
  agent = a
  client = new Client(a)
  // The runner looks for every issued token in what the pages printed.
  console.log(CONSOLE_MARK, a)
}

const mine = () => agent ?? fail('this page has no agent')
const fail = (message: string): never => {
  throw new Error(message)
}

/** One line per error, with its causes (none of ours carries a token). */
const describe = (err: unknown): string =>
  err instanceof Error
    ? `${err.name}: ${err.message}${err.cause === undefined ? '' : ` <- ${describe(err.cause)}`}`
    : String(err)

const tab = {
  /** The sign-in form, submitted. */
  async signIn(env: { entryway: string; identifier: string; password: string }) {
    use(await signIn({ service: env.entryway, identifier: env.identifier, appPassword: env.password }, events))
  },

  /** Page load: whether a session was resumed from the store. */
  async resume(): Promise<boolean> {
    const resumed = await resumeTab(events)
    if (resumed) use(resumed)
    return !!resumed
  },

  /**
   * Whether this page's agent holds exactly the session in localStorage, and
   * localStorage holds nothing else (tokens are compared here, never returned).
   */
  inSync(): boolean {
    const stored = localStorage.getItem(KEY)
    return (
      Object.keys(localStorage).join() === KEY && agent?.session != null && stored === JSON.stringify(agent.session)
    )
  },

  /** Waits (up to `ms`) for this page to hold the stored session, as the `storage` event hands it over. */
  async waitInSync(ms: number): Promise<boolean> {
    const until = performance.now() + ms
    while (!tab.inSync() && performance.now() < until) await new Promise((r) => setTimeout(r, 5))
    return tab.inSync()
  },

  /**
   * Prepares `n` concurrent `Client` calls that start when any page calls
   * `go()` (a BroadcastChannel message reaches every other page at once).
   */
  arm(n: number) {
    const c = client ?? fail('this page has no agent')
    const did = mine().did
    armed = new Promise<void>((resolve) => start.addEventListener('message', () => resolve(), { once: true })).then(
      async () => {
        const startedAt = performance.timeOrigin + performance.now()
        const settled = await Promise.allSettled(Array.from({ length: n }, () => c.call(getProfile, { actor: did })))
        const failures = settled.flatMap((s) =>
          s.status === 'rejected' ? [describe(s.reason)] : s.value.did === did ? [] : ['wrong profile'],
        )
        const ms = performance.timeOrigin + performance.now() - startedAt
        return { startedAt, ok: n - failures.length, failures: failures.slice(0, 3), ms }
      },
    )
  },

  /** Starts every page's armed calls: the others' by message, this one's by the same event. */
  go() {
    start.postMessage('go')
    start.dispatchEvent(new MessageEvent('message', { data: 'go' }))
  },

  /** The outcome of this page's armed calls. */
  burst: (): Promise<Burst> => armed ?? fail('not armed'),

  /** One `Client` call; resolves with whether it answered this account's profile. */
  async call(): Promise<boolean> {
    const profile = await (client ?? fail('this page has no agent')).call(getProfile, { actor: mine().did })
    return profile.did === mine().did
  },

  async refresh() {
    await mine().refresh()
  },

  async logout() {
    await mine().logout()
  },

  /** Whether localStorage holds exactly the logged-out marker of this account. */
  markerStored: () => localStorage.getItem(KEY) === JSON.stringify({ loggedOut: mine().did }),

  /** How often this page's onSignedOut (the agent's onDeleted) ran, after waiting (up to `ms`) for a first time. */
  async signedOut(ms: number): Promise<number> {
    const until = performance.now() + ms
    while (!signedOut && performance.now() < until) await new Promise((r) => setTimeout(r, 5))
    return signedOut
  },

  /** After a logout: how a `Client` call and `agent.fetch` fail (or '' if they did not), and `destroyed`. */
  async afterLogout(pds: string) {
    const a = mine()
    const viaClient = await client!.call(getProfile, { actor: a.did }).then(
      () => 'resolved',
      (err: unknown) => {
        // lex-client wraps a fetchHandler rejection (XrpcFetchError); ours is its cause.
        const cause = (err as { cause?: unknown }).cause
        return isLexPasswordAgentError(cause) && cause.code === 'ERR_LOGGED_OUT' && cause.message === 'Logged out'
          ? ''
          : describe(err)
      },
    )
    const viaFetch = await a.fetch(`${pds}/xrpc/app.bsky.actor.getProfile?actor=${encodeURIComponent(a.did)}`).then(
      () => 'resolved',
      (err: unknown) => (isLexPasswordAgentError(err) && err.message === 'Logged out' ? '' : describe(err)),
    )
    return { viaClient, viaFetch, destroyed: a.destroyed }
  },
}

export type Tab = typeof tab
;(globalThis as { tab?: Tab }).tab = tab
