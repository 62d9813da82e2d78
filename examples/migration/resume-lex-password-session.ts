// A session @atproto/lex-password-session saved (its SessionData: the
// createSession answer plus `service`) moved to PasswordAgent: resume it, or
// delete it on the server without resuming.
// Run: node --conditions=lex-password-agent-source examples/migration/resume-lex-password-session.ts
import { PasswordSession, type SessionData } from '@atproto/lex-password-session'
import { PasswordAgent, Session } from 'lex-password-agent'

// The old app saved its SessionData from onUpdated.
const saves: SessionData[] = []
const old = await PasswordSession.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'app-password',
  onUpdated: (data) => void saves.push(data),
})
void old

// PasswordSession.resume(data, hooks): wrap the saved data in a Session first.
const { service, ...data } = saves[0]!
const session: unknown = { data, service, pdsUrl: null, refreshedAt: new Date().toISOString() }
Session.assert(session)
const agent = await PasswordAgent.resume(session, { hooks: { onRefreshed: () => console.log('refreshed') } })
console.log('resumed:', agent.did)

// PasswordSession.delete(data): ends the session on the server without resuming it.
await PasswordAgent.delete(agent.session)
console.log('deleted')
