import { afterAll, afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import nock from 'nock'
import type { FetchLike } from '../lib/core/fetch.ts'
import { discoverService } from '../lib/discovery.ts'
import { PasswordAgent, type Session } from '../lib/index.ts'
import { SERVICE, session as makeSession } from './helpers/fixtures.ts'

type Row = [name: string, make: () => unknown, field: RegExp]

const drop = <T extends Record<string, unknown>>(o: T, key: string) => {
  const copy: Record<string, unknown> = { ...o }
  delete copy[key]
  return copy
}
const withTop = (patch: Record<string, unknown>) => () => ({ ...makeSession(), ...patch })
const withoutTop = (key: string) => () => drop(makeSession(), key)
const withData = (patch: Record<string, unknown>) => () => {
  const s = makeSession()
  return { ...s, data: { ...s.data, ...patch } }
}
const withoutData = (key: string) => () => {
  const s = makeSession()
  return { ...s, data: drop(s.data, key) }
}
const jwt = () => makeSession().data.accessJwt

/** Malformed saved sessions, and the field the TypeError must name. */
const SESSIONS: Row[] = [
  ['null', () => null, /"session" must be a Session object/],
  ['undefined', () => undefined, /"session" must be a Session object/],
  ['the JSON text instead of the object', () => JSON.stringify(makeSession()), /"session" must be a Session object/],
  ['a number', () => 42, /"session" must be a Session object/],
  ['an array', () => [makeSession()], /"session" must be a Session object/],
  ['a function', () => () => makeSession(), /"session" must be a Session object/],
  ['an empty object', () => ({}), /"session\.data"/],
  ['data: null', withTop({ data: null }), /"session\.data"/],
  ['data: an array', withTop({ data: [] }), /"session\.data"/],
  ['data: the access token string', () => ({ ...makeSession(), data: jwt() }), /"session\.data"/],
  ['no accessJwt', withoutData('accessJwt'), /"session\.data\.accessJwt"/],
  ['empty accessJwt', withData({ accessJwt: '' }), /"session\.data\.accessJwt"/],
  ['accessJwt not JWT-shaped', withData({ accessJwt: 'not-a-jwt-at-all' }), /"session\.data\.accessJwt"/],
  [
    'accessJwt with a "Bearer " prefix',
    () => withData({ accessJwt: `Bearer ${jwt()}` })(),
    /"session\.data\.accessJwt"/,
  ],
  ['accessJwt with a trailing newline', () => withData({ accessJwt: `${jwt()}\n` })(), /"session\.data\.accessJwt"/],
  ['accessJwt a number', withData({ accessJwt: 123 }), /"session\.data\.accessJwt"/],
  [
    'accessJwt of 20 000 characters',
    withData({ accessJwt: `${'a'.repeat(10_000)}.${'b'.repeat(10_000)}.c` }),
    /"session\.data\.accessJwt"/,
  ],
  ['no refreshJwt', withoutData('refreshJwt'), /"session\.data\.refreshJwt"/],
  [
    'refreshJwt with two parts',
    withData({ refreshJwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0' }),
    /"session\.data\.refreshJwt"/,
  ],
  ['refreshJwt an object', () => withData({ refreshJwt: { token: jwt() } })(), /"session\.data\.refreshJwt"/],
  ['no did', withoutData('did'), /"session\.data\.did"/],
  ['did a handle', withData({ did: 'alice.bsky.social' }), /"session\.data\.did"/],
  ['did with an empty identifier', withData({ did: 'did:plc:' }), /"session\.data\.did"/],
  ['did in upper case', withData({ did: 'DID:PLC:abc' }), /"session\.data\.did"/],
  ['did with a space', withData({ did: 'did:plc:abc def' }), /"session\.data\.did"/],
  ['did a number', withData({ did: 42 }), /"session\.data\.did"/],
  ['no handle', withoutData('handle'), /"session\.data\.handle"/],
  ['empty handle', withData({ handle: '' }), /"session\.data\.handle"/],
  ['didDoc an array', withData({ didDoc: [] }), /"session\.data\.didDoc"/],
  ['didDoc a string', withData({ didDoc: 'did:plc:alice' }), /"session\.data\.didDoc"/],
  ['no refreshedAt', withoutTop('refreshedAt'), /"session\.refreshedAt"/],
  ['empty refreshedAt', withTop({ refreshedAt: '' }), /"session\.refreshedAt"/],
  ['refreshedAt "yesterday"', withTop({ refreshedAt: 'yesterday' }), /"session\.refreshedAt"/],
  ['refreshedAt a number (epoch ms)', withTop({ refreshedAt: 1_700_000_000_000 }), /"session\.refreshedAt"/],
  ['refreshedAt "1" (Date.parse says 2001)', withTop({ refreshedAt: '1' }), /"session\.refreshedAt"/],
  ['refreshedAt "hello 1"', withTop({ refreshedAt: 'hello 1' }), /"session\.refreshedAt"/],
  ['refreshedAt month 13', withTop({ refreshedAt: '2024-13-01T00:00:00.000Z' }), /"session\.refreshedAt"/],
  ['no pdsUrl', withoutTop('pdsUrl'), /"session\.pdsUrl"/],
  ['pdsUrl ftp:', withTop({ pdsUrl: 'ftp://pds.example' }), /"session\.pdsUrl"/],
  ['pdsUrl javascript:', withTop({ pdsUrl: 'javascript:alert(1)' }), /"session\.pdsUrl"/],
  ['pdsUrl without a scheme', withTop({ pdsUrl: 'pds.example' }), /"session\.pdsUrl"/],
  ['pdsUrl with credentials', withTop({ pdsUrl: 'https://alice:hunter2-secret@pds.example' }), /"session\.pdsUrl"/],
  ['pdsUrl with a query', withTop({ pdsUrl: 'https://pds.example/?token=qwerty-secret' }), /"session\.pdsUrl"/],
  ['pdsUrl a number', withTop({ pdsUrl: 42 }), /"session\.pdsUrl"/],
  ['no service', withoutTop('service'), /"session\.service"/],
  ['empty service', withTop({ service: '' }), /"session\.service"/],
  ['service ftp:', withTop({ service: 'ftp://entryway.example' }), /"session\.service"/],
  ['service javascript:', withTop({ service: 'javascript:alert(1)' }), /"session\.service"/],
  ['service without a scheme', withTop({ service: 'entryway.example' }), /"session\.service"/],
  ['service protocol-relative', withTop({ service: '//entryway.example' }), /"session\.service"/],
  ['service with credentials', withTop({ service: 'https://alice:pw-123456@entryway.example' }), /"session\.service"/],
  ['service with a fragment', withTop({ service: 'https://entryway.example/#x' }), /"session\.service"/],
  ['service "http://"', withTop({ service: 'http://' }), /"session\.service"/],
  ['service null', withTop({ service: null }), /"session\.service"/],
]

/** Malformed agent options (valid otherwise), shared by the constructor, resume, delete and login. */
const OPTIONS: Row[] = [
  ['hooks a string', () => ({ hooks: 'onRefreshed' }), /"hooks"/],
  ['hooks null', () => ({ hooks: null }), /"hooks"/],
  ['hooks a function', () => ({ hooks: () => {} }), /"hooks"/],
  ['hooks.onRefreshed a string', () => ({ hooks: { onRefreshed: 'save' } }), /"hooks\.onRefreshed"/],
  ['hooks.onRefreshFailure a number', () => ({ hooks: { onRefreshFailure: 42 } }), /"hooks\.onRefreshFailure"/],
  ['hooks.onDeleted an object', () => ({ hooks: { onDeleted: {} } }), /"hooks\.onDeleted"/],
  ['hooks.onDeleteFailure true', () => ({ hooks: { onDeleteFailure: true } }), /"hooks\.onDeleteFailure"/],
  ['hooks.onWarning a string', () => ({ hooks: { onWarning: 'console.warn' } }), /"hooks\.onWarning"/],
  ['hooks.onHookError an array', () => ({ hooks: { onHookError: [] } }), /"hooks\.onHookError"/],
  ['fetch a URL string', () => ({ fetch: 'https://example.com' }), /"fetch"/],
  ['fetch an object', () => ({ fetch: {} }), /"fetch"/],
  ['fetch null', () => ({ fetch: null }), /"fetch"/],
  ['refreshTimeoutMs 0', () => ({ refreshTimeoutMs: 0 }), /"refreshTimeoutMs"/],
  ['refreshTimeoutMs negative', () => ({ refreshTimeoutMs: -1 }), /"refreshTimeoutMs"/],
  ['refreshTimeoutMs NaN', () => ({ refreshTimeoutMs: NaN }), /"refreshTimeoutMs"/],
  ['refreshTimeoutMs Infinity', () => ({ refreshTimeoutMs: Infinity }), /"refreshTimeoutMs"/],
  ['refreshTimeoutMs a string', () => ({ refreshTimeoutMs: '1000' }), /"refreshTimeoutMs"/],
  ['refreshTimeoutMs beyond setTimeout', () => ({ refreshTimeoutMs: 2 ** 31 }), /"refreshTimeoutMs"/],
  ['maxSessionAnswerBytes 0', () => ({ maxSessionAnswerBytes: 0 }), /"maxSessionAnswerBytes"/],
  ['maxSessionAnswerBytes negative', () => ({ maxSessionAnswerBytes: -1 }), /"maxSessionAnswerBytes"/],
  ['maxSessionAnswerBytes NaN', () => ({ maxSessionAnswerBytes: NaN }), /"maxSessionAnswerBytes"/],
  ['maxSessionAnswerBytes Infinity', () => ({ maxSessionAnswerBytes: Infinity }), /"maxSessionAnswerBytes"/],
  ['maxSessionAnswerBytes fractional', () => ({ maxSessionAnswerBytes: 1024.5 }), /"maxSessionAnswerBytes"/],
  ['maxSessionAnswerBytes a string', () => ({ maxSessionAnswerBytes: '1048576' }), /"maxSessionAnswerBytes"/],
  ['maxSessionAnswerBytes null', () => ({ maxSessionAnswerBytes: null }), /"maxSessionAnswerBytes"/],
  ['refreshBackoff null', () => ({ refreshBackoff: null }), /"refreshBackoff"/],
  ['refreshBackoff.minMs negative', () => ({ refreshBackoff: { minMs: -1 } }), /"refreshBackoff\.minMs"/],
  ['refreshBackoff.maxMs NaN', () => ({ refreshBackoff: { maxMs: NaN } }), /"refreshBackoff\.maxMs"/],
  ['store a string', () => ({ store: 'redis://x' }), /"store"/],
  ['lock a string', () => ({ lock: 'flock' }), /"lock"/],
  ['refreshAhead true', () => ({ refreshAhead: true }), /"refreshAhead"/],
]

/** Options that are not an object at all. */
const NOT_OPTIONS: Row[] = [
  ['options null', () => null, /options must be an object/],
  ['options a string', () => 'hooks', /options must be an object/],
  ['options a number', () => 42, /options must be an object/],
  ['options true', () => true, /options must be an object/],
]

/** Malformed login options (valid otherwise). */
const LOGIN: Row[] = [
  ['no service and no resolveService', () => ({ service: undefined }), /"service"/],
  [
    'no service with an email identifier (nothing to discover)',
    () => ({ service: undefined, identifier: 'alice@example.com', resolveService: discoverService }),
    /"service"/,
  ],
  [
    'resolveService a string',
    () => ({ service: undefined, resolveService: 'https://bsky.social' }),
    /"resolveService"/,
  ],
  [
    'discovery a string',
    () => ({ service: undefined, resolveService: discoverService, discovery: 'plc' }),
    /"discovery"/,
  ],
  ['empty service', () => ({ service: '' }), /"service"/],
  ['service ftp:', () => ({ service: 'ftp://entryway.example' }), /"service"/],
  ['service javascript:', () => ({ service: 'javascript:alert(1)' }), /"service"/],
  ['service file:', () => ({ service: 'file:///etc/passwd' }), /"service"/],
  ['service without a scheme', () => ({ service: 'bsky.social' }), /"service"/],
  ['service with credentials', () => ({ service: 'https://alice:hunter2-secret@bsky.social' }), /"service"/],
  ['service with a query', () => ({ service: 'https://bsky.social/?api_key=sekrit-12345' }), /"service"/],
  ['service a number', () => ({ service: 443 }), /"service"/],
  ['service null', () => ({ service: null }), /"service"/],
  ['service an ftp: URL object', () => ({ service: new URL('ftp://bsky.social') }), /"service"/],
  ['service a null-prototype object', () => ({ service: Object.create(null) }), /"service"/],
  [
    'service an object whose toString throws',
    () => ({
      service: {
        toString: () => {
          throw new Error('boom')
        },
      },
    }),
    /"service"/,
  ],
  ['no identifier', () => ({ identifier: undefined }), /"identifier"/],
  ['empty identifier', () => ({ identifier: '' }), /"identifier"/],
  ['identifier a number', () => ({ identifier: 42 }), /"identifier"/],
  ['identifier an array', () => ({ identifier: ['alice.example'] }), /"identifier"/],
  ['no password', () => ({ password: undefined }), /"password"/],
  ['empty password', () => ({ password: '' }), /"password"/],
  ['password null', () => ({ password: null }), /"password"/],
  ['password an array', () => ({ password: ['hunter2-secret'] }), /"password"/],
  ['password a String object', () => ({ password: Object('hunter2-secret') }), /"password"/],
  ['empty authFactorToken', () => ({ authFactorToken: '' }), /"authFactorToken"/],
  ['authFactorToken a number', () => ({ authFactorToken: 123456 }), /"authFactorToken"/],
  ['authFactorToken null', () => ({ authFactorToken: null }), /"authFactorToken"/],
  ['allowTakendown "yes"', () => ({ allowTakendown: 'yes' }), /"allowTakendown"/],
  ['allowTakendown 1', () => ({ allowTakendown: 1 }), /"allowTakendown"/],
]

/** Every string inside a value (long enough to be a token, a URL or a password). */
function strings(value: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (typeof value === 'string') {
    if (value.length >= 8) out.push(value)
    const parsed = (() => {
      try {
        return JSON.parse(value) as unknown
      } catch {
        return undefined
      }
    })()
    if (parsed && typeof parsed === 'object') strings(parsed, out, seen)
  } else if (value instanceof URL) {
    out.push(value.href)
  } else if (value && typeof value === 'object' && !seen.has(value)) {
    seen.add(value)
    for (const v of Object.values(value)) strings(v, out, seen)
  }
  return out
}
const SECRET_BITS = ['hunter2-secret', 'qwerty-secret', 'pw-123456', 'sekrit-12345']

let inputsTried = 0
const nonTypeErrors: string[] = []
afterAll(() => {
  console.info(
    `validation.spec: ${inputsTried} malformed inputs tried, ${nonTypeErrors.length} non-TypeError outcomes${nonTypeErrors.length ? `: ${nonTypeErrors.join('; ')}` : ''}`,
  )
})

// Nothing may go out: a fetch spy in the options, a spy on the global fetch, and nock's unmatched requests.
let terminal: jest.Mock<FetchLike>
let global: ReturnType<typeof jest.spyOn>
let unmatched: unknown[]
const onNoMatch = (req: unknown) => void unmatched.push(req)
beforeEach(() => {
  terminal = jest.fn<FetchLike>(async () => new Response('{}', { status: 500 }))
  global = jest.spyOn(globalThis, 'fetch')
  unmatched = []
  nock.emitter.on('no match', onNoMatch)
})
afterEach(() => {
  global.mockRestore()
  nock.emitter.removeListener('no match', onNoMatch)
})

/** Runs `call` with the malformed `input`; expects a TypeError naming `field`, without the bad value, and no request. */
async function expectRefused(label: string, input: unknown, field: RegExp, call: () => unknown) {
  inputsTried++
  let outcome: unknown
  try {
    await call()
    outcome = undefined
  } catch (err) {
    outcome = err
  }
  if (!(outcome instanceof TypeError))
    nonTypeErrors.push(`${label}: ${outcome === undefined ? 'accepted' : String(outcome)}`)
  expect(outcome).toBeInstanceOf(TypeError)
  const { message } = outcome as TypeError
  expect(message).toMatch(field)
  for (const s of [...strings(input), ...SECRET_BITS]) expect(message).not.toContain(s)
  expect(terminal).not.toHaveBeenCalled()
  expect(global).not.toHaveBeenCalled()
  expect(unmatched).toEqual([])
}

const LOGIN_BASE = { service: SERVICE, identifier: 'alice.example', password: 'hunter2-secret' }

describe('malformed sessions', () => {
  it('tries at least 30 malformed sessions', () => expect(SESSIONS.length).toBeGreaterThanOrEqual(30))

  it.each(SESSIONS)('new PasswordAgent(%s)', (name, make, field) => {
    const s = make()
    return expectRefused(
      `new PasswordAgent(${name})`,
      s,
      field,
      () => new PasswordAgent(s as Session, { fetch: terminal }),
    )
  })
  it.each(SESSIONS)('PasswordAgent.resume(%s)', (name, make, field) => {
    const s = make()
    return expectRefused(`resume(${name})`, s, field, () => PasswordAgent.resume(s as Session, { fetch: terminal }))
  })
  it.each(SESSIONS)('PasswordAgent.delete(%s)', (name, make, field) => {
    const s = make()
    return expectRefused(`delete(${name})`, s, field, () => PasswordAgent.delete(s as Session, { fetch: terminal }))
  })
})

describe('malformed options', () => {
  it.each(OPTIONS)('new PasswordAgent(session, %s)', (name, make, field) => {
    const o = { fetch: terminal, ...(make() as object) }
    return expectRefused(
      `new PasswordAgent(session, ${name})`,
      o,
      field,
      () => new PasswordAgent(makeSession(), o as never),
    )
  })
  it.each(OPTIONS)('PasswordAgent.resume(session, %s)', (name, make, field) => {
    const o = { fetch: terminal, ...(make() as object) }
    return expectRefused(`resume(session, ${name})`, o, field, () => PasswordAgent.resume(makeSession(), o as never))
  })
  it.each(OPTIONS)('PasswordAgent.delete(session, %s)', (name, make, field) => {
    const o = { fetch: terminal, ...(make() as object) }
    return expectRefused(`delete(session, ${name})`, o, field, () => PasswordAgent.delete(makeSession(), o as never))
  })
  it.each(OPTIONS)('PasswordAgent.login with %s', (name, make, field) => {
    const o = { ...LOGIN_BASE, fetch: terminal, ...(make() as object) }
    return expectRefused(`login(${name})`, o, field, () => PasswordAgent.login(o as never))
  })
  it('PasswordAgent.resume with refresh: "never"', () =>
    expectRefused('resume(session, refresh: never)', 'never', /"refresh"/, () =>
      PasswordAgent.resume(makeSession(), { fetch: terminal, refresh: 'never' as never }),
    ))

  it.each(NOT_OPTIONS)('new PasswordAgent(session, %s)', (name, make, field) =>
    expectRefused(
      `new PasswordAgent(session, ${name})`,
      make(),
      field,
      () => new PasswordAgent(makeSession(), make() as never),
    ),
  )
  it.each(NOT_OPTIONS)('PasswordAgent.resume(session, %s)', (name, make, field) =>
    expectRefused(`resume(session, ${name})`, make(), field, () =>
      PasswordAgent.resume(makeSession(), make() as never),
    ),
  )
  it.each(NOT_OPTIONS)('PasswordAgent.delete(session, %s)', (name, make, field) =>
    expectRefused(`delete(session, ${name})`, make(), field, () =>
      PasswordAgent.delete(makeSession(), make() as never),
    ),
  )
  // A string or URL is a credentials URL for login: its own rows are below.
  it.each([
    ...NOT_OPTIONS.filter(([name]) => name !== 'options a string'),
    ['options undefined', () => undefined, /options must be an object/] as Row,
  ])('PasswordAgent.login(%s)', (name, make, field) =>
    expectRefused(`login(${name})`, make(), field, () => PasswordAgent.login(make() as never)),
  )
})

/** Malformed credentials URLs for `login(url)`; the password must never be echoed. */
const LOGIN_URLS: Row[] = [
  ['a word', () => 'hooks', /login URL must be an http\(s\) URL/],
  ['an ftp: URL', () => 'ftp://alice:hunter2-secret@bsky.social', /login URL must be an http\(s\) URL/],
  ['no password', () => 'https://alice@bsky.social', /login URL must contain an identifier and a password/],
  ['a path', () => 'https://alice:hunter2-secret@bsky.social/xrpc', /login URL must have no path, query or fragment/],
  ['a query', () => 'https://alice:hunter2-secret@bsky.social/?x=1', /login URL must have no path, query or fragment/],
  ['bad percent-encoding', () => 'https://alice:%E0%A4%A@bsky.social', /login URL has a malformed percent-encoding/],
]

describe('malformed credentials URLs', () => {
  it.each(LOGIN_URLS)('PasswordAgent.login(%s)', (name, make, field) =>
    expectRefused(`login(url: ${name})`, make(), field, () =>
      PasswordAgent.login(make() as string, { fetch: terminal }),
    ),
  )
})

describe('malformed login options', () => {
  it.each(LOGIN)('PasswordAgent.login with %s', (name, make, field) => {
    const o = { ...LOGIN_BASE, fetch: terminal, ...(make() as object) }
    return expectRefused(`login(${name})`, o, field, () => PasswordAgent.login(o as never))
  })
})

describe('well-formed input still goes through', () => {
  it('accepts the edges of the valid range without a request from the constructor', () => {
    const agent = new PasswordAgent(makeSession({ pdsUrl: null, service: 'http://127.0.0.1:2583' }), {
      fetch: terminal,
      refreshTimeoutMs: 2 ** 31 - 1,
      maxSessionAnswerBytes: 1,
      refreshBackoff: { minMs: 0, maxMs: 0 },
      hooks: {},
    })
    expect(agent.destroyed).toBe(false)
    expect(terminal).not.toHaveBeenCalled()
  })

  it('login with a URL object service sends exactly one createSession', async () => {
    terminal.mockImplementation(async () =>
      Response.json({ error: 'AuthenticationRequired', message: 'Invalid identifier or password' }, { status: 401 }),
    )
    const res = await PasswordAgent.login({ ...LOGIN_BASE, service: new URL(SERVICE), fetch: terminal })
    expect(res.success).toBe(false)
    expect(terminal).toHaveBeenCalledTimes(1)
    expect(String(terminal.mock.calls[0]![0])).toBe(`${SERVICE}/xrpc/com.atproto.server.createSession`)
  })
})
