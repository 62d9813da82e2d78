// The README's quick start: log in, call the API through lex-client's Client,
// and say why when the login is refused (a wrong password ends the process
// with "Login refused: AuthenticationRequired: Invalid identifier or password").
// Run: node --conditions=lex-password-agent-source examples/quick-start.ts
//      (with ATP_SERVICE, ATP_IDENTIFIER, ATP_PASSWORD set)
import { Client } from '@atproto/lex-client'
import { PasswordAgent } from 'lex-password-agent'
import * as app from './lexicons/app.js'

const result = await PasswordAgent.login({
  service: process.env.ATP_SERVICE ?? 'https://bsky.social',
  identifier: process.env.ATP_IDENTIFIER ?? 'alice.bsky.social',
  password: process.env.ATP_PASSWORD ?? 'app-password',
})
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)

const agent = result.value
const client = new Client(agent)

const profile = await client.call(app.bsky.actor.getProfile, { actor: agent.did })
console.log('Logged in as:', profile.handle)

await agent.logout()
