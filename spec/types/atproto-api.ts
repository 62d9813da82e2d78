// Type-level spec, compiled by `npm run typecheck` (never run): a PasswordAgent
// is both lex-client's `Agent` and @atproto/api's `SessionManager`, without a
// cast. spec/integration/atproto-api.spec.ts runs the same against the
// reference PDS.
import { Agent } from '@atproto/api'
import { Client, type Agent as LexAgent } from '@atproto/lex-client'
import { PasswordAgent, type Session } from '../../lib/index.ts'

export function clients(session: Session): [Agent, Client] {
  const passwordAgent = new PasswordAgent(session)
  // What @atproto/api's Agent takes (its SessionManager is not exported by name).
  const asSessionManager: ConstructorParameters<typeof Agent>[0] = passwordAgent
  const asLexAgent: LexAgent = passwordAgent
  void [asSessionManager, asLexAgent]
  return [new Agent(passwordAgent), new Client(passwordAgent)]
}
