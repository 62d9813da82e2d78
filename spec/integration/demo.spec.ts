import { expect, it } from '@jest/globals'
import { execFile } from 'node:child_process'
import path from 'node:path'

// `npm start`'s demo, end to end on its embedded PDS.
const root = path.resolve(__dirname, '../..')

it('the demo walks the whole job on the embedded PDS and stops cleanly', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of ['ATP_SERVICE', 'ATP_IDENTIFIER', 'ATP_PASSWORD']) delete env[key]
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      ['--conditions=lex-password-agent-source', '--import', './scripts/ts-resolve.mjs', 'examples/demo.ts'],
      { cwd: root, env, timeout: 90_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    ),
  )
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  expect(stdout).toContain('listRecords: 3 records')
  expect(stdout).toContain('getSession after expiry: HTTP 200')
  expect(stdout).toContain('refreshSession calls: 1')
  expect(stdout).toContain('resumed agent works: getSession says alice.test')
  expect(stdout).toMatch(
    /resuming the logged-out session: refused: refreshSession at http:\/\/127\.0\.0\.1:\d+ for did:plc:[a-z2-7]{24} refused \(ExpiredToken: Token has been revoked\): log in again with the password\n/,
  )
  expect(stdout).toContain('embedded PDS stopped')
  expect(stdout).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/) // no JWT ever printed
}, 120_000)
