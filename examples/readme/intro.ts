import { saveToStorage, clearStorage } from './storage.ts'
import { Client } from '@atproto/lex-client'
import { PasswordAgent } from 'lex-password-agent'
import * as app from '../lexicons/app.js'

// Login with credentials
const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'app-password',
  hooks: {
    onRefreshed: (session) => saveToStorage(session),
    onDeleted: (session) => clearStorage(session),
  },
})

if (!result.success) throw result.error

const agent = result.value
const client = new Client(agent)

// Make authenticated requests
const profile = await client.call(app.bsky.actor.getProfile, {
  actor: agent.did,
})
console.log(profile.handle)
