import { Client } from '@atproto/lex-client'
import { PasswordAgent } from 'lex-password-agent'
import * as app from '../lexicons/app.js'

const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'app-password',
})

if (result.success) {
  const client = new Client(result.value)

  // The client automatically uses the agent for authentication
  const profile = await client.call(app.bsky.actor.getProfile, {
    actor: client.assertDid,
  })

  // Tokens are automatically refreshed when expired
  const timeline = await client.call(app.bsky.feed.getTimeline, {
    limit: 50,
  })

  // Create records
  await client.create(app.bsky.feed.post, {
    text: 'Hello from lex-password-agent!',
    createdAt: new Date().toISOString(),
  })
  console.log(profile.handle, timeline.feed.length)
}
