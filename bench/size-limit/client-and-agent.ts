// size-limit entry (see .size-limit.js): what an app ships for `new Client(agent)`
// with our PasswordAgent, as bench/bundle.ts measures it.
export { Client } from '@atproto/lex-client'
export { PasswordAgent } from 'lex-password-agent'
