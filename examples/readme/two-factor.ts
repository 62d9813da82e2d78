import { prompt2FACode } from './storage.ts'
import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'app-password',
})

if (!result.success && result.error === 'AuthFactorTokenRequired') {
  // Prompt user for 2FA code, then retry
  const code = await prompt2FACode()
  const retryResult = await PasswordAgent.login({
    service: 'https://bsky.social',
    identifier: 'alice.bsky.social',
    password: 'app-password',
    authFactorToken: code,
  })
  console.log('2FA login:', retryResult.success)
}
