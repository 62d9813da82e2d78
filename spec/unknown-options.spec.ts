import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import {
  MemoryAccountStore,
  MemorySessionStore,
  PasswordAgent,
  PasswordAgentPool,
  SessionHolder,
} from 'lex-password-agent'
import { discoverService } from 'lex-password-agent/discovery'
import { FileAccountStore, FileSessionStore } from 'lex-password-agent/file-store'
import * as middleware from 'lex-password-agent/middleware'
import { RedisAccountStore, RedisSessionStore, type RedisAccountLike } from 'lex-password-agent/redis-store'
import { WebStorageSessionStore, type LockManagerLike, type StorageLike } from 'lex-password-agent/web-store'
import { isLexPasswordAgentError } from '../lib/core/errors.ts'
import type { FetchLike } from '../lib/core/fetch.ts'
import { DID, SERVICE, session } from './helpers/fixtures.ts'

/**
 * Every public entry point that takes options, each given one misspelled key:
 * it must throw (or reject with) a TypeError that names the key and suggests
 * the right one, before any request. A misspelled option that is silently
 * ignored (a hook that never runs, a timeout left at its default) is the
 * worst kind of bug.
 */

// Nothing may go out: a terminal fetch that fails the test, a spy on the
// global fetch, nock's unmatched requests (the net is disabled in setup.ts),
// and a Redis client, a Web Storage and Web Locks whose every call is recorded.
const terminal = jest.fn<FetchLike>(async () => {
  throw new Error('no request may be sent')
})
let global: ReturnType<typeof jest.spyOn>
let unmatched: unknown[]
const onNoMatch = (req: unknown) => void unmatched.push(req)
const redisCalls: string[] = []
const redis: RedisAccountLike = {
  scan: async () => (redisCalls.push('scan'), ['0', []]),
  get: async () => (redisCalls.push('get'), null),
  set: async () => redisCalls.push('set'),
  del: async () => redisCalls.push('del'),
  eval: async () => redisCalls.push('eval'),
}
const webCalls: string[] = []
const webStorage: StorageLike = {
  getItem: () => (webCalls.push('getItem'), null),
  setItem: () => void webCalls.push('setItem'),
  removeItem: () => void webCalls.push('removeItem'),
}
const webLocks: LockManagerLike = { request: async () => webCalls.push('request') }
const storageEvents = { addEventListener: () => webCalls.push('addEventListener'), removeEventListener() {} }
beforeEach(() => {
  terminal.mockClear()
  webCalls.length = 0
  global = jest.spyOn(globalThis, 'fetch')
  unmatched = []
  redisCalls.length = 0
  nock.disableNetConnect()
  nock.emitter.on('no match', onNoMatch)
})
afterEach(() => {
  global.mockRestore()
  nock.emitter.removeListener('no match', onNoMatch)
  expect(terminal).not.toHaveBeenCalled()
  expect(global).not.toHaveBeenCalled()
  expect(unmatched).toEqual([])
  expect(redisCalls).toEqual([])
  expect(webCalls).toEqual([])
})

const holder = () => new SessionHolder(session(), { fetch: terminal })
const LOGIN = { service: SERVICE, identifier: 'alice.example', password: 'hunter2-secret', fetch: terminal }

/** [name, call with the misspelled key, the message it must throw] */
type Row = [name: string, call: () => unknown, message: string]

const notAnOption = (where: string, key: string, meant: string) =>
  `${where}: "${key}" is not an option (did you mean "${meant}"?)`

