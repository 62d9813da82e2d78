import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { DidString } from '@atproto/lex-schema'
import { MemoryAccountStore, type AccountStore } from 'lex-password-agent'
import { accountFileName, FileAccountStore, FileSessionStore } from 'lex-password-agent/file-store'
import { didOfFileName } from '../lib/file-account-store.ts'
import { session } from './helpers/fixtures.ts'

// The many-account store contract: one SessionStore per DID, listed by DID.

const sessionOf = (did: string) => session({}, { did: did as DidString })
const list = async (store: AccountStore) => {
  const out: string[] = []
  for await (const did of store.list()) out.push(did)
  return out.sort()
}

describe('accountFileName', () => {
  it.each([
    ['did:plc:abc234', 'did_plc_abc234'],
    ['did:web:example.com', 'did_web_example.com'],
    ['did:web:localhost%3A2583', 'did_web_localhost~253~412583'],
    ['did:web:Example.COM', 'did_web_~45xample.~43~4F~4D'],
    ['did:example:a_b-c', 'did_example_a~5Fb-c'],
    ['did:web:a:b', 'did_web_a_b'],
  ])('%s → %s, and back', (did, name) => {
    expect(accountFileName(did)).toBe(name)
    expect(didOfFileName(name)).toBe(did)
    expect(name).toMatch(/^[a-z0-9._~A-F-]+$/)
  })

  it('names a long DID by its hash; unknown and non-canonical names are no DID', () => {
    const long = `did:web:${'a'.repeat(200)}.example`
    expect(accountFileName(long)).toMatch(/^long_[0-9a-f]{64}$/)
    expect(didOfFileName(accountFileName(long))).toBeUndefined()
    for (const name of ['notes', 'did_plc_~61bc', 'did_plc_', 'did_~3A', 'did_plc_a~2F..'])
      expect(didOfFileName(name)).toBeUndefined()
  })
})

describe.each([
  ['MemoryAccountStore', async () => new MemoryAccountStore()],
  ['FileAccountStore', async () => new FileAccountStore(await fs.mkdtemp(path.join(os.tmpdir(), 'accounts-')))],
])('%s', (_, make) => {
  let store: AccountStore
  beforeEach(async () => {
    store = await make()
  })
  afterEach(async () => {
    if (store instanceof FileAccountStore) await fs.rm(store.dir, { recursive: true, force: true })
  })

  it('keeps one session per DID, lists the DIDs that have one, and deletes one without the others', async () => {
    const dids = ['did:plc:alice', 'did:plc:bob', 'did:web:localhost%3A2583', 'did:web:Upper.example'] as DidString[]
    expect(await list(store)).toEqual([])
    for (const did of dids) await store.account(did).set(sessionOf(did))
    expect(await list(store)).toEqual([...dids].sort())
    for (const did of dids) expect((await store.account(did).get())?.data.did).toBe(did)
    await store.account(dids[0]!).delete()
    expect(await store.account(dids[0]!).get()).toBeUndefined()
    expect(await list(store)).toEqual(dids.slice(1).sort())
  })

  it("locks per account: one account's holder does not block another's", async () => {
    const [a, b] = [store.account('did:plc:alice'), store.account('did:plc:bob')]
    const order: string[] = []
    let release!: () => void
    const held = a.lock!('k', () => new Promise<void>((r) => (release = r)).then(() => void order.push('a done')))
    await new Promise((r) => setTimeout(r, 20))
    await b.lock!('k', async () => void order.push('b ran'))
    // Another view of the same account (a new object for the file store) waits for the holder.
    const second = store.account('did:plc:alice').lock!('k', async () => void order.push('a again'))
    await new Promise((r) => setTimeout(r, 100))
    expect(order).toEqual(['b ran'])
    release()
    await Promise.all([held, second])
    expect(order).toEqual(['b ran', 'a done', 'a again'])
  })

  it('refuses a DID that is none', () => {
    expect(() => store.account('alice' as never)).toThrow(TypeError)
    expect(() => store.account('alice' as never)).toThrow('"did" must be a DID (did:plc:… or did:web:…)')
  })
})

describe('FileAccountStore', () => {
  let dir: string
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'accounts-'))
  })
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true })
  })

  it('is one FileSessionStore per DID file; lists only account files, long DIDs included', async () => {
    const store = new FileAccountStore(dir, { staleMs: 5000 })
    const account = store.account('did:plc:alice')
    expect(account).toBeInstanceOf(FileSessionStore)
    expect(account.file).toBe(path.join(dir, 'did_plc_alice.json'))
    const long = `did:web:${'a'.repeat(200)}.example` as DidString
    await store.account(long).set(sessionOf(long))
    await account.set(sessionOf('did:plc:alice'))
    await account.lock!('k', async () => {}) // leaves its lock directory beside the file
    // Other files: not accounts (a temp file, notes, a name that decodes to no DID, a `long_` name of another DID).
    await fs.writeFile(path.join(dir, 'did_plc_alice.json.123.abcd.tmp'), '{}')
    await fs.writeFile(path.join(dir, 'notes.json'), '{}')
    await fs.writeFile(path.join(dir, 'did_plc_~61.json'), '{}')
    await fs.copyFile(path.join(dir, `${accountFileName(long)}.json`), path.join(dir, `long_${'0'.repeat(64)}.json`))
    expect((await fs.readdir(dir)).length).toBe(7)
    const dids: string[] = []
    for await (const did of store.list()) dids.push(did)
    expect(dids.sort()).toEqual(['did:plc:alice', long])
  })

  it('lists nothing for a directory that does not exist yet, and refuses bad options', async () => {
    const store = new FileAccountStore(path.join(dir, 'missing'))
    for await (const did of store.list()) throw new Error(`unexpected ${did}`)
    expect(() => new FileAccountStore('')).toThrow('FileAccountStore: "dir" must be a non-empty string')
    expect(() => new FileAccountStore(dir, { staleMs: 0 })).toThrow('FileAccountStore: "staleMs" must be')
  })
})
