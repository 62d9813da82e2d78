import { describe, expect, it, jest } from '@jest/globals'
import { XrpcResponseError } from '@atproto/lex-client'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import vm from 'node:vm'
import { inputError, typedFailure } from '../lib/core/errors.ts'
import { createSession } from '../lib/core/lexicons.ts'
import { DiscoveryError as DiscoveryErrorOfEntry } from '../lib/discovery.ts'
import { FileLock } from '../lib/file-lock.ts'
import {
  AccountTakedownError,
  AuthFactorTokenRequiredError,
  DiscoveryError,
  InvalidSessionResponseError,
  isLexPasswordAgentError,
  LockTimeoutError,
  LoggedOutError,
  RateLimitedError,
  ServiceUnreachableError,
  SessionAnswerTooLargeError,
  SessionEndedError,
  SessionMismatchError,
  SessionTimeoutError,
} from '../lib/index.ts'
import { RedisSessionStore } from '../lib/redis-session-store.ts'
import { retry } from '../middleware/retry.ts'
import { xrpcError } from './helpers/fixtures.ts'

const BRAND = Symbol.for('lex-password-agent.error')

/** An XrpcResponseError as lex-client makes it from an answer. */
const refusal = (status: number, error: string) =>
  new XrpcResponseError(createSession, new Response(null, { status }), {
    encoding: 'application/json',
    body: xrpcError(error),
  })

const thrown = (fn: () => unknown): unknown => {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('did not throw')
}

/** Every error the package makes, with the code it must carry. */
const errors: [string, () => Error, string][] = [
  ['input TypeError', () => inputError('"x" must be a string'), 'ERR_INVALID_ARG'],
  ['LoggedOutError', () => new LoggedOutError(), 'ERR_LOGGED_OUT'],
  ['SessionMismatchError', () => new SessionMismatchError('another DID'), 'ERR_SESSION_MISMATCH'],
  ['SessionTimeoutError', () => new SessionTimeoutError('timed out'), 'ERR_SESSION_TIMEOUT'],
  ['ServiceUnreachableError', () => new ServiceUnreachableError('refused'), 'ERR_SERVICE_UNREACHABLE'],
  [
    'SessionEndedError',
    () => {
      const { method, response, payload } = refusal(400, 'ExpiredToken')
      return new SessionEndedError(method, response, payload)
    },
    'ERR_SESSION_ENDED',
  ],
  [
    'AuthFactorTokenRequiredError',
    () => typedFailure(refusal(401, 'AuthFactorTokenRequired')),
    'ERR_AUTH_FACTOR_TOKEN_REQUIRED',
  ],
  ['AccountTakedownError', () => typedFailure(refusal(401, 'AccountTakedown')), 'ERR_ACCOUNT_TAKEDOWN'],
  ['RateLimitedError', () => typedFailure(refusal(429, 'RateLimitExceeded')), 'ERR_RATE_LIMITED'],
  ['InvalidSessionResponseError', () => new InvalidSessionResponseError(200), 'ERR_INVALID_SESSION_RESPONSE'],
  ['SessionAnswerTooLargeError', () => new SessionAnswerTooLargeError(200, 1024), 'ERR_SESSION_ANSWER_TOO_LARGE'],
  ['LockTimeoutError', () => new LockTimeoutError('timed out waiting for the session lock x'), 'ERR_LOCK_TIMEOUT'],
  ['DiscoveryError', () => new DiscoveryError('no usable PDS'), 'ERR_DISCOVERY'],
]

