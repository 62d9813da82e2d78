// The same bot on several hosts: one session in Redis, shared by every worker,
// with a lock so that one token generation is refreshed once.
// Run: REDIS_URL=redis://127.0.0.1:6379 node --conditions=lex-password-agent-source examples/redis-store-bot.ts
import { Redis } from 'ioredis'
import { PasswordAgent, Session } from 'lex-password-agent'
import { RedisSessionStore } from 'lex-password-agent/redis-store'

const redis = new Redis(process.env.REDIS_URL!)
const store = new RedisSessionStore(redis, {
  key: 'my-feed-bot', // one key per account
  prefix: 'myapp:', // default 'lex-password-agent:'
  lockTtlMs: 30_000, // default
})
const result = await PasswordAgent.resumeOrLogin({
  service: 'https://bsky.social',
  identifier: process.env.BSKY_HANDLE ?? 'alice.bsky.social',
  password: process.env.BSKY_APP_PASSWORD ?? 'app-password',
  store,
})
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)
const agent = result.value

await agent.refresh() // under the store's lock: written to Redis before it is used
const saved = await store.get()
console.log('session in Redis:', Session.is(saved) && saved.data.refreshJwt === agent.session.data.refreshJwt)
redis.disconnect()
