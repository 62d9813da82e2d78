import { check, checkOptions, isObject, MAX_TIMER_MS, number, required, string, type Rule } from './core/check.ts'
import { LockTimeoutError } from './core/errors.ts'
import type { Session } from './core/session.ts'
import { parseStoredSession, type SessionLock, type SessionStore } from './core/session-store.ts'
import { sleep } from './core/sleep.ts'

/**
 * The few Redis commands the store uses; an `ioredis` client (`new Redis(url)`)
 * fits as is. No Redis client is bundled: bring your own.
 */
export interface RedisLike {
  /** `GET key`: the session JSON. */
  get(key: string): Promise<string | null>
  // Loose on purpose: ioredis types these with many overloads.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  /** `SET key value [NX] [PX ms]`: the session, and taking the lock. */
  set(key: string, value: string, ...args: any[]): Promise<unknown>
  /** `DEL key`: removing the session. */
  del(key: string): Promise<unknown>
  /** `EVAL script numKeys ...`: releasing and renewing the lock (compare-and-delete, compare-and-renew). */
  eval(script: string, numKeys: number, ...args: any[]): Promise<unknown>
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

/** The options of {@link RedisSessionStore}. */
export type RedisSessionStoreOptions = {
  /** Which session: one key per account, e.g. the handle or DID. */
  key: string
  /** Prefix of every key this store writes (default `lex-password-agent:`). */
  prefix?: string
  /** Lock expiry; renewed every third of it while held (default 30 000). */
  lockTtlMs?: number
  /** Give up acquiring the lock after this long (default 120 000). */
  acquireTimeoutMs?: number
}

// Compare-and-delete / compare-and-renew: only the holder's token may touch the lock.
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
const RENEW =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"

/** Longest `lockTtlMs` (and `acquireTimeoutMs`) whose renewal timer, a third of it, Node honours. */
const MAX_TTL_MS = 3 * MAX_TIMER_MS
const ttl = number({ above: true, integer: true, max: MAX_TTL_MS })

export const REDIS_STORE_RULES: Record<keyof RedisSessionStoreOptions, Rule> = {
  key: required(string),
  // '' included: no prefix.
  prefix: [(v) => typeof v === 'string', 'be a string'],
  lockTtlMs: ttl,
  acquireTimeoutMs: ttl,
}
export const REDIS: Rule = [
  (v) => isObject(v) && ['get', 'set', 'del', 'eval'].every((m) => typeof v[m] === 'function'),
  'be a Redis client (e.g. new Redis(url) from ioredis)',
]

/**
 * One account's session in Redis, shared by every worker on every host: the
 * session is one key holding exactly the `Session` JSON, and the lock is
 * `SET <prefix>lock:<name> <random token> NX PX <ttl>`, renewed while held,
 * released only by its holder, and freed by expiry if the holder dies.
 */
export class RedisSessionStore implements SessionStore {
  readonly #redis: RedisLike
  readonly #key: string
  readonly #prefix: string
  readonly #lockTtlMs: number
  readonly #acquireTimeoutMs: number

  constructor(redis: RedisLike, options: RedisSessionStoreOptions) {
    check('RedisSessionStore', 'redis', redis, REDIS)
    checkOptions('RedisSessionStore', options, REDIS_STORE_RULES)
    this.#redis = redis
    this.#prefix = options.prefix ?? 'lex-password-agent:'
    this.#key = `${this.#prefix}session:${options.key}`
    this.#lockTtlMs = options.lockTtlMs ?? 30_000
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 120_000
  }

  async get(): Promise<Session | undefined> {
    const text = await this.#redis.get(this.#key)
    if (text === null) return undefined
    return parseStoredSession(text, `Redis key ${this.#key}`)
  }

  async set(session: Session): Promise<void> {
    await this.#redis.set(this.#key, JSON.stringify(session))
  }

  async delete(): Promise<void> {
    await this.#redis.del(this.#key)
  }

  lock: SessionLock = async (name, fn) => {
    const key = `${this.#prefix}lock:${name}`
    const token = crypto.randomUUID()
    const deadline = Date.now() + this.#acquireTimeoutMs
    for (let attempt = 0; (await this.#redis.set(key, token, 'PX', this.#lockTtlMs, 'NX')) !== 'OK'; attempt++) {
      if (Date.now() > deadline) {
        throw new LockTimeoutError(
          `timed out after ${this.#acquireTimeoutMs} ms waiting for the session lock ${key}, which another process holds: check that process, or raise acquireTimeoutMs`,
        )
      }
      await sleep(Math.min(100, 5 + attempt * 5) * (0.5 + Math.random()))
    }
    // Renew while the refresh runs, so a slow entryway cannot let the lock lapse under us.
    const renew = setInterval(
      () => {
        this.#redis.eval(RENEW, 1, key, token, this.#lockTtlMs).catch(() => {})
      },
      Math.max(50, Math.floor(this.#lockTtlMs / 3)),
    )
    ;(renew as { unref?: () => void }).unref?.()
    try {
      return await fn()
    } finally {
      clearInterval(renew)
      await this.#redis.eval(RELEASE, 1, key, token).catch(() => {})
    }
  }
}
