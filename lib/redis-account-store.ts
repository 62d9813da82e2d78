import type { DidString } from '@atproto/lex-schema'
import { didRule, type AccountStore } from './core/account-store.ts'
import { check, checkOptions, isObject, type Rule } from './core/check.ts'
import { isDid } from './core/session.ts'
import {
  REDIS,
  REDIS_STORE_RULES,
  RedisSessionStore,
  type RedisLike,
  type RedisSessionStoreOptions,
} from './redis-session-store.ts'

/** The Redis commands {@link RedisAccountStore} uses: {@link RedisLike}'s, and `SCAN` to list the accounts. */
export interface RedisAccountLike extends RedisLike {
  /** `SCAN cursor MATCH pattern COUNT n`: `[next cursor, keys]` (ioredis' shape). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  scan(cursor: string | number, ...args: any[]): Promise<[cursor: string, keys: string[]]>
}

/** The options of {@link RedisAccountStore}: those of each account's {@link RedisSessionStore} but `key` (the DID). */
export type RedisAccountStoreOptions = Omit<RedisSessionStoreOptions, 'key'>

const { key: _key, ...RULES } = REDIS_STORE_RULES
const REDIS_ACCOUNTS: Rule = [(v) => REDIS[0](v, '', '') && isObject(v) && typeof v['scan'] === 'function', REDIS[1]]

/** `*`, `?`, `[`, `]` and `\` are glob characters in a SCAN pattern. */
const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&')

/**
 * The sessions of many accounts in Redis, one key per DID
 * (`<prefix>session:<did>`, each a {@link RedisSessionStore} with its lock
 * `<prefix>lock:…` per account), shared by every worker on every host.
 * `list()` walks the keys with `SCAN` (no index to keep in step).
 */
export class RedisAccountStore implements AccountStore {
  readonly #redis: RedisAccountLike
  readonly #options: RedisAccountStoreOptions
  readonly #prefix: string

  constructor(redis: RedisAccountLike, options: RedisAccountStoreOptions = {}) {
    check('RedisAccountStore', 'redis', redis, REDIS_ACCOUNTS)
    checkOptions('RedisAccountStore', options, RULES)
    this.#redis = redis
    this.#options = { ...options }
    this.#prefix = options.prefix ?? 'lex-password-agent:'
  }

  /** The account's {@link RedisSessionStore}: key `<prefix>session:<did>`. */
  account(did: DidString): RedisSessionStore {
    check('RedisAccountStore.account', 'did', did, didRule)
    return new RedisSessionStore(this.#redis, { ...this.#options, key: did })
  }

  async *list(): AsyncIterable<DidString> {
    const head = `${this.#prefix}session:`
    const match = `${globEscape(head)}did:*`
    // SCAN may return a key twice (while the keyspace is rehashed).
    const seen = new Set<string>()
    let cursor = '0'
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', match, 'COUNT', 1000)
      cursor = String(next)
      for (const key of keys) {
        const did = key.slice(head.length)
        if (isDid(did) && !seen.has(did)) {
          seen.add(did)
          yield did
        }
      }
    } while (cursor !== '0')
  }
}
