import { randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { MAX_TIMER_MS } from './fetch.ts'
import type { Session } from './session.ts'
import { parseStoredSession, type SessionLock, type SessionStore } from './session-store.ts'

export type FileSessionStoreOptions = {
  /** A lock untouched for this long is considered abandoned by a dead holder (default 30 000). */
  staleMs?: number
  /** Give up acquiring the lock after this long (default 120 000). */
  acquireTimeoutMs?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Longest delay `setTimeout` honours. */

/**
 * A session saved as one JSON file (exactly the `Session` object, mode 0600,
 * written atomically with a temp file + rename), with a cross-process lock
 * file beside it (`<file>.lock`) for processes on the same machine.
 *
 * The lock file is created exclusively, holds its owner's pid, hostname and a
 * random token, is touched while held, and is taken over when its holder died
 * (pid gone, judged on the holder's own host only) or stopped touching it for
 * `staleMs`.
 */
export class FileSessionStore implements SessionStore {
  readonly file: string
  readonly #lockFile: string
  readonly #staleMs: number
  readonly #acquireTimeoutMs: number

  constructor(file: string, options: FileSessionStoreOptions = {}) {
    if (typeof file !== 'string' || !file) throw new TypeError('"file" must be a non-empty path')
    for (const key of ['staleMs', 'acquireTimeoutMs'] as const) {
      const v = options[key]
      // At most 2^31-1: Node fires a longer timer after 1 ms (the lock would be touched in a busy loop).
      if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= MAX_TIMER_MS)) {
        throw new TypeError(`"${key}" must be a positive number of milliseconds, at most ${MAX_TIMER_MS}`)
      }
    }
    this.file = path.resolve(file)
    this.#lockFile = `${this.file}.lock`
    this.#staleMs = options.staleMs ?? 30_000
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 120_000
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
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.${randomUUID()}.tmp`
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

  lock: SessionLock = async (_key, fn) => {
    const token = randomUUID()
    await this.#acquire(token)
    const keepAlive = setInterval(() => {
      const now = new Date()
      fs.utimes(this.#lockFile, now, now).catch(() => {})
    }, Math.max(50, this.#staleMs / 3))
    keepAlive.unref?.()
    try {
      return await fn()
    } finally {
      clearInterval(keepAlive)
      await this.#release(token)
    }
  }

  async #acquire(token: string): Promise<void> {
    const deadline = Date.now() + this.#acquireTimeoutMs
    await fs.mkdir(path.dirname(this.#lockFile), { recursive: true, mode: 0o700 })
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.writeFile(this.#lockFile, JSON.stringify({ pid: process.pid, host: os.hostname(), token }), {
          flag: 'wx',
          mode: 0o600,
        })
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      if (await this.#isStale()) {
        // Move the dead holder's lock aside atomically: of several waiters
        // seeing it stale, only one rename succeeds.
        const aside = `${this.#lockFile}.${randomUUID()}.stale`
        if (await fs.rename(this.#lockFile, aside).then(() => true, () => false)) {
          // Between our check and the rename another waiter may have taken
          // over and written a fresh lock: if what we moved is live, put it back.
          if (!(await this.#isStale(aside))) await fs.link(aside, this.#lockFile).catch(() => {})
          await fs.rm(aside, { force: true })
          continue
        }
        // Could not move it (e.g. EPERM in a sticky /tmp): wait like for a live lock.
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for the session lock ${this.#lockFile}`)
      }
      await sleep(Math.min(100, 5 + attempt * 5) * (0.5 + Math.random()))
    }
  }

  async #isStale(file = this.#lockFile): Promise<boolean> {
    try {
      const [stat, text] = await Promise.all([fs.stat(file), fs.readFile(file, 'utf8')])
      if (Date.now() - stat.mtimeMs > this.#staleMs) return true
      const { pid, host } = JSON.parse(text || '{}') as { pid?: number; host?: string }
      // A pid means something only in its own pid namespace: another host's (or
      // container's) holder is judged by staleness alone.
      const here = host === undefined || host === os.hostname()
      if (here && typeof pid === 'number' && pid !== process.pid && !isAlive(pid)) return true
      return false
    } catch {
      return false // gone or half-written: retry soon
    }
  }

  async #release(token: string): Promise<void> {
    try {
      const { token: owner } = JSON.parse(await fs.readFile(this.#lockFile, 'utf8')) as { token?: string }
      if (owner === token) await fs.rm(this.#lockFile, { force: true })
    } catch {
      // Already taken over as stale, or gone: nothing of ours to remove.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
