// @atproto/api's Agent on a PasswordAgent: the API of the most used atproto
// client (agent.post, agent.uploadBlob, agent.getProfile, …) with this
// package's sessions (refresh on expiry shared by concurrent calls, tokens
// sent only to the session's own origins, stores shared between processes).
// It posts with an image, deletes the post again, and logs out.
// Run: node --conditions=lex-password-agent-source examples/atproto-api.ts
//      (with ATP_SERVICE, ATP_IDENTIFIER, ATP_PASSWORD set; an app password is best)
// spec/integration/atproto-api.spec.ts runs it against the reference PDS.
import { Agent } from '@atproto/api'
import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: process.env.ATP_SERVICE ?? 'https://bsky.social',
  identifier: process.env.ATP_IDENTIFIER ?? 'alice.bsky.social',
  password: process.env.ATP_PASSWORD ?? 'app-password',
})
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)
const passwordAgent = result.value

// No cast: a PasswordAgent is the session manager @atproto/api's Agent takes.
const agent = new Agent(passwordAgent)
console.log('Logged in as:', agent.assertDid)

// A 1×1 PNG.
const png = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
)
const { data } = await agent.uploadBlob(png, { encoding: 'image/png' })
console.log(`uploaded: ${data.blob.mimeType}, ${data.blob.size} bytes`)

const post = await agent.post({
  text: 'Hello from @atproto/api on lex-password-agent!',
  embed: { $type: 'app.bsky.embed.images', images: [{ image: data.blob, alt: 'one pixel' }] },
})
console.log('posted:', post.uri)
await agent.deletePost(post.uri)
console.log('deleted the post')

// The session is the PasswordAgent's: log out there (@atproto/api's Agent has
// no logout of its own). Calls through `agent` then fail with "Logged out".
await passwordAgent.logout()
console.log('logged out:', passwordAgent.destroyed)
