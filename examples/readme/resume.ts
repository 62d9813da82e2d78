import { localStorage } from './storage.ts'
import { PasswordAgent, Session } from 'lex-password-agent'

// Load session from storage
const savedSession: Session = JSON.parse(localStorage.getItem('session')!)

// Resume the session (automatically refreshes tokens)
const agent = await PasswordAgent.resume(savedSession, {
  hooks: {
    onRefreshed: (session) => {
      localStorage.setItem('session', JSON.stringify(session))
    },
    onDeleted: () => {
      localStorage.removeItem('session')
    },
  },
})

console.log('Session resumed for:', agent.did)

// Logout: end the session and notify the server
await agent.logout()
