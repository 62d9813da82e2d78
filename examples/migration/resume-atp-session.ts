// A session @atproto/api saved (AtpSessionData, from persistSession) moved to
// PasswordAgent without a new password login: createSession is rate limited
// (30 per 5 minutes, 300 per day), a refresh is not.
// Run: node --conditions=lex-password-agent-source examples/migration/resume-atp-session.ts
import { AtpAgent, type AtpSessionData } from '@atproto/api'
import { PasswordAgent, Session } from 'lex-password-agent'

const service = 'https://bsky.social'

// The old app: AtpAgent saved its session through persistSession.
let atpSession: AtpSessionData | undefined
const old = new AtpAgent({
  service,
  persistSession: (_event, data) => {
    atpSession = data
  },
})
await old.login({ identifier: 'alice.bsky.social', password: 'app-password' })

// The new app: AtpSessionData is what a Session keeps in `data`. Wrap it, check
// it (a TypeError names a bad field, before any request), and resume: one
// refresh, which also finds the PDS in the new DID document.
const session: unknown = { data: atpSession, service, pdsUrl: null, refreshedAt: new Date().toISOString() }
Session.assert(session)
const agent = await PasswordAgent.resume(session)
console.log('resumed:', agent.did, 'pds:', agent.session.pdsUrl)

await agent.logout()
