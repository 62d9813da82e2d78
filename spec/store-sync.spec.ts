import { describe, expect, it } from '@jest/globals'
import { MemorySessionStore, type SessionStore } from '../lib/core/session-store.ts'
import type { Session } from '../lib/core/session.ts'
import { StoreSync } from '../lib/core/store-sync.ts'
import { DID, fakeJwt, session } from './helpers/fixtures.ts'

/** A session of the same account whose access token expires `expInS` from now (generation order). */
const generation = (expInS: number) => session({}, { accessJwt: fakeJwt({ sub: DID }, expInS) })

function sync(store?: SessionStore) {
  const warnings: string[] = []
  return { sync: new StoreSync(store, async (message) => void warnings.push(message)), warnings }
}

const failing = (method: 'get' | 'set' | 'delete', stored?: Session): SessionStore => {
  const store = new MemorySessionStore(stored)
  store[method] = async () => {
    throw new Error(`${method} failed`)
  }
  return store
}

// The holder's reads and writes of a shared store never throw: what goes
// wrong is a warning, and the session in memory carries on.
describe('StoreSync', () => {
  it('without a store: nothing newer, and saving or removing does nothing', async () => {
    const { sync: s, warnings } = sync()
    expect(await s.newer(session())).toBeUndefined()
    await s.save(session())
    await s.remove(session())
    expect(warnings).toEqual([])
  })

  it('newer(): the stored session only if it is a newer generation of the same account', async () => {
    const ours = generation(7200)
    const newer = generation(9000)
    const cases: [Session | undefined, Session | undefined][] = [
      [undefined, undefined],
      [ours, undefined],
      [generation(3600), undefined],
      [session({}, { did: 'did:plc:someoneelse234567abcdef', accessJwt: fakeJwt({}, 9000) }), undefined],
      [newer, newer],
    ]
    for (const [stored, expected] of cases) {
      const { sync: s, warnings } = sync(new MemorySessionStore(stored))
      expect(await s.newer(ours)).toEqual(expected)
      expect(warnings).toEqual([])
    }
  })

  it('newer(): a failed read or a malformed entry is a warning, never adopted', async () => {
    const read = sync(failing('get'))
    expect(await read.sync.newer(session())).toBeUndefined()
    expect(read.warnings).toEqual(['could not read the session store (get failed)'])

    const malformed = { ...generation(9000), data: { ...generation(9000).data, refreshJwt: 'not a jwt' } }
    const bad = sync(new MemorySessionStore(malformed))
    expect(await bad.sync.newer(session())).toBeUndefined()
    expect(bad.warnings).toHaveLength(1)
    expect(bad.warnings[0]).toMatch(/^the session store holds something that is not a valid Session; ignoring it \(/)
    expect(bad.warnings[0]).not.toContain('not a jwt')
  })

  it('save(): writes the session; a failed write is a warning', async () => {
    const store = new MemorySessionStore()
    const s = session()
    await sync(store).sync.save(s)
    expect(await store.get()).toEqual(s)

    const { sync: broken, warnings } = sync(failing('set'))
    await broken.save(s)
    expect(warnings).toEqual(['could not save the session; keeping it in memory (set failed)'])
  })

  it('remove(): deletes only if the store still holds this generation (or an older one) of this account', async () => {
    const ours = generation(7200)
    const cases: [Session, boolean][] = [
      [ours, true],
      [generation(3600), true],
      [generation(9000), false],
      [session({}, { did: 'did:plc:someoneelse234567abcdef' }), false],
    ]
    for (const [stored, removed] of cases) {
      const store = new MemorySessionStore(stored)
      await sync(store).sync.remove(ours)
      expect(await store.get()).toEqual(removed ? undefined : stored)
    }
  })

  it('remove(): a failed read or delete is a warning', async () => {
    const ours = session()
    for (const [store, message] of [
      [failing('get', ours), 'could not remove the session from the store (get failed)'],
      [failing('delete', ours), 'could not remove the session from the store (delete failed)'],
    ] as const) {
      const { sync: s, warnings } = sync(store)
      await s.remove(ours)
      expect(warnings).toEqual([message])
    }
  })
})
