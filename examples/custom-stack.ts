// A custom middleware stack: the preset's three middlewares around your own.
// Run: node --conditions=lex-password-agent-source examples/custom-stack.ts
//      (with ATP_SERVICE, ATP_IDENTIFIER, ATP_PASSWORD set)
import { Client } from '@atproto/lex-client'
import { PasswordAgent, pipeline, type Middleware } from 'lex-password-agent'
import { authHeader, refreshOnExpired, routeToPds } from 'lex-password-agent/middleware'
import * as com from './lexicons/com.js'

// Your own middleware: log method, URL path and status (never headers: they hold the token).
const log: Middleware = (next) => async (input, init) => {
  const started = performance.now()
  const res = await next(input, init)
  const url = new URL(input instanceof Request ? input.url : String(input), 'http://relative.invalid')
  console.log(
    `${init?.method ?? 'GET'} ${url.pathname} -> ${res.status} (${Math.round(performance.now() - started)} ms)`,
  )
  return res
}

const result = await PasswordAgent.login({
  service: process.env.ATP_SERVICE ?? 'https://bsky.social',
  identifier: process.env.ATP_IDENTIFIER ?? 'alice.bsky.social',
  password: process.env.ATP_PASSWORD ?? 'app-password',
})
if (!result.success) throw result

// The preset, rebuilt by hand with a logger inside it: the logger sees each
// attempt, including the replay after a token refresh.
const session = result.value.sessionHolder
const fetch = pipeline([refreshOnExpired({ session }), routeToPds({ session }), log, authHeader({ session })])
const client = new Client({ did: result.value.did, fetchHandler: (path, init) => fetch(path, init) })

const { body } = await client.xrpc(com.atproto.repo.describeRepo, { params: { repo: result.value.did } })
console.log('repo handle:', body.handle)
await result.value.logout()
