// Type-level spec, compiled by `npm run typecheck` (never run): a typo in
// `PasswordAgent.login`'s options is a tsc error, reported against the form it
// was made in. spec/login-types.spec.ts checks the wording tsc gives.
import { PasswordAgent } from '../../lib/index.ts'

const identifier = 'alice.bsky.social'
const password = 'app-password'
const service = 'https://bsky.social'

export async function typos(): Promise<void> {
  // @ts-expect-error -- 'hook' is no option ("Did you mean to write 'hooks'?")
  await PasswordAgent.login({ identifier, password, service, hook: {} })
  // @ts-expect-error -- 'serviceUrl' is no option ("Did you mean to write 'service'?")
  await PasswordAgent.login({ identifier, password, serviceUrl: service })
  // @ts-expect-error -- 'refreshTimeoutMS' is no option ("Did you mean to write 'refreshTimeoutMs'?")
  await PasswordAgent.login({ identifier, password, service, refreshTimeoutMS: 5_000 })
  // @ts-expect-error -- 'onRefresh' is no hook ("Did you mean to write 'onRefreshed'?")
  await PasswordAgent.login({ identifier, password, service, hooks: { onRefresh() {} } })
  // @ts-expect-error -- 'identifier' is required
  await PasswordAgent.login({ password, service })
  // @ts-expect-error -- the URL form takes no credentials in its options
  await PasswordAgent.login('https://alice.bsky.social:pw@bsky.social', { password })
  // @ts-expect-error -- 'hook' is no option of the URL form either
  await PasswordAgent.login('https://alice.bsky.social:pw@bsky.social', { hook: {} })
}

export async function valid(url: string | URL): Promise<void> {
  await PasswordAgent.login({ identifier, password, service, hooks: { onRefreshed() {} }, refreshTimeoutMs: 5_000 })
  await PasswordAgent.login({ identifier: `@${identifier}`, password, resolveService: async () => ({ service }) })
  await PasswordAgent.login('https://alice.bsky.social:pw@bsky.social')
  await PasswordAgent.login(new URL('https://alice.bsky.social:pw@bsky.social'), { hooks: {} })
  await PasswordAgent.login(url, { refreshTimeoutMs: 5_000 })
}
