import { Client } from '@atproto/lex-client'
import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'your-handle.bsky.social',
  password: 'your-app-password',
})

if (result.success) {
  const agent = result.value
  const client = new Client(agent)

  // Make authenticated API calls
  console.log('Logged in as:', agent.did)
}
