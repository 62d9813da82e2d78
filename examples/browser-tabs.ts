// One session for every tab of a browser app (docs/browser.md). A module for
// the page's code, not a script: with no options it uses localStorage,
// navigator.locks and the window's `storage` events;
// spec/web-storage-session-store.spec.ts runs it in 4 fake tabs (one storage
// area, one lock manager, events to the other tabs only).
import { PasswordAgent } from 'lex-password-agent'
import { WebStorageSessionStore, type WebStorageSessionStoreOptions } from 'lex-password-agent/web-store'

/** What the page does when the session ends, in this tab or another (logout, or the server refused it). */
export type TabEvents = { onSignedOut: () => void }

/**
 * At page load: this tab's agent if some tab is signed in (adopted from the
 * store, no request while its access token is fresh), else `undefined`: show
 * the sign-in form.
 */
export async function resumeTab(
  events: TabEvents,
  storeOptions?: WebStorageSessionStoreOptions,
): Promise<PasswordAgent | undefined> {
  const store = new WebStorageSessionStore(storeOptions)
  // Nothing saved, signed out in another tab (the logged-out marker reads as nothing), or unreadable.
  const saved = await store.get().catch(() => undefined)
  if (!saved) return undefined
  try {
    return await PasswordAgent.resume(saved, { store, refresh: 'if-expired', hooks: { onDeleted: events.onSignedOut } })
  } catch {
    return undefined // the server refused the saved session: sign in again
  }
}

/** The sign-in form: an app password (Settings → App passwords), never the account's main password. */
export async function signIn(
  form: { service: string; identifier: string; appPassword: string },
  events: TabEvents,
  storeOptions?: WebStorageSessionStoreOptions,
): Promise<PasswordAgent> {
  const result = await PasswordAgent.login({
    service: form.service,
    identifier: form.identifier,
    password: form.appPassword,
    store: new WebStorageSessionStore(storeOptions),
    hooks: { onDeleted: events.onSignedOut },
  })
  if (!result.success) throw new Error(`sign-in refused: ${result.error}`)
  return result.value
}

// In the page:
//   const agent = (await resumeTab({ onSignedOut: showSignInForm })) ?? showSignInForm()
//   const client = new Client(agent)              // every tab refreshes the shared session once per expiry
//   signOutButton.onclick = () => agent.logout()  // every tab's onSignedOut runs
