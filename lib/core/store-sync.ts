import { assertSession, type Session } from './session.ts'
import { isNewerSession, type SessionStore } from './session-store.ts'

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

  /** The stored session if it is a newer generation of `session`'s account (another process refreshed it). */
  async newer(session: Session): Promise<Session | undefined> {
    if (!this.#store) return undefined
    let stored: Session | undefined
    try {
      stored = await this.#store.get()
    } catch (err) {
      await this.#warn(`could not read the session store (${errorText(err)})`)
      return undefined
    }
    if (stored == null) return undefined
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

  /** Removes an ended session, only if the store still holds this generation (of this account). */
  async remove(session: Session): Promise<void> {
    try {
      const stored = await this.#store?.get()
      if (stored && stored.data?.did === session.data.did && !isNewerSession(stored, session))
        await this.#store!.delete()
    } catch (err) {
      await this.#warn(`could not remove the session from the store (${errorText(err)})`)
    }
  }
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err))
