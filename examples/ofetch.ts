// Wrapping arbitrary calls: agent.fetch is a fetch with our auth, routing and
// refresh, so ofetch (or ky, or plain code) can use it. Paths go to the PDS;
// absolute URLs elsewhere are fetched without credentials.
// Run: node --conditions=lex-password-agent-source examples/ofetch.ts
import { createFetch } from 'ofetch'
import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: process.env.ATP_SERVICE ?? 'https://bsky.social',
  identifier: process.env.ATP_IDENTIFIER ?? 'alice.bsky.social',
  password: process.env.ATP_PASSWORD ?? 'app-password',
})
if (!result.success) throw result
const agent = result.value

const $fetch = createFetch({ fetch: agent.fetch })
const repo = await $fetch<{ handle: string; collections: string[] }>('/xrpc/com.atproto.repo.describeRepo', {
  query: { repo: agent.did },
})
console.log('handle:', repo.handle)

const created = await $fetch<{ uri: string }>('/xrpc/com.atproto.repo.createRecord', {
  method: 'POST',
  body: {
    repo: agent.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'Posted through ofetch', createdAt: new Date().toISOString() },
  },
})
console.log('created:', created.uri)
await agent.logout()
