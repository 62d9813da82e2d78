import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { DidString } from '@atproto/lex-schema'
import { didRule, type AccountStore } from './core/account-store.ts'
import { check, checkOptions, string } from './core/check.ts'
import { isDid } from './core/session.ts'
import { parseStoredSession } from './core/session-store.ts'
import { FILE_STORE_RULES, FileSessionStore, type FileSessionStoreOptions } from './file-session-store.ts'

/** The options of {@link FileAccountStore}: those of each account's {@link FileSessionStore}. */
export type FileAccountStoreOptions = FileSessionStoreOptions

/**
 * Longest encoded DID used as a file name: with `.json`, and the lock
 * directory's and temp files' suffixes (about 70 bytes), it stays well under
 * the 255 bytes file systems allow. Longer DIDs (a did:web with a long host)
 * are named by their SHA-256 instead, and listed by reading the file.
 */
const MAX_NAME = 150

/**
 * The file name (without `.json`) of `did`'s session, reversible and safe on
 * every file system: `did:plc:abc` → `did_plc_abc`. Lower-case letters, digits,
 * `.` and `-` are kept, `:` becomes `_`, and every other character (`_`, `%`,
 * upper-case letters, which case-insensitive file systems would fold) becomes
 * `~` and its two hex digits: `did:web:localhost%3A2583` →
 * `did_web_localhost~253~412583`. A name over 150 characters is
 * `long_<sha256 of the DID>` (names of DIDs always start with `did_`).
 */
export function accountFileName(did: string): string {
  const name = did.replace(/[^a-z0-9.-]/g, (c) =>
    c === ':' ? '_' : `~${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  )
  return name.length <= MAX_NAME ? name : `long_${createHash('sha256').update(did).digest('hex')}`
}

/** The DID an {@link accountFileName} stands for, or `undefined` (another file, or a `long_` name: read the file). */
export function didOfFileName(name: string): DidString | undefined {
  if (!name.startsWith('did_') || !/^[a-z0-9._~A-F-]+$/.test(name)) return undefined
  const did = name.replace(/_|~([0-9A-F]{2})/g, (_, hex?: string) =>
    hex ? String.fromCharCode(parseInt(hex, 16)) : ':',
  )
  // Only the canonical name of a valid DID: one DID, one file.
  return isDid(did) && accountFileName(did) === name ? did : undefined
}

/**
 * The sessions of many accounts as a directory of files, one per DID
 * (`<dir>/did_plc_abc.json`, see {@link accountFileName}), each a
 * {@link FileSessionStore} with its own cross-process lock beside it: for
 * processes of one host sharing a local directory.
 */
export class FileAccountStore implements AccountStore {
  /** The directory, as an absolute path. */
  readonly dir: string
  readonly #options: FileAccountStoreOptions

  constructor(dir: string, options: FileAccountStoreOptions = {}) {
    check('FileAccountStore', 'dir', dir, string)
    checkOptions('FileAccountStore', options, FILE_STORE_RULES)
    this.dir = path.resolve(dir)
    this.#options = { ...options }
  }

  /** The account's {@link FileSessionStore}: `<dir>/<accountFileName(did)>.json`. */
  account(did: DidString): FileSessionStore {
    check('FileAccountStore.account', 'did', did, didRule)
    return new FileSessionStore(path.join(this.dir, `${accountFileName(did)}.json`), this.#options)
  }

  async *list(): AsyncIterable<DidString> {
    let names: string[]
    try {
      names = await fs.readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const file of names) {
      if (!file.endsWith('.json')) continue
      const name = file.slice(0, -'.json'.length)
      if (name.startsWith('long_')) {
        const did = await this.#didInside(path.join(this.dir, file))
        if (did && accountFileName(did) === name) yield did
      } else {
        const did = didOfFileName(name)
        if (did) yield did
      }
    }
  }

  /** The DID of the session in `file` (a `long_` name), or `undefined` if it is gone or unreadable. */
  async #didInside(file: string): Promise<DidString | undefined> {
    try {
      return parseStoredSession(await fs.readFile(file, 'utf8'), file).data.did
    } catch {
      return undefined
    }
  }
}
