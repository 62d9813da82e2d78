// Entry point `lex-password-agent/redis-store`: bring your own Redis client (ioredis).
export { RedisSessionStore, type RedisLike, type RedisSessionStoreOptions } from './redis-session-store.ts'
export { RedisAccountStore, type RedisAccountLike, type RedisAccountStoreOptions } from './redis-account-store.ts'
