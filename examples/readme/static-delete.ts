import { localStorage } from './storage.ts'
import { PasswordAgent, Session } from 'lex-password-agent'

const session: Session = JSON.parse(localStorage.getItem('session')!)

// Delete the session on the server
await PasswordAgent.delete(session)
