// From @atproto/api's AtpAgent (or CredentialSession): the same bot with
// PasswordAgent and lex-client's Client. Each step names the call it replaces
// (docs/migration.md has the table).
// Run: node --conditions=lex-password-agent-source examples/migration/from-atp-agent.ts
import { Client } from '@atproto/lex-client'
import { currentDatetimeString } from '@atproto/lex-schema'
import { PasswordAgent, type Session } from 'lex-password-agent'
import * as app from '../lexicons/app.js'
import * as com from '../lexicons/com.js'

let saved: Session | undefined

// new AtpAgent({ service, persistSession }) + await agent.login({ identifier, password })
const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'app-password',
  hooks: {
    // persistSession('create' | 'update', data)
    onRefreshed: (session) => {
      saved = session
    },
    // persistSession('expired'): logout, or the server refused a refresh
    onDeleted: () => {
      saved = undefined
    },
    // persistSession('network-error'): the session is kept
    onRefreshFailure: (_session, error) => console.warn('refresh failed:', error.message),
  },
})
// login() threw an XRPCError; persistSession('create-failed')
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)
const agent = result.value
const client = new Client(agent)

// agent.did, agent.session.handle, agent.session.accessJwt
console.log('did:', agent.did, 'handle:', agent.session.data.handle, 'saved:', saved?.data.did === agent.did)

// agent.getProfile({ actor }) / agent.app.bsky.actor.getProfile({ actor })
const profile = await client.call(app.bsky.actor.getProfile, { actor: agent.did })

// agent.com.atproto.repo.describeRepo({ repo })
const { body: repo } = await client.xrpc(com.atproto.repo.describeRepo, { params: { repo: agent.did } })

// agent.post({ text }) (which fills in createdAt)
const post = await client.create(app.bsky.feed.post, {
  text: 'Hello from lex-password-agent!',
  createdAt: currentDatetimeString(),
})
console.log('profile:', profile.handle, 'repo:', repo.handle, 'post:', post.uri)

// agent.sessionManager.refreshSession()
await agent.refresh()

// agent.logout()
await agent.logout()
console.log('after logout, saved:', saved)
