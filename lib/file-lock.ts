import { createHash, randomUUID } from 'node:crypto'
import { readlinkSync } from 'node:fs'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { LockTimeoutError } from './core/errors.ts'
import { sleep } from './core/sleep.ts'

export type FileLockOptions = {
  /** A holder whose file went untouched this long is taken over even if its pid looks alive (default 30 000). */
  staleMs?: number
  /** Give up acquiring after this long (default 120 000). */
  acquireTimeoutMs?: number
  /**
   * Test seam: awaited between the steps of an acquisition, so a spec can
   * force the interleavings that break non-atomic takeovers.
   */
  step?: (name: 'judged' | 'claimed', generation: number) => unknown
}

/** What a generation file holds: its holder, or the mark a holder left on release. */
type Holder = { pid: number; host: string; token: string } | { free: true }

/**
 * Where a pid means something: the host, and on Linux its pid namespace
 * (containers of one Kubernetes pod share a hostname, not their pids).
 */
export const HOST = os.hostname() + pidNamespace()
/** Tags temp files with their writer's host, so only writers of this host are judged by pid. */
export const HOST_TAG = createHash('sha256').update(HOST).digest('hex').slice(0, 8)

/**
 * A cross-process lock for processes of one host on a local file system (not
 * NFS), that survives holders killed at any instruction.
 *
 * The lock is a directory of numbered generations. The highest number is the
 * lock's state: a holder (pid, host, random token) or a release mark. To take
 * the lock, a process judges the highest generation N free (released, holder
 * dead, unreadable, or untouched for `staleMs`) and *creates* N+1 with
 * `link()`, which fails if the name exists: of several waiters judging the
 * same N, exactly one gets N+1. Nothing live is ever renamed or removed; only
 * generations below the highest are deleted, and a claim that finds a higher
 * generation after it (made from a judgement that went stale while it waited)
 * withdraws. The file appears with its content (written to a temp file, then
 * linked), so an empty or garbled generation was written by no live holder.
 */
export class FileLock {
  readonly dir: string
  readonly #staleMs: number
  readonly #acquireTimeoutMs: number
  readonly #step: FileLockOptions['step']

  constructor(dir: string, options: FileLockOptions = {}) {
    this.dir = dir
    this.#staleMs = options.staleMs ?? 30_000
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 120_000
    this.#step = options.step
  }

  /** Runs `fn` while holding the lock; released when it settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const token = randomUUID()
    const held = await this.#acquire(token)
    const file = this.#path(held)
    const keepAlive = setInterval(
      () => {
        const now = new Date()
        fs.utimes(file, now, now).catch(() => {})
      },
      Math.max(50, this.#staleMs / 3),
    )
    ;(keepAlive as { unref?: () => void }).unref?.()
    try {
      return await fn()
    } finally {
      clearInterval(keepAlive)
      await this.#release(held)
    }
  }

  /**
   * Releases generation `n` by creating the next one as a free mark: the
   * highest number never goes down, so no stale judgement can come true. If
   * it exists, someone took the lock over from us (we went silent). If the
   * release fails (EIO), ours stops being touched: taken over after staleMs.
   */
  async #release(n: number): Promise<void> {
    await this.#create(n + 1, { free: true })
      .then((released) => (released ? fs.rm(this.#path(n), { force: true }) : undefined))
      .catch(() => {})
  }

  async #acquire(token: string): Promise<number> {
    const deadline = Date.now() + this.#acquireTimeoutMs
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 })
    await removeDeadTemps(this.dir, 'tmp')
    for (let attempt = 0; ; attempt++) {
      const top = await this.#top()
      if (top === undefined || (await this.#isFree(top))) {
        const next = (top ?? -1) + 1
        await this.#step?.('judged', next)
        if (await this.#create(next, { pid: process.pid, host: HOST, token })) {
          let now: number | undefined
          try {
            await this.#step?.('claimed', next)
            now = await this.#top()
          } catch (err) {
            // Ours is the highest generation, held by a live pid: release it, or
            // everyone (this process too) would wait staleMs for it.
            await this.#release(next)
            throw err
          }
          if (now === next) {
            await this.#removeBelow(next)
            return next
          }
          // A higher generation exists: our judgement was overtaken while we
          // waited, and `next` had been freed and cleaned up. Withdraw.
          await fs.rm(this.#path(next), { force: true }).catch(() => {})
        }
        continue
      }
      if (Date.now() > deadline) {
        throw new LockTimeoutError(
          `timed out after ${this.#acquireTimeoutMs} ms waiting for the session lock ${this.dir}, which another process holds: check that process, or raise acquireTimeoutMs`,
        )
      }
      await sleep(Math.min(100, 5 + attempt * 5) * (0.5 + Math.random()))
    }
  }

  /** The highest generation, or `undefined` when there is none. */
  async #top(): Promise<number | undefined> {
    const all = await this.#generations()
    return all.length ? Math.max(...all) : undefined
  }

