// The matrix's "chromium-tabs" check: lex-password-agent/web-store in real
// Chromium, 4 pages of one origin (one browser profile: one localStorage, one
// Web Locks manager, `storage` events between them) running
// examples/browser-tabs.ts (entries/tabs.ts exposes it as `globalThis.tab`).
// Each step is judged by what the mock counted:
//
//   1. one page signs in, the other 3 resume from localStorage without a request;
//   2. forced expiry, then 20 concurrent calls in each page, started together by
//      one BroadcastChannel message: 80 succeed, exactly one refreshSession;
//   3. the same after a second expiry (the next token generation);
//   4. a refresh in one page reaches the other 3 through the `storage` event: no
//      request of theirs, and their next call goes out with the new token (every
//      older one expired);
//   5. logout in one page: exactly one deleteSession, the logged-out marker stored;
//   6. the other pages' onDeleted ran once each, and their next request rejects
//      with 'Logged out' without reaching the mock;
//   7. no uncaught error (or unhandled rejection) in any page.
//
// The pages print `console.log(agent)` and the runner checks everything they
// printed for the issued tokens (its own last step). Tokens never leave a page:
// it compares them itself and answers with booleans and counts.
import { launchChromium } from './chromium.mjs'
import { openPage, withTimeout } from './runtimes.mjs'

const PAGES = 4
const CALLS = 20
const STEP_TIMEOUT_MS = 20_000
const EVENT_WAIT_MS = 5_000
const REFRESH = 'com.atproto.server.refreshSession'
const PROFILE = 'app.bsky.actor.getProfile'

/** Fails the step with `message` unless `cond`. */
function expect(cond, message) {
  if (!cond) throw new Error(message)
}

