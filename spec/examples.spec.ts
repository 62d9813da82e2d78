import { describe, expect, it, beforeAll, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ts from 'typescript'
import { redisUnavailableReason, startRedis } from './helpers/redis.ts'

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

// The README's own examples and the migration guide's files: each prints what it
// did, and the fake records which server calls it made.
describe('quick start, stores and migration examples', () => {
  it('quick start: logs in, reads the profile, logs out', async () => {
    const n = requests().length
    expect(await run('/quick-start')).toMatchObject({ code: 0, stdout: 'Logged in as: alice.bsky.social\n' })
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession',
      'pds app.bsky.actor.getProfile',
      'entryway com.atproto.server.deleteSession',
    ])
  })

  it('quick start with a wrong password: stops with the server code and message', async () => {
    const n = requests().length
    const r = await run('/quick-start', { ATP_PASSWORD: 'wrong-password' })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('Error: Login refused: AuthenticationRequired: Invalid identifier or password\n')
    expect(since(n)).toEqual(['entryway com.atproto.server.createSession'])
  })

  it('file store bot: the second run resumes without any session call', async () => {
    const file = path.join(state, 'bot', 'session.json')
    const n = requests().length
    expect(await run('/file-store-bot', { SESSION_FILE: file })).toMatchObject({
      code: 0,
      stdout: 'repo handle: alice.bsky.social\n',
    })
    expect(since(n)).toEqual(['entryway com.atproto.server.createSession', 'pds com.atproto.repo.describeRepo'])
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    const m = requests().length
    expect(await run('/file-store-bot', { SESSION_FILE: file })).toMatchObject({ code: 0 })
    expect(since(m)).toEqual(['pds com.atproto.repo.describeRepo'])
  })

  it('pool: signs up two accounts once, then posts for each from the store without a session call', async () => {
    const env = { ACCOUNTS_DIR: path.join(state, 'pool-accounts') }
    const n = requests().length
    const first = await run('/pool', { ...env, SIGN_UP: '1' })
    expect(first.code).toBe(0)
    const lines = first.stdout.trim().split('\n')
    expect(lines.slice(0, 2)).toEqual([
      'signed up: did:plc:alice2345abcdefghijklmno',
      'signed up: did:plc:yourhandle2345abcdefghij',
    ])
    expect(lines.slice(2).sort()).toEqual([
      expect.stringMatching(
        /^posted for did:plc:alice2345abcdefghijklmno: at:\/\/did:plc:alice2345abcdefghijklmno\/app\.bsky\.feed\.post\/3kabc\d+$/,
      ),
      expect.stringMatching(
        /^posted for did:plc:yourhandle2345abcdefghij: at:\/\/did:plc:yourhandle2345abcdefghij\/app\.bsky\.feed\.post\/3kabc\d+$/,
      ),
    ])
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession',
      'entryway com.atproto.server.createSession',
      'pds com.atproto.repo.createRecord',
      'pds com.atproto.repo.createRecord',
    ])
    expect(fs.readdirSync(env.ACCOUNTS_DIR).sort()).toEqual([
      'did_plc_alice2345abcdefghijklmno.json',
      'did_plc_yourhandle2345abcdefghij.json',
    ])
    const m = requests().length
    const second = await run('/pool', env)
    expect(second.code).toBe(0)
    expect(second.stdout.trim().split('\n')).toHaveLength(2)
    expect(since(m)).toEqual(['pds com.atproto.repo.createRecord', 'pds com.atproto.repo.createRecord'])
  })

  const noRedis = redisUnavailableReason()
  ;(noRedis ? it.skip : it)(`Redis store bot${noRedis ? ` (skipped: ${noRedis})` : ''}`, async () => {
    const redis = await startRedis()
    try {
      const n = requests().length
      const r = await run('/redis-store-bot', { REDIS_URL: redis.url })
      expect(r).toMatchObject({ code: 0, stdout: 'session in Redis: true\n' })
      expect(since(n)).toEqual([
        'entryway com.atproto.server.createSession',
        'entryway com.atproto.server.refreshSession',
      ])
      const m = requests().length
      expect(await run('/redis-store-bot', { REDIS_URL: redis.url })).toMatchObject({ code: 0 })
      expect(since(m)).toEqual(['entryway com.atproto.server.refreshSession']) // resumed from Redis, no login
    } finally {
      await redis.stop()
    }
  })

  it('migration from AtpAgent: each call replaced', async () => {
    const n = requests().length
    const r = await run('/migration/from-atp-agent')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^did: did:plc:alice2345abcdefghijklmno handle: alice\.bsky\.social saved: true\nprofile: alice\.bsky\.social repo: alice\.bsky\.social post: at:\/\/did:plc:alice2345abcdefghijklmno\/app\.bsky\.feed\.post\/3kabc\d+\nafter logout, saved: undefined\n$/,
    )
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession',
      'pds app.bsky.actor.getProfile',
      'pds com.atproto.repo.describeRepo',
      'pds com.atproto.repo.createRecord',
      'entryway com.atproto.server.refreshSession',
      'entryway com.atproto.server.deleteSession',
    ])
  })

  it('migration: a session AtpAgent saved resumes in PasswordAgent (a refresh, no second login)', async () => {
    const n = requests().length
    expect(await run('/migration/resume-atp-session')).toMatchObject({
      code: 0,
      stdout: 'resumed: did:plc:alice2345abcdefghijklmno pds: https://morel.us-east.host.bsky.network\n',
    })
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession', // by AtpAgent
      'entryway com.atproto.server.refreshSession',
      'entryway com.atproto.server.deleteSession',
    ])
  })

  it('migration from PasswordSession: hooks, handle, Client, logout; and 2FA as a result', async () => {
    const expected =
      'onRefreshed: alice.bsky.social\nhandle: alice.bsky.social service: https://bsky.social\n' +
      'profile: alice.bsky.social\nonDeleted: did:plc:alice2345abcdefghijklmno\n'
    expect(await run('/migration/from-lex-password-session')).toMatchObject({ code: 0, stdout: expected })
    const n = requests().length
    const r = await run('/migration/from-lex-password-session', { FAKE_BSKY_2FA: '1', ATP_AUTH_FACTOR_TOKEN: '123456' })
    expect(r).toMatchObject({ code: 0, stdout: expected })
    expect(since(n).slice(0, 2)).toEqual([
      'entryway com.atproto.server.createSession',
      'entryway com.atproto.server.createSession',
    ])
  })

  it('migration: a session PasswordSession saved resumes in PasswordAgent, then PasswordAgent.delete', async () => {
    const n = requests().length
    expect(await run('/migration/resume-lex-password-session')).toMatchObject({
      code: 0,
      stdout: 'refreshed\nresumed: did:plc:alice2345abcdefghijklmno\ndeleted\n',
    })
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createSession', // by PasswordSession
      'entryway com.atproto.server.refreshSession',
      'entryway com.atproto.server.deleteSession',
    ])
  })

  it('migration: createAccount as a result, and login from a credentials URL', async () => {
    const n = requests().length
    expect(await run('/migration/account-and-url-login')).toMatchObject({
      code: 0,
      stdout:
        'created: did:plc:carol2345abcdefghijklmno\ntaken: HandleNotAvailable\nlogged in: did:plc:carol2345abcdefghijklmno\n',
    })
    expect(since(n)).toEqual([
      'entryway com.atproto.server.createAccount',
      'entryway com.atproto.server.deleteSession',
      'entryway com.atproto.server.createAccount',
      'entryway com.atproto.server.createSession',
      'entryway com.atproto.server.deleteSession',
    ])
  })
})

