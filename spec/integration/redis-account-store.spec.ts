import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { Redis } from 'ioredis'
import type { DidString } from '@atproto/lex-schema'
import { PasswordAgentPool } from '../../lib/password-agent-pool.ts'
import { RedisAccountStore } from '../../lib/redis-account-store.ts'
import { RedisSessionStore } from '../../lib/redis-session-store.ts'
import { didOf, fakeAccounts, FAKE_SERVICE } from '../helpers/fake-accounts.ts'
import { session } from '../helpers/fixtures.ts'
import { redisUnavailableReason, startRedis, type TestRedis } from '../helpers/redis.ts'

// RedisAccountStore (and the pool on it) against a real redis-server.
const skip = redisUnavailableReason()
if (skip) console.warn(`redis account store suite SKIPPED: ${skip}`)
const suite = skip ? describe.skip : describe

suite('RedisAccountStore on a real redis-server', () => {
  let redis: TestRedis
  let client: Redis
  beforeAll(async () => {
    redis = await startRedis()
    client = new Redis(redis.url)
  })
  afterAll(async () => {
    client?.disconnect()
    await redis?.stop()
  })

  it('keeps one key per DID under the prefix, and lists them with SCAN (glob characters in the prefix are literal)', async () => {
    const store = new RedisAccountStore(client, { prefix: 'acc[1]*:' })
    const dids = Array.from({ length: 2500 }, (_, i) => `did:plc:user${i}` as DidString)
    for (const did of dids.slice(0, 3)) await store.account(did).set(session({}, { did }))
    // The rest written straight, as many workers would have.
    const pipeline = client.pipeline()
    for (const did of dids.slice(3)) pipeline.set(`acc[1]*:session:${did}`, JSON.stringify(session({}, { did })))
    await pipeline.exec()
    // Not accounts: another prefix that the glob would match unescaped, a lock, a single-account key.
    await client.set('acc1x:session:did:plc:other', '{}')
    await client.set('acc[1]*:lock:lex-password-agent:did:plc:user1', 'token')
    await new RedisSessionStore(client, { key: 'alice', prefix: 'acc[1]*:' }).set(session())

    expect(store.account(dids[0]!)).toBeInstanceOf(RedisSessionStore)
    expect(JSON.parse((await client.get('acc[1]*:session:did:plc:user0'))!).data.did).toBe('did:plc:user0')
    const listed: string[] = []
    for await (const did of store.list()) listed.push(did)
    expect(listed.sort()).toEqual([...dids].sort())
    await store.account(dids[1]!).delete()
    expect(await store.account(dids[1]!).get()).toBeUndefined()
    expect(await client.exists('acc[1]*:session:did:plc:user1')).toBe(0)
  })

  it('two pools on one Redis: a refresh by one is adopted by the other, under the per-account lock', async () => {
    const server = fakeAccounts()
    const store = new RedisAccountStore(client, { prefix: 'pool:' })
    const a = new PasswordAgentPool({ store, fetch: server.fetch })
    const b = new PasswordAgentPool({ store: new RedisAccountStore(client, { prefix: 'pool:' }), fetch: server.fetch })
    const login = await a.login({ service: FAKE_SERVICE, identifier: 'alice', password: 'pw-alice' })
    if (!login.success) throw new Error('login failed')
    await a.login({ service: FAKE_SERVICE, identifier: 'bob', password: 'pw-bob' })
    const inB = (await b.get(didOf('alice')))!
    server.expireAll()
    await Promise.all([login.value.fetch('/xrpc/app.example.ping'), inB.fetch('/xrpc/app.example.ping')])
    expect(server.refreshes.get(didOf('alice'))).toBe(1)
    expect(inB.session).toEqual(login.value.session)
    const accounts: string[] = []
    for await (const did of b.accounts()) accounts.push(did)
    expect(accounts.sort()).toEqual([didOf('alice'), didOf('bob')])
    expect(await b.logout(didOf('bob'))).toBe(true)
    expect(await client.exists(`pool:session:${didOf('bob')}`)).toBe(0)
  })
})