const AGENT: Row[] = [
  ['login', () => PasswordAgent.login({ ...LOGIN, hook: {} } as never), notAnOption('login', 'hook', 'hooks')],
  [
    'login: a credentials URL and its options',
    () =>
      PasswordAgent.login('https://alice:pw@entryway.example', { fetch: terminal, refreshTimeoutMS: 1000 } as never),
    notAnOption('login', 'refreshTimeoutMS', 'refreshTimeoutMs'),
  ],
  [
    'login: resolveService',
    () => PasswordAgent.login({ ...LOGIN, service: undefined, resolveServce: discoverService } as never),
    notAnOption('login', 'resolveServce', 'resolveService'),
  ],
  [
    'login: hooks',
    () => PasswordAgent.login({ ...LOGIN, hooks: { onRefresh: () => {} } } as never),
    notAnOption('login', 'hooks.onRefresh', 'hooks.onRefreshed'),
  ],
  [
    'login: refreshBackoff',
    () => PasswordAgent.login({ ...LOGIN, refreshBackoff: { minMS: 0 } } as never),
    notAnOption('login', 'refreshBackoff.minMS', 'refreshBackoff.minMs'),
  ],
  [
    'login: refreshAhead',
    () => PasswordAgent.login({ ...LOGIN, refreshAhead: { margin: 1000 } } as never),
    notAnOption('login', 'refreshAhead.margin', 'refreshAhead.marginMs'),
  ],
  [
    'login: discovery',
    () =>
      PasswordAgent.login({
        ...LOGIN,
        service: undefined,
        resolveService: discoverService,
        discovery: { plcDirectory: 'https://plc.example' },
      } as never),
    notAnOption('login', 'discovery.plcDirectory', 'discovery.plcDirectoryUrl'),
  ],
  [
    'resume',
    () => PasswordAgent.resume(session(), { fetch: terminal, refersh: 'if-expired' } as never),
    notAnOption('resume', 'refersh', 'refresh'),
  ],
  [
    'resume: hooks',
    () => PasswordAgent.resume(session(), { fetch: terminal, hooks: { ondeleted: () => {} } } as never),
    notAnOption('resume', 'hooks.ondeleted', 'hooks.onDeleted'),
  ],
  [
    'resume: refreshAhead',
    () => PasswordAgent.resume(session(), { fetch: terminal, refreshAhead: { jitterMS: 0 } } as never),
    notAnOption('resume', 'refreshAhead.jitterMS', 'refreshAhead.jitterMs'),
  ],
  [
    'new PasswordAgent',
    () => new PasswordAgent(session(), { fetch: terminal, sotre: new MemorySessionStore() } as never),
    notAnOption('PasswordAgent', 'sotre', 'store'),
  ],
  [
    'new PasswordAgent: refreshBackoff',
    () => new PasswordAgent(session(), { fetch: terminal, refreshBackoff: { max: 1 } } as never),
    notAnOption('PasswordAgent', 'refreshBackoff.max', 'refreshBackoff.maxMs'),
  ],
  [
    'delete',
    () => PasswordAgent.delete(session(), { fecth: terminal } as never),
    notAnOption('delete', 'fecth', 'fetch'),
  ],
  [
    'resumeOrLogin',
    () => PasswordAgent.resumeOrLogin({ ...LOGIN, stores: new MemorySessionStore() } as never),
    notAnOption('resumeOrLogin', 'stores', 'store'),
  ],
  [
    'resumeOrLogin: hooks',
    () =>
      PasswordAgent.resumeOrLogin({
        ...LOGIN,
        store: new MemorySessionStore(session()),
        hooks: { onWarn: () => {} },
      } as never),
    notAnOption('resumeOrLogin', 'hooks.onWarn', 'hooks.onWarning'),
  ],
  [
    'createAccount: input',
    () =>
      PasswordAgent.createAccount({ handle: 'alice.example', invitecode: 'x' } as never, {
        service: SERVICE,
        fetch: terminal,
      }),
    notAnOption('createAccount', 'input.invitecode', 'input.inviteCode'),
  ],
  [
    'createAccount: options',
    () => PasswordAgent.createAccount({ handle: 'alice.example' }, { servce: SERVICE, fetch: terminal } as never),
    notAnOption('createAccount', 'servce', 'service'),
  ],
  [
    'discoverService',
    () => discoverService(DID, { fetch: terminal, resolveTXT: async () => null } as never),
    notAnOption('discoverService', 'resolveTXT', 'resolveTxt'),
  ],
]

