import { localStorage } from './storage.ts'
import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social', // handle or email
  password: 'app-password',
  hooks: {
    onRefreshed: (session) => {
      // Persist session for later restoration
      localStorage.setItem('session', JSON.stringify(session))
    },
    onDeleted: () => {
      localStorage.removeItem('session')
    },
  },
})

if (result.success) {
  const agent = result.value
  console.log('Logged in as:', agent.did)
} else {
  console.error('Login failed:', result.error, result.message)
}
