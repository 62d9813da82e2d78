// From @atproto/lex-password-session's PasswordSession: login returns a result
// instead of throwing, the hooks move into `hooks` (onUpdated is onRefreshed),
// and they receive a Session ({ data, service, pdsUrl, refreshedAt }).
// Run: node --conditions=lex-password-agent-source examples/migration/from-lex-password-session.ts
import { Client } from '@atproto/lex-client'
import { AuthFactorTokenRequiredError, PasswordAgent, type SessionHooks } from 'lex-password-agent'
import * as app from '../lexicons/app.js'

const credentials = { service: 'https://bsky.social', identifier: 'alice.bsky.social', password: 'app-password' }

// onUpdated, onUpdateFailure, onDeleted, onDeleteFailure (top-level options)
const hooks: SessionHooks<PasswordAgent> = {
  onRefreshed: (session) => console.log('onRefreshed:', session.data.handle),
  onRefreshFailure: (_session, error) => console.warn('onRefreshFailure:', error.message),
  onDeleted: (session) => console.log('onDeleted:', session.data.did),
  onDeleteFailure: (_session, error) => console.error('onDeleteFailure:', error.message),
}

// try { await PasswordSession.login(...) } catch (err) { if (err instanceof LexAuthFactorError) ... }
let result = await PasswordAgent.login({ ...credentials, hooks })
if (result instanceof AuthFactorTokenRequiredError) {
  const authFactorToken = process.env.ATP_AUTH_FACTOR_TOKEN ?? '' // ask the user for the emailed code
  result = await PasswordAgent.login({ ...credentials, hooks, authFactorToken })
}
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)
const agent = result.value

// session.handle, session.session (SessionData)
console.log('handle:', agent.session.data.handle, 'service:', agent.session.service)

// new Client(session): unchanged
const profile = await new Client(agent).call(app.bsky.actor.getProfile, { actor: agent.did })
console.log('profile:', profile.handle)

// session.logout()
await agent.logout()