const MIDDLEWARE: Record<keyof typeof middleware, Row> = {
  authHeader: [
    'authHeader',
    () => middleware.authHeader({ sessions: holder() } as never),
    notAnOption('authHeader', 'sessions', 'session'),
  ],
  routeToPds: [
    'routeToPds',
    () => middleware.routeToPds({ session: holder(), sesion: 1 } as never),
    notAnOption('routeToPds', 'sesion', 'session'),
  ],
  refreshOnExpired: [
    'refreshOnExpired',
    () => middleware.refreshOnExpired({ session: holder(), maxPeekByte: 1 } as never),
    notAnOption('refreshOnExpired', 'maxPeekByte', 'maxPeekBytes'),
  ],
  refreshAhead: [
    'refreshAhead',
    () => middleware.refreshAhead({ session: holder(), streamMargin: 0 } as never),
    notAnOption('refreshAhead', 'streamMargin', 'streamMarginMs'),
  ],
  rateLimit: [
    'rateLimit',
    () => middleware.rateLimit({ maxWait: 0 } as never),
    notAnOption('rateLimit', 'maxWait', 'maxWaitMs'),
  ],
  retry: [
    'retry',
    () => middleware.retry({ maxRetires: 1 } as never),
    notAnOption('retry', 'maxRetires', 'maxRetries'),
  ],
  serviceProxy: [
    'serviceProxy',
    () => middleware.serviceProxy('did:web:api.bsky.app#bsky_appview', { onyl: () => true } as never),
    notAnOption('serviceProxy', 'onyl', 'only'),
  ],
  acceptLabelers: [
    'acceptLabelers',
    () => middleware.acceptLabelers([DID], { Only: () => true } as never),
    notAnOption('acceptLabelers', 'Only', 'only'),
  ],
  logger: [
    'logger',
    () => middleware.logger({ redactParam: ['x'] } as never),
    notAnOption('logger', 'redactParam', 'redactParams'),
  ],
}

const STORES: Row[] = [
  [
    'FileSessionStore',
    () => new FileSessionStore('session.json', { staleMS: 1000 } as never),
    notAnOption('FileSessionStore', 'staleMS', 'staleMs'),
  ],
  [
    'RedisSessionStore',
    () => new RedisSessionStore(redis, { key: 'alice', lockTtl: 1000 } as never),
    notAnOption('RedisSessionStore', 'lockTtl', 'lockTtlMs'),
  ],
  [
    'WebStorageSessionStore',
    () => new WebStorageSessionStore({ storage: webStorage, locks: webLocks, acquireTimeout: 1000 } as never),
    notAnOption('WebStorageSessionStore', 'acquireTimeout', 'acquireTimeoutMs'),
  ],
  [
    'FileAccountStore',
    () => new FileAccountStore('accounts', { acquireTimeout: 1000 } as never),
    notAnOption('FileAccountStore', 'acquireTimeout', 'acquireTimeoutMs'),
  ],
  [
    'RedisAccountStore',
    () => new RedisAccountStore(redis, { prefx: 'x:' } as never),
    notAnOption('RedisAccountStore', 'prefx', 'prefix'),
  ],
]

const POOL: Row[] = [
  [
    'new PasswordAgentPool',
    () => new PasswordAgentPool({ store: new MemoryAccountStore(), fetch: terminal, maxAgents: 10 } as never),
    notAnOption('PasswordAgentPool', 'maxAgents', 'max'),
  ],
  [
    'new PasswordAgentPool: hooks',
    () => new PasswordAgentPool({ store: new MemoryAccountStore(), hooks: { onDelete: () => {} } } as never),
    notAnOption('PasswordAgentPool', 'hooks.onDelete', 'hooks.onDeleted'),
  ],
  [
    'PasswordAgentPool.login',
    () =>
      new PasswordAgentPool({ store: new MemoryAccountStore(), fetch: terminal }).login({
        service: SERVICE,
        identifier: 'alice.example',
        pasword: 'hunter2-secret',
      } as never),
    notAnOption('PasswordAgentPool.login', 'pasword', 'password'),
  ],
]

/** The outcome of `call`, thrown or rejected. */
async function outcomeOf(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (err) {
    return err
  }
  return undefined
}

