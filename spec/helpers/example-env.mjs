// Preload for running the README examples as written (`node --import` this):
// 1. resolves `./x.js` to `./x.ts` (scripts/ts-resolve.mjs);
// 2. answers https://bsky.social and its PDS in-process with a fake entryway,
//    PDS and appview, so no account or network is needed. Server state lives
//    in $EXAMPLE_STATE_DIR/fake-bsky.json so several processes share it.
import fs from 'node:fs'
import path from 'node:path'

import '../../scripts/ts-resolve.mjs'

const ENTRYWAY = 'https://bsky.social'
const PDS = 'https://morel.us-east.host.bsky.network'
const ACCOUNTS = {
  'alice.bsky.social': { did: 'did:plc:alice2345abcdefghijklmno', password: 'app-password' },
  'your-handle.bsky.social': { did: 'did:plc:yourhandle2345abcdefghij', password: 'your-app-password' },
  // Made by createAccount (examples/migration/); any other handle there is taken.
  'carol.bsky.social': { did: 'did:plc:carol2345abcdefghijklmno', password: 'carol-password' },
}
const dir = process.env.EXAMPLE_STATE_DIR
const stateFile = path.join(dir, 'fake-bsky.json')
const load = () => {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8'))
  } catch {
    return { revoked: [], requests: [], posts: 0 }
  }
}
const save = (s) => (fs.mkdirSync(dir, { recursive: true }), fs.writeFileSync(stateFile, JSON.stringify(s)))

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
const jwt = (claims) =>
  `${b64({ typ: 'at+jwt', alg: 'HS256' })}.${b64({ iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 7200, jti: crypto.randomUUID(), ...claims })}.c2ln`
const claims = (auth) => {
  try {
    return JSON.parse(Buffer.from(auth.replace(/^Bearer /, '').split('.')[1], 'base64url').toString())
  } catch {
    return null
  }
}
const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const err = (status, error, message = error) => json(status, { error, message })

function sessionFor(handle) {
  const { did } = ACCOUNTS[handle]
  return {
    did,
    handle,
    email: `${handle.split('.')[0]}@example.com`,
    emailConfirmed: true,
    active: true,
    accessJwt: jwt({ scope: 'com.atproto.appPass', sub: did }),
    refreshJwt: jwt({ scope: 'com.atproto.refresh', sub: did }),
    didDoc: {
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: did,
      alsoKnownAs: [`at://${handle}`],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: PDS }],
    },
  }
}

async function answer(url, req) {
  const state = load()
  const nsid = url.pathname.replace('/xrpc/', '')
  state.requests.push(`${url.origin === ENTRYWAY ? 'entryway' : 'pds'} ${nsid}`)
  save(state)
  const auth = req.headers.get('authorization') ?? ''
  const c = claims(auth)
  if (c?.jti && state.revoked.includes(c.jti)) return err(400, 'ExpiredToken', 'Token has been revoked')
  const handleOf = (did) => Object.keys(ACCOUNTS).find((h) => ACCOUNTS[h].did === did)
  switch (nsid) {
    case 'com.atproto.server.createSession': {
      const { identifier, password, authFactorToken } = await req.json()
      const account = ACCOUNTS[identifier]
      if (!account || account.password !== password) {
        return err(401, 'AuthenticationRequired', 'Invalid identifier or password')
      }
      if (process.env.FAKE_BSKY_2FA === '1' && !authFactorToken) {
        return err(401, 'AuthFactorTokenRequired', 'A sign in code has been sent to your email address')
      }
      return json(200, sessionFor(identifier))
    }
    case 'com.atproto.server.createAccount': {
      const { handle } = await req.json()
      if (handle !== 'carol.bsky.social') return err(400, 'HandleNotAvailable', 'Handle already taken')
      return json(200, sessionFor(handle))
    }
    case 'com.atproto.server.refreshSession':
    case 'com.atproto.server.deleteSession': {
      if (c?.scope !== 'com.atproto.refresh') return err(400, 'InvalidToken', 'Invalid token type')
      state.revoked.push(c.jti)
      save(state)
      return nsid.endsWith('refreshSession') ? json(200, sessionFor(handleOf(c.sub))) : new Response(null)
    }
  }
  if (c?.scope !== 'com.atproto.appPass' || url.origin !== PDS)
    return err(401, 'AuthMissing', 'Authentication Required')
  switch (nsid) {
    case 'app.bsky.actor.getProfile':
      return json(200, { did: c.sub, handle: handleOf(c.sub), displayName: 'Alice', followersCount: 1 })
    case 'com.atproto.repo.describeRepo':
      return json(200, { handle: handleOf(c.sub), did: c.sub, didDoc: {}, collections: [], handleIsCorrect: true })
    case 'app.bsky.feed.getTimeline':
      return json(200, { feed: [] })
    case 'com.atproto.repo.createRecord': {
      const body = await req.json()
      state.posts++
      save(state)
      return json(200, {
        uri: `at://${c.sub}/${body.collection}/3kabc${state.posts}`,
        cid: 'bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5qy6sjyv3r2f4a4',
      })
    }
  }
  return err(501, 'MethodNotImplemented', `${nsid} is not faked`)
}

const realFetch = globalThis.fetch
globalThis.fetch = async (input, init) => {
  const req = new Request(input, init)
  const url = new URL(req.url)
  if (url.origin === ENTRYWAY || url.origin === PDS) return answer(url, req)
  return realFetch(input, init)
}
