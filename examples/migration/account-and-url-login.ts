// Two more PasswordSession calls and what replaces them: createAccount (a
// result, not a throw) and login from a credentials URL.
// Run: node --conditions=lex-password-agent-source examples/migration/account-and-url-login.ts
import { PasswordAgent } from 'lex-password-agent'

// PasswordSession.createAccount(body, { service, onUpdated })
const created = await PasswordAgent.createAccount(
  { handle: 'carol.bsky.social', email: 'carol@example.com', password: 'carol-password' },
  { service: 'https://bsky.social', hooks: { onRefreshed: (session) => console.log('created:', session.data.did) } },
)
if (!created.success) throw new Error(`Account refused: ${created.error}: ${created.message}`)
await created.value.logout()

// A taken handle comes back as a result too.
const taken = await PasswordAgent.createAccount(
  { handle: 'alice.bsky.social', password: 'another-password' },
  { service: 'https://bsky.social' },
)
console.log('taken:', taken.success ? 'no' : taken.error)

// PasswordSession.login('https://<identifier>:<password>@<host>')
const result = await PasswordAgent.login(
  process.env.ATP_LOGIN_URL ?? 'https://carol.bsky.social:carol-password@bsky.social',
)
if (!result.success) throw new Error(`Login refused: ${result.error}: ${result.message}`)
console.log('logged in:', result.value.did)
await result.value.logout()
