import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { Agent, XRPCError } from '@atproto/api'
import { execFile } from 'node:child_process'
import path from 'node:path'
import {
  isLexPasswordAgentError,
  LoggedOutError,
  PasswordAgent,
  SessionEndedError,
  type LoginOptions,
} from '../../lib/index.ts'
import { startPds, type TestAccount, type TestPds } from '../helpers/pds.ts'

// @atproto/api's Agent on a PasswordAgent (`new Agent(passwordAgent)`, no
// cast), against the reference PDS: its sugar (post, uploadBlob, deletePost),
// a real expiry under concurrent calls, and logout. spec/types/atproto-api.ts
// is the type-level half.
jest.setTimeout(120_000)
const root = path.resolve(__dirname, '../..')
const REFRESH = 'com.atproto.server.refreshSession'

/** A terminal fetch that counts requests per XRPC method. */
function countingFetch() {
  const counts = new Map<string, number>()
  const fetch = (input: string | URL | Request, init?: RequestInit) => {
    const nsid = new URL(input instanceof Request ? input.url : String(input)).pathname.replace('/xrpc/', '')
    counts.set(nsid, (counts.get(nsid) ?? 0) + 1)
    return globalThis.fetch(input, init)
  }
  return { fetch, count: (nsid: string) => counts.get(nsid) ?? 0 }
}

async function login(pds: TestPds, account: TestAccount, extra: Partial<LoginOptions> = {}) {
  const result = await PasswordAgent.login({
    service: pds.url,
    identifier: account.handle,
    password: account.password,
    ...extra,
  })
  if (!result.success) throw new Error(`login refused: ${result.error}: ${result.message}`)
  return result.value
}

/** A 1×1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
)

describe('@atproto/api Agent on a PasswordAgent, against the reference PDS', () => {
  let pds: TestPds
  let alice: TestAccount
  beforeAll(async () => {
    pds = await startPds({ accessTtlS: 3 })
    alice = await pds.createAccount('alice')
  })
  afterAll(() => pds?.stop())
  const lapse = () => new Promise((r) => setTimeout(r, 3_500))

  it('posts with an uploaded image, reads it back, deletes it', async () => {
    const passwordAgent = await login(pds, alice)
    const agent = new Agent(passwordAgent)
    expect(agent.did).toBe(alice.did)
    expect(agent.sessionManager).toBe(passwordAgent)

    const { data } = await agent.uploadBlob(PNG, { encoding: 'image/png' })
    expect(data.blob).toMatchObject({ mimeType: 'image/png', size: PNG.length })
    const post = await agent.post({
      text: 'hello from @atproto/api',
      embed: { $type: 'app.bsky.embed.images', images: [{ image: data.blob, alt: 'one pixel' }] },
    })
    expect(post.uri).toMatch(new RegExp(`^at://${alice.did}/app\\.bsky\\.feed\\.post/`))
    const rkey = post.uri.split('/').pop()!
    const record = await agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
    expect(record.data.value).toMatchObject({
      text: 'hello from @atproto/api',
      embed: { images: [{ alt: 'one pixel' }] },
    })
    await agent.deletePost(post.uri)
    await expect(
      agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey }),
    ).rejects.toMatchObject({ error: 'RecordNotFound' })
  })

  it.each([
    ['reactive (refreshAhead: false)', false, 100],
    ['with refreshAhead', undefined, 50],
  ] as const)(
    'a real expiry under 50 concurrent calls, %s: one refreshSession',
    async (_name, refreshAhead, getSessionCalls) => {
      const { fetch, count } = countingFetch()
      const agent = new Agent(await login(pds, alice, { fetch, refreshAhead }))
      await lapse()
      // getSession needs a valid token (public reads ignore an expired one).
      const answers = await Promise.all(Array.from({ length: 50 }, () => agent.com.atproto.server.getSession()))
      expect(answers.every((a) => a.data.did === alice.did)).toBe(true)
      expect(count(REFRESH)).toBe(1)
      // Reactive: each call meets ExpiredToken once and is replayed; ahead: none does.
      expect(count('com.atproto.server.getSession')).toBe(getSessionCalls)
    },
  )

  it('an upload at expiry is refreshed and replayed with its body', async () => {
    const { fetch, count } = countingFetch()
    const agent = new Agent(await login(pds, alice, { fetch, refreshAhead: false }))
    await lapse()
    const { data } = await agent.uploadBlob(PNG, { encoding: 'image/png' })
    expect(data.blob).toMatchObject({ mimeType: 'image/png', size: PNG.length })
    expect(count(REFRESH)).toBe(1)
    expect(count('com.atproto.repo.uploadBlob')).toBe(2) // ExpiredToken, then the replay
  })

  it('logout: the server revokes the session, and @atproto/api calls fail with our LoggedOutError as cause', async () => {
    const passwordAgent = await login(pds, alice)
    const agent = new Agent(passwordAgent)
    const saved = passwordAgent.session
    await passwordAgent.logout()
    expect(passwordAgent.destroyed).toBe(true)

    const err = await agent.com.atproto.server.getSession().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(XRPCError)
    expect(err).toMatchObject({ message: 'Logged out' })
    const cause = (err as XRPCError).cause
    expect(cause).toBeInstanceOf(LoggedOutError)
    expect(isLexPasswordAgentError(cause) && cause.code).toBe('ERR_LOGGED_OUT')

    await expect(PasswordAgent.resume(saved)).rejects.toBeInstanceOf(SessionEndedError)
  })

  it('examples/atproto-api.ts runs as written', async () => {
    const bob = await pds.createAccount('bob')
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['--conditions=lex-password-agent-source', 'examples/atproto-api.ts'],
        {
          cwd: root,
          env: { ...process.env, ATP_SERVICE: pds.url, ATP_IDENTIFIER: bob.handle, ATP_PASSWORD: bob.password },
          timeout: 60_000,
        },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    )
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    expect(stdout).toMatch(
      new RegExp(
        `^Logged in as: ${bob.did}\\n` +
          `uploaded: image/png, ${PNG.length} bytes\\n` +
          `posted: at://${bob.did}/app\\.bsky\\.feed\\.post/[a-z0-9]+\\n` +
          'deleted the post\\n' +
          'logged out: true\\n$',
      ),
    )
  })
})
