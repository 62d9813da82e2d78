// The stand-ins the README examples call (saveToStorage, prompt2FACode, …),
// implemented for Node so that every example runs as written. A real app puts
// its own storage and UI here.
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline/promises'
import type { Session } from 'lex-password-agent'

const dir = process.env.EXAMPLE_STATE_DIR ?? path.join(process.cwd(), '.tmp', 'example-state')
const file = (did: string) => path.join(dir, `${did.replaceAll(':', '_')}.json`)

export function saveToStorage(session: Session): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(file(session.data.did), JSON.stringify(session), { mode: 0o600 })
}
export const saveSession = saveToStorage

export function clearStorage(session: Session): void {
  fs.rmSync(file(session.data.did), { force: true })
}

export function clearPersistedSession(did: string): void {
  fs.rmSync(file(did), { force: true })
}

export function redirectToLogin(): void {
  console.log('Session ended: log in again.')
}

export function queueLogoutRetry(session: Session): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(dir, 'logout-queue.json'), JSON.stringify(session), { mode: 0o600 })
}

export async function prompt2FACode(): Promise<string> {
  if (process.env.ATP_AUTH_FACTOR_TOKEN) return process.env.ATP_AUTH_FACTOR_TOKEN
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout })
  try {
    return (await rl.question('2FA code from your email: ')).trim()
  } finally {
    rl.close()
  }
}

/** A `localStorage` for Node, backed by a JSON file, for the browser-flavoured examples. */
class FileStorage {
  #file = path.join(dir, 'local-storage.json')
  #read(): Record<string, string> {
    try {
      return JSON.parse(fs.readFileSync(this.#file, 'utf8'))
    } catch {
      return {}
    }
  }
  getItem(key: string): string | null {
    return this.#read()[key] ?? null
  }
  setItem(key: string, value: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    fs.writeFileSync(this.#file, JSON.stringify({ ...this.#read(), [key]: value }), { mode: 0o600 })
  }
  removeItem(key: string): void {
    const { [key]: _, ...rest } = this.#read()
    fs.writeFileSync(this.#file, JSON.stringify(rest), { mode: 0o600 })
  }
}
export const localStorage = new FileStorage()