describe('isLexPasswordAgentError', () => {
  it.each(errors)('recognises the %s and its code', (name, make, code) => {
    const error = make()
    expect(isLexPasswordAgentError(error)).toBe(true)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe(name === 'input TypeError' ? 'TypeError' : name)
    expect((error as { code?: unknown }).code).toBe(code)
  })

  it('keeps input errors TypeErrors and typed refusals XrpcResponseErrors', () => {
    expect(inputError('x')).toBeInstanceOf(TypeError)
    for (const [status, error, Typed] of [
      [401, 'AuthFactorTokenRequired', AuthFactorTokenRequiredError],
      [401, 'AccountTakedown', AccountTakedownError],
      [429, 'RateLimitExceeded', RateLimitedError],
    ] as const) {
      const typed = typedFailure(refusal(status, error))
      expect(typed).toBeInstanceOf(Typed)
      expect(typed).toBeInstanceOf(XrpcResponseError)
      expect(typed).toMatchObject({ error, status })
    }
  })

  it('the codes are distinct, and the brand adds no enumerable property', () => {
    expect(new Set(errors.map(([, , code]) => code)).size).toBe(errors.length)
    for (const [, make] of errors) expect(Object.prototype.propertyIsEnumerable.call(make(), BRAND)).toBe(false)
  })

  it('recognises what the package throws: input checks, lock timeouts', async () => {
    const input = thrown(() => retry({ maxRetries: -1 }))
    expect(input).toBeInstanceOf(TypeError)
    expect(isLexPasswordAgentError(input)).toBe(true)
    expect(input).toMatchObject({ code: 'ERR_INVALID_ARG' })

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lpa-errors-'))
    try {
      let release!: () => void
      let acquired!: () => void
      const holding = new Promise<void>((r) => (acquired = r))
      const held = new FileLock(dir).run(() => new Promise<void>((r) => ((release = r), acquired())))
      await holding
      const waiter = new FileLock(dir, { acquireTimeoutMs: 50 }).run(async () => {})
      const fileError = await waiter.catch((e: unknown) => e)
      release()
      await held
      expect(fileError).toBeInstanceOf(LockTimeoutError)
      expect(isLexPasswordAgentError(fileError)).toBe(true)
      expect(fileError).toMatchObject({
        code: 'ERR_LOCK_TIMEOUT',
        message: `timed out after 50 ms waiting for the session lock ${dir}, which another process holds: check that process, or raise acquireTimeoutMs`,
      })
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }

    const busy = { get: async () => null, set: async () => null, del: async () => 0, eval: async () => 0 }
    const redisError = await new RedisSessionStore(busy, { key: 'k', acquireTimeoutMs: 20 })
      .lock('k', async () => {})
      .catch((e: unknown) => e)
    expect(redisError).toBeInstanceOf(LockTimeoutError)
    expect(isLexPasswordAgentError(redisError)).toBe(true)
    expect(redisError).toMatchObject({
      message:
        'timed out after 20 ms waiting for the session lock lex-password-agent:lock:k, which another process holds: check that process, or raise acquireTimeoutMs',
    })
  })

  it('discovery keeps exporting the one DiscoveryError', () => {
    expect(DiscoveryErrorOfEntry).toBe(DiscoveryError)
  })

  it('recognises errors from another copy of the package', () => {
    let copy!: typeof import('../lib/core/errors.ts')
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- jest's isolated registry is reached through require
      copy = require('../lib/core/errors.ts')
    })
    const other = new copy.LoggedOutError()
    expect(copy.LoggedOutError).not.toBe(LoggedOutError)
    expect(other).not.toBeInstanceOf(LoggedOutError) // instanceof fails across copies
    expect(isLexPasswordAgentError(other)).toBe(true)
    expect(isLexPasswordAgentError(copy.inputError('x'))).toBe(true)
    expect(copy.isLexPasswordAgentError(new LoggedOutError())).toBe(true)
  })

  it('recognises errors made in another realm (a vm context)', () => {
    const foreign = vm.runInNewContext(`
      class LoggedOutError extends Error {
        name = 'LoggedOutError'
        get code() { return 'ERR_LOGGED_OUT' }
        get [Symbol.for('lex-password-agent.error')]() { return true }
      }
      const input = new TypeError('bad')
      Object.defineProperty(input, Symbol.for('lex-password-agent.error'), { value: true })
      input.code = 'ERR_INVALID_ARG'
      ;[new LoggedOutError('Logged out'), input]
    `) as unknown[]
    for (const error of foreign) {
      expect(error).not.toBeInstanceOf(Error)
      expect(isLexPasswordAgentError(error)).toBe(true)
    }
    // A value of our realm checked by a guard of another realm.
    const guard = vm.runInNewContext(
      `(v) => typeof v === 'object' && v !== null && v[Symbol.for('lex-password-agent.error')] === true && typeof v.code === 'string'`,
    ) as (v: unknown) => boolean
    expect(guard(new LoggedOutError())).toBe(true)
    expect(guard(inputError('x'))).toBe(true)
  })

  it.each([
    ['an Error', new Error('Logged out')],
    ['a TypeError', new TypeError('"x" must be a string')],
    ['a TypeError with a code but no brand', Object.assign(new TypeError('x'), { code: 'ERR_INVALID_ARG' })],
    ["lex-client's own XrpcResponseError", refusal(500, 'InternalServerError')],
    ['a typed-looking name', Object.assign(new Error('x'), { name: 'LoggedOutError' })],
    ['the brand without a code', Object.defineProperty(new Error('x'), BRAND, { value: true })],
    ['a brand that is not true', Object.assign(new Error('x'), { [BRAND]: 'yes', code: 'ERR_LOGGED_OUT' })],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'ERR_LOGGED_OUT'],
  ])('does not recognise %s', (_name, value) => {
    expect(isLexPasswordAgentError(value)).toBe(false)
  })
})
