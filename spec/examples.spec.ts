import { describe, expect, it, beforeAll, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// Every README example runs as written (only the import path differs), in a
// Node 22 child process against an in-process fake of bsky.social
// (spec/helpers/example-env.mjs). Needs `node scripts/example-lexicons.mjs`.
jest.setTimeout(60_000) // child processes on a shared 2-core machine
const root = path.resolve(__dirname, '..')
const state = fs.mkdtempSync(path.join(os.tmpdir(), 'lpa-examples-'))

function run(example: string, env: Record<string, string> = {}) {
  const file = example.startsWith('/') ? `examples${example}.ts` : `examples/readme/${example}.ts`
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=lex-password-agent-source', '--import', './spec/helpers/example-env.mjs', file],
      { cwd: root, env: { ...process.env, EXAMPLE_STATE_DIR: state, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    )
  })
}
const requests = (): string[] => JSON.parse(fs.readFileSync(path.join(state, 'fake-bsky.json'), 'utf8')).requests
const since = (n: number) => requests().slice(n)

describe('README examples, run as written', () => {
  beforeAll(() => {
    expect(fs.existsSync(path.join(root, 'examples/lexicons/app.ts'))).toBe(true)
  })

  it('intro: login, then getProfile through Client', async () => {
    const r = await run('intro')
    expect(r).toMatchObject({ code: 0, stdout: 'alice.bsky.social\n' })
    expect(since(0)).toEqual(['entryway com.atproto.server.createSession', 'pds app.bsky.actor.getProfile'])
  })

  it('quick start', async () => {
    expect(await run('quick-start')).toMatchObject({
      code: 0,
      stdout: 'Logged in as: did:plc:yourhandle2345abcdefghij\n',
    })
  })

  it('login with hooks, then resume (refresh) and logout, then static delete', async () => {
    const n = requests().length
    expect((await run('login')).stdout).toBe('Logged in as: did:plc:alice2345abcdefghijklmno\n')
    const resumed = await run('resume')
    expect(resumed).toMatchObject({ code: 0, stdout: 'Session resumed for: did:plc:alice2345abcdefghijklmno\n' })
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession',
      'entryway com.atproto.server.refreshSession',
      'entryway com.atproto.server.deleteSession',
    ])
    const storage = JSON.parse(fs.readFileSync(path.join(state, 'local-storage.json'), 'utf8'))
    expect(storage.session).toBeUndefined() // onDeleted cleared it
    expect((await run('login')).code).toBe(0)
    const m = requests().length
    expect(await run('static-delete')).toMatchObject({ code: 0, stderr: '' })
    expect(since(m)).toEqual(['entryway com.atproto.server.deleteSession'])
  })

  it('two-factor: AuthFactorTokenRequired, then login with the code', async () => {
    const r = await run('two-factor', { FAKE_BSKY_2FA: '1', ATP_AUTH_FACTOR_TOKEN: '123456' })
    expect(r).toMatchObject({ code: 0, stdout: '2FA login: true\n' })
  })

  it('hooks: this is the agent; onDeleted on logout', async () => {
    const r = await run('hooks')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      'Session refreshed for: did:plc:alice2345abcdefghijklmno\n' +
        'Session ended for: did:plc:alice2345abcdefghijklmno\n' +
        'Session ended: log in again.\n',
    )
  })

  it('error handling: wrong password', async () => {
    expect(await run('errors')).toMatchObject({ code: 0, stderr: 'Invalid credentials\n' })
  })

  it('with Client: getProfile, getTimeline, create a post', async () => {
    const n = requests().length
    const r = await run('with-client')
    expect(r).toMatchObject({ code: 0, stdout: 'alice.bsky.social 0\n' })
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession',
      'pds app.bsky.actor.getProfile',
      'pds app.bsky.feed.getTimeline',
      'pds com.atproto.repo.createRecord',
    ])
  })

  it('custom stack: a logger inside the preset middlewares', async () => {
    const r = await run('/custom-stack')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^GET \/xrpc\/com\.atproto\.repo\.describeRepo -> 200 \(\d+ ms\)\nrepo handle: alice\.bsky\.social\n$/,
    )
  })

  it('ofetch over agent.fetch', async () => {
    const n = requests().length
    const r = await run('/ofetch')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^handle: alice\.bsky\.social\ncreated: at:\/\/did:plc:alice2345abcdefghijklmno\/app\.bsky\.feed\.post\/3kabc\d+\n$/,
    )
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession',
      'pds com.atproto.repo.describeRepo',
      'pds com.atproto.repo.createRecord',
      'entryway com.atproto.server.deleteSession',
    ])
  })
})
