import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// The published shape: `npm pack` (prepack builds), then a fresh consumer
// project installs the tarball and uses it from JS and from TypeScript.
const root = path.resolve(__dirname, '../..')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lpa-consumer-'))
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_loglevel: 'error' },
  })

let tarball = ''

beforeAll(() => {
  const out = npm(['pack', '--pack-destination', work, '--json'], root)
  tarball = path.join(work, JSON.parse(out.slice(out.indexOf('[')))[0].filename)
  const app = path.join(work, 'app')
  fs.mkdirSync(app)
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      private: true,
      type: 'module',
      dependencies: { 'lex-password-agent': `file:${tarball}` },
    }),
  )
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline'], app)
}, 180_000)

afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

describe('the packed tarball', () => {
  it('ships only the build, the sources for source maps, and package.json', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n')
    expect(files).toContain('package/dist/lib/index.js')
    expect(files).toEqual(expect.arrayContaining(['package/LICENSE', 'package/CHANGELOG.md', 'package/README.md']))
    expect(files).toContain('package/dist/lib/index.d.ts')
    expect(files).toContain('package/dist/middleware/index.js')
    expect(files.filter((f) => /spec\/|examples\/|node_modules|\.tmp|bench\//.test(f))).toEqual([])
  })

  it('ships the source maps its files point at, and the sources those maps name', () => {
    const dir = path.join(work, 'unpacked')
    fs.mkdirSync(dir, { recursive: true })
    execFileSync('tar', ['-xzf', tarball, '-C', dir])
    const pkg = path.join(dir, 'package')
    const built = fs.readdirSync(path.join(pkg, 'dist'), { recursive: true, encoding: 'utf8' })
    const withMaps = built.filter((f) => /\.(js|d\.ts)$/.test(f))
    expect(withMaps.length).toBeGreaterThan(20)
    const missing: string[] = []
    for (const file of withMaps) {
      const full = path.join(pkg, 'dist', file)
      const ref = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(fs.readFileSync(full, 'utf8'))?.[1]
      if (!ref) continue
      const map = path.resolve(path.dirname(full), ref)
      if (!fs.existsSync(map)) {
        missing.push(path.relative(pkg, map))
        continue
      }
      const { sources, sourceRoot = '' } = JSON.parse(fs.readFileSync(map, 'utf8'))
      for (const source of sources as string[]) {
        const target = path.resolve(path.dirname(map), sourceRoot, source)
        if (!fs.existsSync(target)) missing.push(path.relative(pkg, target))
      }
    }
    expect(missing).toEqual([])
  })

  it('passes publint (strict) and are-the-types-wrong (esm-only profile)', () => {
    const bin = (name: string) => path.join(root, 'node_modules', '.bin', name)
    const dir = path.join(work, 'lint')
    fs.mkdirSync(dir, { recursive: true })
    execFileSync('tar', ['-xzf', tarball, '-C', dir])
    // Both exit non-zero on a finding; their report is then the failure message.
    const run = (cmd: string, args: string[]) => {
      try {
        return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      } catch (error) {
        const { stdout, stderr } = error as { stdout: string; stderr: string }
        throw new Error(`${path.basename(cmd)} failed:\n${stdout}\n${stderr}`, { cause: error })
      }
    }
    expect(run(bin('publint'), [path.join(dir, 'package'), '--pack', 'false', '--strict'])).toContain('All good!')
    expect(run(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'table-flipped'])).toContain(
      'lex-password-agent',
    )
  })

  it('imports as lex-password-agent from plain JS and works without the network', () => {
    const app = path.join(work, 'app')
    fs.writeFileSync(
      path.join(app, 'main.js'),
      `import { PasswordAgent, pipeline, Session, LoggedOutError } from 'lex-password-agent'
import { authHeader, refreshOnExpired, routeToPds } from 'lex-password-agent/middleware'
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
const jwt = b64({ alg: 'HS256' }) + '.' + b64({ exp: 2e9 }) + '.c2ln'
const fetch = async (input) => Response.json({ did: 'did:plc:abc', handle: 'a.test', accessJwt: jwt, refreshJwt: jwt, url: String(input) })
const res = await PasswordAgent.login({ service: 'https://pds.test', identifier: 'a.test', password: 'pw', fetch })
const agent = res.value
const body = await (await agent.fetch('/xrpc/x.y.z')).json()
console.log(JSON.stringify([res.success, agent.did, body.url, typeof pipeline, typeof authHeader, typeof refreshOnExpired, typeof routeToPds, Session.is(agent.session), new LoggedOutError().message]))
`,
    )
    const out = execFileSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8' })
    expect(JSON.parse(out)).toEqual([
      true,
      'did:plc:abc',
      'https://pds.test/xrpc/x.y.z',
      'function',
      'function',
      'function',
      'function',
      true,
      'Logged out',
    ])
  })

  it('type-checks a TypeScript consumer against the shipped .d.ts', () => {
    const app = path.join(work, 'app')
    fs.writeFileSync(
      path.join(app, 'main.ts'),
      `import { Client } from '@atproto/lex-client'
import { PasswordAgent, pipeline, type FetchLike, type Middleware, type Session, type LoginResult } from 'lex-password-agent'
import { authHeader } from 'lex-password-agent/middleware'
export async function main(session: Session): Promise<string> {
  const agent: PasswordAgent = await PasswordAgent.resume(session, { hooks: { onRefreshed(s) { this.did; s.data.accessJwt } } })
  const mw: Middleware = authHeader({ session: agent.sessionHolder })
  const f: FetchLike = pipeline([mw])
  const r: LoginResult = await PasswordAgent.login({ service: 'https://x.test', identifier: 'a', password: 'b', fetch: f })
  if (!r.success) return r.error
  new Client(r.value)
  return agent.did
}
`,
    )
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2023', 'dom', 'esnext.disposable'],
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['main.ts'],
      }),
    )
    // @atproto/lex-client comes in as the package's own dependency (hoisted by npm).
    execFileSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' })
  })
})