/** Runs the check; resolves with `{ version, steps, output }` as every runtime of runtimes.mjs does. */
export async function runTabs({ mock, env, timeoutMs }) {
  const browser = await launchChromium()
  const outputs = []
  try {
    return await withTimeout(
      (async () => {
        const pages = []
        for (let i = 0; i < PAGES; i++) {
          const { page, output } = await openPage(browser, mock, { global: 'tab' })
          pages.push(page)
          outputs.push(output)
        }
        const steps = await runSteps(pages, mock, env)
        // An unhandled rejection (e.g. in a `storage` event listener) shows only here.
        const uncaught = outputs.flat().filter((line) => line.startsWith('pageerror: '))
        steps.push({
          name: 'no uncaught error in any page',
          ok: uncaught.length === 0,
          detail: uncaught.length ? uncaught.slice(0, 3).join(' | ') : '',
          ms: 0,
        })
        const version = (await browser.version()).replace(/^\D*\//, '')
        return { version, steps, output: `${outputs.flat().join('\n')}\n${JSON.stringify(steps)}` }
      })(),
      timeoutMs,
    )
  } finally {
    await browser.close()
  }
}

async function runSteps(pages, mock, env) {
  const results = []
  let broken
  const step = async (name, fn) => {
    const t0 = performance.now()
    const ms = () => Math.round(performance.now() - t0)
    // The steps build on each other: after a failure the rest are not run, and fail saying so.
    if (broken) return results.push({ name, ok: false, detail: `not run: "${broken}" failed`, ms: 0 })
    try {
      const detail = await withTimeout(fn(), STEP_TIMEOUT_MS)
      results.push({ name, ok: true, detail: detail ?? '', ms: ms() })
    } catch (err) {
      broken = name
      results.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err), ms: ms() })
    }
  }
  /** `fn(...args)` in every page (or those given), at once. */
  const inPages = (fn, args = [], which = pages) => Promise.all(which.map((p) => p.evaluate(fn, ...args)))
  const snapshot = () => structuredClone(mock.stats())
  const count = (s, origin, key) => s.counts[origin][key] ?? 0
  const total = (s, origin) => Object.values(s.counts[origin]).reduce((a, b) => a + b, 0)
  const delta = (before, after, origin, key) =>
    key ? count(after, origin, key) - count(before, origin, key) : total(after, origin) - total(before, origin)
  const [first, ...others] = pages

  await step(`sign in in one page, ${PAGES - 1} pages resume from localStorage`, async () => {
    const before = snapshot()
    expect(!(await first.evaluate(() => globalThis.tab.resume())), 'a page resumed a session before any sign-in')
    await first.evaluate((e) => globalThis.tab.signIn(e), env)
    const resumed = await inPages(() => globalThis.tab.resume(), [], others)
    expect(resumed.every(Boolean), `resumed: ${resumed.join(', ')}`)
    const after = snapshot()
    expect(delta(before, after, 'entryway', 'com.atproto.server.createSession') === 1, 'not 1 createSession')
    expect(delta(before, after, 'entryway') === 1 && delta(before, after, 'pds') === 0, 'the resumes made requests')
    const synced = await inPages(() => globalThis.tab.inSync())
    expect(synced.every(Boolean), `pages holding the stored session (and localStorage nothing else): ${synced}`)
    return `1 createSession; ${PAGES - 1} resumed with no request`
  })

  const round = (generation) =>
    step(
      `expiry ${generation}: ${CALLS} concurrent calls in each of ${PAGES} pages: exactly one refreshSession`,
      async () => {
        mock.expire()
        const before = snapshot()
        await inPages((n) => globalThis.tab.arm(n), [CALLS])
        const t0 = performance.now()
        await first.evaluate(() => globalThis.tab.go())
        const bursts = await inPages(() => globalThis.tab.burst())
        const wall = performance.now() - t0
        const after = snapshot()
        const okCalls = bursts.reduce((a, b) => a + b.ok, 0)
        const failures = bursts.flatMap((b) => b.failures)
        const refreshes = delta(before, after, 'entryway', REFRESH)
        const revoked = after.answers.revokedRefresh - before.answers.revokedRefresh
        const expired = after.answers.expiredToken - before.answers.expiredToken
        const calls = delta(before, after, 'pds', PROFILE)
        const starts = bursts.map((b) => b.startedAt)
        const spread = Math.max(...starts) - Math.min(...starts)
        const figures =
          `${okCalls}/${PAGES * CALLS} calls ok, ${refreshes} refreshSession (${revoked} with a spent token), ` +
          `${expired} ExpiredToken, ${calls} getProfile, entryway requests: ${delta(before, after, 'entryway')}`
        expect(okCalls === PAGES * CALLS, `${figures}; failures: ${failures.join(' | ')}`)
        expect(refreshes === 1 && revoked === 0, figures)
        expect(delta(before, after, 'entryway') === 1, figures)
        // Every call that succeeded went out with a token issued after the expiry: the new generation.
        expect(calls === PAGES * CALLS + expired, figures)
        const synced = await inPages((ms) => globalThis.tab.waitInSync(ms), [EVENT_WAIT_MS])
        expect(synced.every(Boolean), `pages holding the stored session: ${synced}`)
        return `${figures}; pages started within ${spread.toFixed(1)} ms, ${Math.round(wall)} ms`
      },
    )
  await round(1)
  await round(2)

  await step(
    `a refresh in one page reaches the other ${PAGES - 1} through the storage event, no request of theirs`,
    async () => {
      const before = snapshot()
      await first.evaluate(() => globalThis.tab.refresh())
      const synced = await inPages((ms) => globalThis.tab.waitInSync(ms), [EVENT_WAIT_MS], others)
      expect(synced.every(Boolean), `pages that adopted the refreshed session: ${synced}`)
      const adopted = snapshot()
      expect(delta(before, adopted, 'entryway', REFRESH) === 1, 'not 1 refreshSession')
      expect(
        delta(before, adopted, 'entryway') === 1 && delta(before, adopted, 'pds') === 0,
        'the others made requests',
      )
      // Only the newest access token is still valid: each page's call must carry it.
      mock.expire({ keepLatest: true })
      const answered = await inPages(() => globalThis.tab.call())
      expect(answered.every(Boolean), `calls answered: ${answered}`)
      const after = snapshot()
      expect(after.answers.expiredToken === adopted.answers.expiredToken, 'a page sent an expired token')
      expect(delta(adopted, after, 'entryway') === 0, 'a page went to the entryway')
      expect(delta(adopted, after, 'pds', PROFILE) === PAGES, `${delta(adopted, after, 'pds', PROFILE)} getProfile`)
      return `1 refreshSession; ${PAGES - 1} pages adopted it, then ${PAGES} calls with the new token and no other request`
    },
  )

  await step('logout in one page: exactly one deleteSession, the logged-out marker stored', async () => {
    const before = snapshot()
    await first.evaluate(() => globalThis.tab.logout())
    const after = snapshot()
    const deletes = delta(before, after, 'entryway', 'com.atproto.server.deleteSession')
    expect(deletes === 1, `${deletes} deleteSession`)
    expect(delta(before, after, 'entryway') === 1 && delta(before, after, 'pds') === 0, 'other requests at logout')
    expect(await first.evaluate(() => globalThis.tab.markerStored()), 'localStorage does not hold the marker')
  })

  await step(
    `the other ${PAGES - 1} pages: onDeleted once, next request rejects 'Logged out' with no request`,
    async () => {
      const before = snapshot()
      const heard = await inPages((ms) => globalThis.tab.signedOut(ms), [EVENT_WAIT_MS])
      expect(
        heard.every((n) => n >= 1),
        `onDeleted ran in the pages: ${heard}`,
      )
      const outcomes = await inPages((pds) => globalThis.tab.afterLogout(pds), [mock.urls.pds], others)
      for (const { viaClient, viaFetch, destroyed } of outcomes) {
        expect(viaClient === '', `a Client call: ${viaClient}`)
        expect(viaFetch === '', `agent.fetch: ${viaFetch}`)
        expect(destroyed, 'an agent is not destroyed')
      }
      // Late events (a second onDeleted) would have arrived by now.
      await new Promise((r) => setTimeout(r, 100))
      const ran = await inPages(() => globalThis.tab.signedOut(0))
      expect(
        ran.every((n) => n === 1),
        `onDeleted runs per page: ${ran}`,
      )
      const after = snapshot()
      for (const origin of ['entryway', 'pds', 'foreign'])
        expect(delta(before, after, origin) === 0, `a request reached the ${origin} after logout`)
      return `onDeleted once in each of ${PAGES} pages; Client: XrpcFetchError with cause LoggedOutError; agent.fetch: LoggedOutError`
    },
  )

  return results
}
