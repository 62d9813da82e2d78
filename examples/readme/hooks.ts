import { saveSession, clearPersistedSession, redirectToLogin, queueLogoutRetry } from './storage.ts'
import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'app-password',
  hooks: {
    onRefreshed(session) {
      // `this` is the PasswordAgent instance
      console.log('Session refreshed for:', this.did)
      // Persist the updated session
      saveSession(session)
    },
    onRefreshFailure(session, error) {
      console.warn('Token refresh failed:', error.message)
      // Session may still be valid - consider retry logic
    },
    onDeleted(session) {
      console.log('Session ended for:', session.data.did)
      clearPersistedSession(session.data.did)
      redirectToLogin()
    },
    onDeleteFailure(session, error) {
      console.error('Logout failed:', error.message)
      // Consider queuing for retry to avoid orphaned sessions
      queueLogoutRetry(session)
    },
  },
})
if (result.success) await result.value.logout()