// "Every snippet in README.md and docs/ runs in the suite or is marked as an
// excerpt of a file that does": each ts/js block must follow an "Excerpt of
// [path](link)" and appear in that file (line by line, ignoring indentation;
// a `// …` line skips lines). Links to files and headings must resolve. And
// docs/exports.md must list exactly what each entry point exports.
describe('docs', () => {
  const DOCS = [
    'README.md',
    'docs/sessions.md',
    'docs/middlewares.md',
    'docs/security.md',
    'docs/migration.md',
    'docs/exports.md',
    'docs/using-lexicons.md',
    'docs/errors.md',
    'docs/atproto-api.md',
    'docs/runtimes.md',
    'docs/browser.md',
    'docs/pool.md',
  ]
  // Files an excerpt may come from: the examples this spec runs, examples/browser-tabs.ts
  // (run as written in 4 Chromium pages by `npm run test:runtimes`), and sources.
  const RUN_HERE =
    /^examples\/(readme\/\w[\w.-]*\.ts|quick-start\.ts|browser-tabs\.ts|pool\.ts|errors\.ts|atproto-api\.ts|file-store-bot\.ts|redis-store-bot\.ts|custom-stack\.ts|ofetch\.ts|migration\/[\w-]+\.ts)$|^(lib|middleware)\//
  const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8')
  const lines = (text: string) =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)

  /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
  const anchors = (md: string) =>
    new Set(
      [...md.replace(/```[\s\S]*?```/g, '').matchAll(/^#+\s+(.*)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      ),
    )

  it.each(DOCS)('%s: every code block is an excerpt of a file the suite runs', (doc) => {
    const text = read(doc)
    const problems: string[] = []
    const fence = /^( *)```(\w*)\n([\s\S]*?)^\1```$/gm
    let last = 0
    let blocks = 0
    for (const m of text.matchAll(fence)) {
      const [, , lang, body] = m
      const before = text.slice(last, m.index)
      last = m.index! + m[0].length
      if (['sh', 'bash', 'text', ''].includes(lang!)) continue
      blocks++
      const where = `${doc}, block ${blocks}`
      const marks = [...before.matchAll(/Excerpt of\s+\[[^\]]*\]\(([^)#]+)\)/g)]
      const target = marks.at(-1)?.[1]
      if (!target) {
        problems.push(`${where}: no "Excerpt of [file](link)" before it`)
        continue
      }
      const file = path.relative(root, path.resolve(root, path.dirname(doc), target))
      if (!RUN_HERE.test(file) || !fs.existsSync(path.join(root, file))) {
        problems.push(`${where}: ${file} is not a file this suite runs or a source file`)
        continue
      }
      const source = lines(read(file))
      let from = 0
      for (const chunk of body!.split(/^\s*\/\/ …\s*$/m).map(lines)) {
        if (!chunk.length) continue
        let at = -1
        for (let i = from; i + chunk.length <= source.length && at < 0; i++) {
          if (chunk.every((l, j) => source[i + j] === l)) at = i
        }
        if (at < 0) {
          problems.push(`${where}: not in ${file}, from: ${chunk[0]}`)
          break
        }
        from = at + chunk.length
      }
    }
    expect(problems).toEqual([])
  })

  it.each(DOCS)('%s: links to files and headings resolve', (doc) => {
    const text = read(doc).replace(/```[\s\S]*?```/g, '')
    const broken: string[] = []
    for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(link!)) continue
      const [file, anchor] = link!.split('#')
      const target = file ? path.resolve(root, path.dirname(doc), file) : path.join(root, doc)
      if (!fs.existsSync(target)) broken.push(link!)
      else if (anchor && target.endsWith('.md') && !anchors(fs.readFileSync(target, 'utf8')).has(anchor)) {
        broken.push(link!)
      }
    }
    expect(broken).toEqual([])
  })

  it('README.md stays a front page (at most 250 lines)', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(250)
  })

  it('the API reference (typedoc.json) covers every entry point of package.json "exports"', () => {
    const { config } = ts.parseConfigFileTextToJson('typedoc.json', read('typedoc.json'))
    const sources = Object.values<Record<string, string> | string>(JSON.parse(read('package.json')).exports)
      .filter((c) => typeof c !== 'string')
      .map((c) => c['lex-password-agent-source']!.replace(/^\.\//, ''))
    expect([...config.entryPoints].sort()).toEqual(sources.sort())
  })

  it('checks every guide in docs/', () => {
    const guides = fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md'))
    expect(guides.map((f) => `docs/${f}`).sort()).toEqual(DOCS.filter((d) => d.startsWith('docs/')).sort())
  })

  it('docs/exports.md lists exactly the names each entry point exports', () => {
    const pkg = JSON.parse(read('package.json'))
    const table = read('docs/exports.md')
    const mismatches: string[] = []
    for (const [sub, conditions] of Object.entries<Record<string, string> | string>(pkg.exports)) {
      if (typeof conditions === 'string') continue // ./package.json
      const entry = `lex-password-agent${sub.slice(1)}`
      const source = ts.createSourceFile('x.ts', read(conditions['lex-password-agent-source']!), ts.ScriptTarget.Latest)
      const exported = new Set<string>()
      for (const node of source.statements) {
        if (ts.isExportDeclaration(node)) {
          if (!node.exportClause || !ts.isNamedExports(node.exportClause)) throw new Error(`${entry}: export *`)
          for (const el of node.exportClause.elements) exported.add(el.name.text)
        } else if (
          (ts.isFunctionDeclaration(node) ||
            ts.isClassDeclaration(node) ||
            ts.isTypeAliasDeclaration(node) ||
            ts.isInterfaceDeclaration(node)) &&
          node.name &&
          node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
        ) {
          exported.add(node.name.text)
        } else if (
          ts.isVariableStatement(node) &&
          node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
        ) {
          for (const d of node.declarationList.declarations) if (ts.isIdentifier(d.name)) exported.add(d.name.text)
        }
      }
      const row = table.split('\n').find((l) => l.startsWith(`| \`${entry}\` |`)) ?? ''
      // Names in backticks, outside the parenthesised notes.
      const cell = (row.split('|')[2] ?? '').replace(/\([^)]*\)/g, '')
      const listed = new Set([...cell.matchAll(/`(\w+)`/g)].map((m) => m[1]!))
      const missing = [...exported].filter((n) => !listed.has(n))
      const extra = [...listed].filter((n) => !exported.has(n))
      if (!row || missing.length || extra.length) mismatches.push(`${entry}: missing ${missing}; not exported ${extra}`)
    }
    expect(mismatches).toEqual([])
  })
})