describe('a misspelled option is refused, naming it and the option it most likely meant, before any request', () => {
  it.each([...AGENT, ...Object.values(MIDDLEWARE), ...STORES, ...POOL])('%s', async (_name, call, message) => {
    const error = await outcomeOf(call)
    expect(error).toEqual(new TypeError(message))
    expect(error).toBeInstanceOf(TypeError)
    expect(isLexPasswordAgentError(error) && (error as { code: string }).code).toBe('ERR_INVALID_ARG')
  })

  it('covers every middleware factory and every static entry point of PasswordAgent', () => {
    const factories = Object.keys(middleware).filter(
      (name) => typeof middleware[name as keyof typeof middleware] === 'function',
    )
    expect(factories.sort()).toEqual(Object.keys(MIDDLEWARE).sort())
    const statics = Object.getOwnPropertyNames(PasswordAgent).filter(
      (name) => typeof (PasswordAgent as never)[name] === 'function',
    )
    const walked = new Set(AGENT.map(([name]) => name.split(':')[0]))
    for (const name of statics) expect([name, walked.has(name)]).toEqual([name, true])
  })

  it('without a close match, names the key alone', async () => {
    expect(await outcomeOf(() => PasswordAgent.login({ ...LOGIN, twoFactorCode: '123456' } as never))).toEqual(
      new TypeError('login: "twoFactorCode" is not an option'),
    )
  })

  it('keeps accepting every documented key (one call each with all of them)', async () => {
    const store = new MemorySessionStore()
    const agentOptions = {
      hooks: {
        onRefreshed() {},
        onRefreshFailure() {},
        onDeleted() {},
        onDeleteFailure() {},
        onWarning() {},
        onHookError() {},
      },
      fetch: terminal,
      refreshTimeoutMs: 1000,
      maxSessionAnswerBytes: 1024,
      refreshBackoff: { minMs: 0, maxMs: 0 },
      refreshAhead: { marginMs: 0, jitterMs: 0, streamMarginMs: 0 },
      store,
      lock: store.lock,
    }
    expect(new PasswordAgent(session(), agentOptions).did).toBe(DID)
    // Refused by the terminal fetch, i.e. after every check passed.
    await expect(
      PasswordAgent.login({
        ...agentOptions,
        identifier: 'alice.example',
        password: 'pw',
        authFactorToken: '123456',
        allowTakendown: false,
        resolveService: async () => ({ service: SERVICE }),
        discovery: { plcDirectoryUrl: 'https://plc.example', resolveTxt: async () => null },
      }),
    ).rejects.toThrow('no request may be sent')
    terminal.mockClear()
    expect(() => new FileSessionStore('session.json', { staleMs: 1000, acquireTimeoutMs: 1000 })).not.toThrow()
    expect(
      () => new RedisSessionStore(redis, { key: 'alice', prefix: '', lockTtlMs: 1000, acquireTimeoutMs: 1000 }),
    ).not.toThrow()
    expect(
      () =>
        new WebStorageSessionStore({
          key: 'alice',
          storage: webStorage,
          locks: webLocks,
          eventTarget: storageEvents,
          acquireTimeoutMs: 1000,
        }),
    ).not.toThrow()
    expect(() => new FileAccountStore('accounts', { staleMs: 1000, acquireTimeoutMs: 1000 })).not.toThrow()
    expect(() => new RedisAccountStore(redis, { prefix: '', lockTtlMs: 1000, acquireTimeoutMs: 1000 })).not.toThrow()
    const { store: _store, lock: _lock, ...poolOptions } = agentOptions
    const pool = new PasswordAgentPool({ ...poolOptions, store: new MemoryAccountStore(), max: 1 })
    await expect(
      pool.login({
        identifier: 'alice.example',
        password: 'pw',
        authFactorToken: '123456',
        allowTakendown: false,
        resolveService: async () => ({ service: SERVICE }),
        discovery: { plcDirectoryUrl: 'https://plc.example', resolveTxt: async () => null },
      }),
    ).rejects.toThrow('no request may be sent')
    terminal.mockClear()
    expect(() => middleware.rateLimit({ concurrency: 1, maxWaitMs: 0 })).not.toThrow()
    expect(() =>
      middleware.retry({ maxRetries: 0, minDelayMs: 0, maxDelayMs: 0, budgetMs: 0, procedures: [] }),
    ).not.toThrow()
    expect(() => middleware.logger({ log: () => {}, redactParams: [] })).not.toThrow()
    expect(() => middleware.refreshOnExpired({ session: holder(), maxPeekBytes: 1 })).not.toThrow()
  })
})
