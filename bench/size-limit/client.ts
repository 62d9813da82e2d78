// size-limit entry (see .size-limit.js): lex-client's Client alone, the reference
// the budget of client-and-agent.ts is measured against.
export { Client } from '@atproto/lex-client'
