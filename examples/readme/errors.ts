import { PasswordAgent } from 'lex-password-agent'

const result = await PasswordAgent.login({
  service: 'https://bsky.social',
  identifier: 'alice.bsky.social',
  password: 'wrong-password',
})

if (!result.success) {
  switch (result.error) {
    case 'AuthenticationRequired':
      console.error('Invalid credentials')
      break
    case 'AuthFactorTokenRequired':
      console.error('2FA required')
      break
    case 'AccountTakedown':
      console.error('Account has been suspended')
      break
    default:
      console.error('Login failed:', result.message)
  }
}
