import { describe, expect, it } from '@jest/globals'
import { check, checkOptions, func, number, object, oneOf, string } from '../lib/core/check.ts'

describe('check', () => {
  it('says where, which field and what it must be', () => {
    expect(() => check('login', 'identifier', '', string)).toThrow(
      new TypeError('login: "identifier" must be a non-empty string'),
    )
    expect(() => check('logger', 'log', 'console', func)).toThrow(new TypeError('logger: "log" must be a function'))
    expect(() => check('x', 'o', null, object)).toThrow(new TypeError('x: "o" must be an object'))
    expect(() => check('x', 'mode', 'b', oneOf('a', false))).toThrow(new TypeError('x: "mode" must be "a" or false'))
    expect(() => check('x', 'mode', 'a', oneOf('a', false))).not.toThrow()
  })

  it('numbers: each option declares its bounds; 0 is allowed or refused as declared', () => {
    const zeroOk = number()
    const positive = number({ above: true })
    const bytes = number({ above: true, integer: true, max: Number.MAX_SAFE_INTEGER, unit: 'bytes' })
    expect(() => check('x', 'delay', 0, zeroOk)).not.toThrow()
    expect(() => check('x', 'timeout', 0, positive)).toThrow(
      new TypeError('x: "timeout" must be a number of milliseconds, above 0 and at most 2147483647'),
    )
    expect(() => check('x', 'delay', -1, zeroOk)).toThrow(/"delay" must be a number of milliseconds, at least 0/)
    expect(() => check('x', 'delay', 2 ** 31, zeroOk)).toThrow(/at most 2147483647/)
    for (const bad of [NaN, Infinity, '5', null, 1.5])
      expect(() => check('x', 'size', bad, bytes)).toThrow(/"size" must be a whole number of bytes/)
    expect(() => check('x', 'size', 1, bytes)).not.toThrow()
  })
})

describe('checkOptions', () => {
  const rules = { hooks: object, refreshTimeoutMs: number({ above: true }), service: string, fetch: func }

  it('passes known keys, skips undefined ones, and checks the rest', () => {
    expect(() => checkOptions('login', { hooks: {}, refreshTimeoutMs: undefined }, rules)).not.toThrow()
    expect(() => checkOptions('login', { refreshTimeoutMs: 0 }, rules)).toThrow(
      /login: "refreshTimeoutMs" must be a number/,
    )
    expect(() => checkOptions('login', null, rules)).toThrow(new TypeError('login: options must be an object'))
  })

  it('refuses an unknown key, naming the closest known one', () => {
    const cases: [string, string][] = [
      ['hook', 'login: "hook" is not an option (did you mean "hooks"?)'],
      ['refreshTimeoutMS', 'login: "refreshTimeoutMS" is not an option (did you mean "refreshTimeoutMs"?)'],
      ['serviceUrl', 'login: "serviceUrl" is not an option (did you mean "service"?)'],
      ['fecth', 'login: "fecth" is not an option (did you mean "fetch"?)'],
      ['password2fa', 'login: "password2fa" is not an option'],
    ]
    for (const [key, message] of cases)
      expect(() => checkOptions('login', { [key]: 1 }, rules)).toThrow(new TypeError(message))
  })
})
