// A service that posts for many accounts: each user signs up once with an app
// password, the pool keeps their sessions in a directory (one file per DID),
// and any later run (or any worker sharing the directory) posts for them
// without logging in again. At most `max` agents stay in memory.
// Sign-up run: SIGN_UP=1 ACCOUNTS_DIR=/tmp/accounts node --conditions=lex-password-agent-source examples/pool.ts
// Posting run: ACCOUNTS_DIR=/tmp/accounts node --conditions=lex-password-agent-source examples/pool.ts
import { Client } from '@atproto/lex-client'
import { PasswordAgentPool } from 'lex-password-agent'
import { FileAccountStore } from 'lex-password-agent/file-store'
import * as com from './lexicons/com.js'

const pool = new PasswordAgentPool({
  store: new FileAccountStore(process.env.ACCOUNTS_DIR ?? '/var/lib/my-service/accounts'),
  max: 1000,
  hooks: {
    // `this` is the account's agent: the pool's hooks are every account's.
    onDeleted(session) {
      console.log(`session of ${session.data.handle} ended: ask them to sign up again`)
    },
  },
})

if (process.env.SIGN_UP) {
  // What your sign-up form would receive, once per user.
  const signUps = [
    { identifier: 'alice.bsky.social', password: 'app-password' },
    { identifier: 'your-handle.bsky.social', password: 'your-app-password' },
  ]
  for (const { identifier, password } of signUps) {
    const result = await pool.login({ service: 'https://bsky.social', identifier, password })
    if (result.success) console.log(`signed up: ${result.value.did}`)
    else console.log(`sign-up of ${identifier} refused: ${result.error}`)
  }
}

// Post for every account in the store: one store read per account, no
// session call while its access token is fresh.
for await (const did of pool.accounts()) {
  const agent = await pool.get(did)
  if (!agent) continue // logged out meanwhile
  const client = new Client(agent)
  const created = await client.call(com.atproto.repo.createRecord, {
    repo: agent.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'Scheduled post', createdAt: new Date().toISOString() },
  })
  console.log(`posted for ${did}: ${created.uri}`)
}
