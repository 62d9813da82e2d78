import fs from 'node:fs/promises'
import path from 'node:path'
import { check, checkOptions, number, string, type Rule } from './core/check.ts'
import { FileLock, removeDeadTemps, tempName } from './file-lock.ts'
import type { Session } from './core/session.ts'
import { parseStoredSession, type SessionLock, type SessionStore } from './core/session-store.ts'

/** The options of {@link FileSessionStore}. */
export type FileSessionStoreOptions = {
  /** A lock untouched for this long is considered abandoned by a dead holder (default 30 000). */
  staleMs?: number
  /** Give up acquiring the lock after this long (default 120 000). */
  acquireTimeoutMs?: number
}

// At most 2^31-1 ms: Node fires a longer timer after 1 ms (the lock would be touched in a busy loop).
export const FILE_STORE_RULES: Record<keyof FileSessionStoreOptions, Rule> = {
  staleMs: number({ above: true }),
  acquireTimeoutMs: number({ above: true }),
}

/**
 * A session saved as one JSON file (exactly the `Session` object, mode 0600,
 * written atomically with a temp file + rename), with a cross-process lock
 * beside it (`<file>.locks/`, see `FileLock` in lib/file-lock.ts) for processes of one host
 * on a local file system (not NFS).
 *
 * A holder of the lock that dies (pid gone, judged on the holder's own host
 * only) is taken over at once; one that stopped touching its lock for
 * `staleMs` is taken over too. Temp files of writers killed mid-write are
 * removed by the next write or lock.
 */
export class FileSessionStore implements SessionStore {
  /** The session file, as an absolute path. */
  readonly file: string
  readonly #lock: FileLock

  constructor(file: string, options: FileSessionStoreOptions = {}) {
    check('FileSessionStore', 'file', file, string)
    checkOptions('FileSessionStore', options, FILE_STORE_RULES)
    this.file = path.resolve(file)
    // A new path (0.1 used `<file>.lock`): an old lock file is never in the way.
    this.#lock = new FileLock(`${this.file}.locks`, {
      staleMs: options.staleMs,
      acquireTimeoutMs: options.acquireTimeoutMs,
    })
  }

  async get(): Promise<Session | undefined> {
    let text: string
    try {
      text = await fs.readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    return parseStoredSession(text, this.file)
  }

  async set(session: Session): Promise<void> {
    const dir = path.dirname(this.file)
    await fs.mkdir(dir, { recursive: true, mode: 0o700 })
    await this.#removeDeadTemps()
    const tmp = path.join(dir, tempName(path.basename(this.file)))
    const handle = await fs.open(tmp, 'wx', 0o600)
    try {
      try {
        await handle.writeFile(JSON.stringify(session))
        await handle.sync()
      } finally {
        await handle.close()
      }
      await fs.rename(tmp, this.file)
    } catch (err) {
      // A failed write (ENOSPC, EIO) must not leave a partial session, tokens and all, beside the file.
      await fs.rm(tmp, { force: true })
      throw err
    }
  }

  async delete(): Promise<void> {
    await fs.rm(this.file, { force: true })
  }

  lock: SessionLock = (_key, fn) =>
    this.#lock.run(async () => {
      await this.#removeDeadTemps()
      return fn()
    })

  /** A writer killed between creating its temp file and the rename left a session copy behind. */
  #removeDeadTemps(): Promise<void> {
    return removeDeadTemps(path.dirname(this.file), path.basename(this.file))
  }
}
