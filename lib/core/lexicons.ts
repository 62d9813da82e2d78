/**
 * Schemas of the `com.atproto.server` session methods this package calls,
 * written with @atproto/lex-schema so that @atproto/lex-client's `xrpcSafe`
 * validates the server's answers (the same shapes `lex build` emits for the
 * official lexicons).
 */
import { l } from '@atproto/lex-schema'

/** What getSession answers; createSession and refreshSession add the tokens. */
const accountInfo = {
  handle: l.string({ format: 'handle' }),
  did: l.string({ format: 'did' }),
  didDoc: l.optional(l.lexMap()),
  email: l.optional(l.string()),
  emailConfirmed: l.optional(l.boolean()),
  emailAuthFactor: l.optional(l.boolean()),
  active: l.optional(l.boolean()),
  status: l.optional(l.string()),
}

const sessionOutput = { accessJwt: l.string(), refreshJwt: l.string(), ...accountInfo }

/**
 * A JSON input, its shape left out: lex-client checks a request body against
 * the schema only with `validateRequest`, which these calls never set, so the
 * input's schema would only be bytes in every bundle. Our own input checks
 * (the login and createAccount rules) come first and name the bad field.
 */
const jsonInput = /*#__PURE__*/ l.payload('application/json')

/** `com.atproto.server.createSession`: password login. */
export const createSession = /*#__PURE__*/ l.procedure(
  'com.atproto.server.createSession',
  l.params(),
  jsonInput,
  l.jsonPayload(sessionOutput),
  ['AccountTakedown', 'AuthFactorTokenRequired'],
)

/** `com.atproto.server.refreshSession`: rotate tokens (refresh JWT as bearer). */
export const refreshSession = /*#__PURE__*/ l.procedure(
  'com.atproto.server.refreshSession',
  l.params(),
  l.payload(),
  l.jsonPayload(sessionOutput),
  ['AccountTakedown', 'InvalidToken', 'ExpiredToken'],
)

/** `com.atproto.server.getSession`: account info for the access token. */
export const getSession = /*#__PURE__*/ l.query('com.atproto.server.getSession', l.params(), l.jsonPayload(accountInfo))

/** `com.atproto.server.deleteSession`: revoke the session (refresh JWT as bearer). */
export const deleteSession = /*#__PURE__*/ l.procedure(
  'com.atproto.server.deleteSession',
  l.params(),
  l.payload(),
  l.payload(),
  ['InvalidToken', 'ExpiredToken'],
)

/** `com.atproto.server.createAccount`: a new account and its first session. */
export const createAccount = /*#__PURE__*/ l.procedure(
  'com.atproto.server.createAccount',
  l.params(),
  jsonInput,
  l.jsonPayload({
    accessJwt: l.string(),
    refreshJwt: l.string(),
    handle: l.string({ format: 'handle' }),
    did: l.string({ format: 'did' }),
    didDoc: l.optional(l.lexMap()),
  }),
  [
    'InvalidHandle',
    'InvalidPassword',
    'InvalidInviteCode',
    'HandleNotAvailable',
    'UnsupportedDomain',
    'UnresolvableDid',
    'IncompatibleDidDoc',
  ],
)
