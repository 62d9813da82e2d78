// A bot that restarts without logging in again: the session lives in a file,
// and resumeOrLogin resumes it (no request while its access token is fresh)
// or logs in with the password only when there is none.
// Run: SESSION_FILE=/tmp/bot-session.json node --conditions=lex-password-agent-source examples/file-store-bot.ts
import { Client } from '@atproto/lex-client'
import { PasswordAgent } from 'lex-password-agent'
import { FileSessionStore } from 'lex-password-agent/file-store'
import * as com from './lexicons/com.js'

const store = new FileSessionStore(process.env.SESSION_FILE ?? '/var/lib/my-bot/session.json')
const result = await PasswordAgent.resumeOrLogin({
  service: process.env.ATP_SERVICE ?? 'https://bsky.social',
  identifier: process.env.ATP_IDENTIFIER ?? 'alice.bsky.social',
  password: process.env.ATP_PASSWORD ?? 'app-password',
  store,
})
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)
const agent = result.value

const client = new Client(agent)
const { body } = await client.xrpc(com.atproto.repo.describeRepo, { params: { repo: agent.did } })
console.log('repo handle:', body.handle)
// No logout: the next run resumes the saved session.