  /** The generation numbers in the lock directory (temp files aside). */
  async #generations(): Promise<number[]> {
    return (await fs.readdir(this.dir)).filter((name) => /^\d+$/.test(name)).map(Number)
  }

  /** Whether generation `n` may be succeeded. A file that vanished was superseded: look again. */
  async #isFree(n: number): Promise<boolean> {
    let text: string
    let mtimeMs: number
    try {
      const file = this.#path(n)
      ;[text, { mtimeMs }] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)])
    } catch (err) {
      // Superseded (ENOENT), or held open by a scanner (EBUSY on Windows): look again.
      if (['ENOENT', 'EBUSY', 'EPERM', 'EACCES'].includes((err as NodeJS.ErrnoException).code!)) return false
      throw err
    }
    const holder = parseHolder(text)
    if (!holder || 'free' in holder) return true
    if (Date.now() - mtimeMs > this.#staleMs) return true
    // A pid means something only in its own pid namespace: another host's (or
    // container's) holder is judged by staleness alone.
    return holder.host === HOST && holder.pid !== process.pid && !isAlive(holder.pid)
  }

  /** Creates generation `n` with its content in place, or returns false if it exists. */
  async #create(n: number, holder: Holder): Promise<boolean> {
    const tmp = path.join(this.dir, tempName('tmp'))
    await fs.writeFile(tmp, JSON.stringify(holder), { flag: 'wx', mode: 0o600 })
    try {
      await fs.link(tmp, this.#path(n))
      return true
    } catch (err) {
      // ENOTSUP / EPERM: a file system without hard links (FAT, some FUSE or SMB mounts).
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    } finally {
      // A leftover temp is removed by the next acquisition (removeDeadTemps).
      await fs.rm(tmp, { force: true }).catch(() => {})
    }
  }

  /** Generations below the highest are past: nobody holds or judges them any more. */
  async #removeBelow(n: number): Promise<void> {
    for (const g of await this.#generations()) {
      // Best effort: a leftover lower generation is harmless.
      if (g < n) await fs.rm(this.#path(g), { force: true }).catch(() => {})
    }
  }

  #path(n: number): string {
    return path.join(this.dir, String(n))
  }
}

function parseHolder(text: string): Holder | undefined {
  try {
    const value = JSON.parse(text) as Partial<{ pid: unknown; host: unknown; token: unknown; free: unknown }>
    if (value?.free === true) return { free: true }
    const { pid, host, token } = value ?? {}
    if (typeof pid === 'number' && typeof host === 'string' && typeof token === 'string') return { pid, host, token }
  } catch {
    // Not JSON: no holder of ours wrote it.
  }
  return undefined
}

/** `<prefix>.<pid>.<host tag>.<random>.tmp`: who wrote it, to tell a dead writer's leftovers. */
export function tempName(prefix: string): string {
  return `${prefix}.${process.pid}.${HOST_TAG}.${randomUUID()}.tmp`
}

/**
 * Removes temp files (see {@link tempName}) in `dir` starting with `prefix.`
 * whose writer was a process of this host that is gone: a writer killed
 * between creating and renaming one leaves it behind, session and all.
 */
export async function removeDeadTemps(dir: string, prefix: string): Promise<void> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch {
    return
  }
  // Also 0.1's `<file>.<pid>.<uuid>.tmp`, which named no host.
  const ours = new RegExp(`^${escapeRegExp(prefix)}\\.(\\d+)(?:\\.${HOST_TAG})?\\.[0-9a-f-]{36}\\.tmp$`)
  for (const name of names) {
    const pid = Number(ours.exec(name)?.[1])
    // Best effort: one we may not remove (another user's, in a sticky /tmp) must not fail the write or lock.
    if (pid && pid !== process.pid && !isAlive(pid)) await fs.rm(path.join(dir, name), { force: true }).catch(() => {})
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function pidNamespace(): string {
  try {
    return `/${readlinkSync('/proc/self/ns/pid')}`
  } catch {
    return '' // not Linux: the hostname alone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
