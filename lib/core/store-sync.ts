import { assertSession, type Session } from './session.ts'
import { isNewerSession, type LoggedOutMarker, type SessionStore } from './session-store.ts'

/**
 * The session holder's reads and writes of a shared {@link SessionStore}
 * (none without one). Never throws: a failed read, write or removal, or a
 * malformed entry, is reported through `warn` and otherwise ignored.
 */
export class StoreSync {
  readonly #store: SessionStore | undefined
  readonly #warn: (message: string) => Promise<void>

  constructor(store: SessionStore | undefined, warn: (message: string) => Promise<void>) {
    this.#store = store
    this.#warn = warn
  }

  /**
   * The stored session if it is a newer generation of `session`'s account
   * (another process refreshed it); `null` if the store marks that account
   * logged out (another agent ended it: definitive).
   */
  async newer(session: Session): Promise<Session | null | undefined> {
    if (!this.#store) return undefined
    const store = this.#store
    let stored: Session | LoggedOutMarker | undefined
    try {
      stored = await (store.read ? store.read() : store.get())
    } catch (err) {
      await this.#warn(`could not read the session store (${errorText(err)})`)
      return undefined
    }
    if (stored == null) return undefined
    // (Another account's marker is not a Session either: warned about below.)
    if ((stored as LoggedOutMarker).loggedOut === session.data.did) return null
    try {
      // A custom store may hand back anything; never adopt (and send) malformed tokens.
      assertSession(stored, 'store', 'stored session')
    } catch (err) {
      await this.#warn(`the session store holds something that is not a valid Session; ignoring it (${errorText(err)})`)
      return undefined
    }
    return stored.data.did === session.data.did && isNewerSession(stored, session) ? stored : undefined
  }

  /** Writes a new session before it is used; on failure it is kept in memory only, and `warn` says so. */
  async save(session: Session): Promise<void> {
    try {
      await this.#store?.set(session)
    } catch (err) {
      await this.#warn(`could not save the session; keeping it in memory (${errorText(err)})`)
    }
  }

  /**
   * Removes an ended session (or marks it logged out, where the store can),
   * only if the store still holds this generation (of this account).
   */
  async remove(session: Session): Promise<void> {
    const store = this.#store
    try {
      const stored = await store?.get()
      if (stored && stored.data?.did === session.data.did && !isNewerSession(stored, session))
        await (store!.markLoggedOut ? store!.markLoggedOut(session.data.did) : store!.delete())
    } catch (err) {
      await this.#warn(`could not remove the session from the store (${errorText(err)})`)
    }
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err))
