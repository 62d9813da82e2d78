import { describe, expect, it, jest } from '@jest/globals'
import { execFile } from 'node:child_process'
import path from 'node:path'

// Issue #16's budget for many agents in one process: an agent that made a
// request and is now idle holds at most ~1,000 B of its own heap. Measured as
// bench/memory.ts measures it (its `agents` child mode, in a Node process of
// its own with --expose-gc): agents each built from their own copy of one
// saved session, one request each, the copies' heap subtracted.
jest.setTimeout(60_000) // a child process on a shared 2-core machine
const root = path.resolve(__dirname, '..')
const N = 3000

function measure(key: 'ours' | 'upstream'): Promise<{ copiesBytes: number; agentsBytes: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--conditions=lex-password-agent-source',
        '--import',
        './scripts/ts-resolve.mjs',
        '--expose-gc',
        'bench/memory.ts',
        'agents',
        key,
      ],
      { cwd: root, env: { ...process.env, BENCH_AGENTS_N: String(N) }, timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    )
  })
}

describe('heap per idle agent', () => {
  it(`is at most 1,000 B for ours (${N} agents, session copies subtracted)`, async () => {
    const ours = await measure('ours')
    const perAgent = ours.agentsBytes / N
    console.log(
      `heap per idle agent: ${perAgent.toFixed(0)} B (the session copy: ${(ours.copiesBytes / N).toFixed(0)} B)`,
    )
    // The copies themselves were measured (a session with its DID document is over 1 KB).
    expect(ours.copiesBytes / N).toBeGreaterThan(1000)
    expect(perAgent).toBeGreaterThan(0)
    expect(perAgent).toBeLessThanOrEqual(1000)
  })
})
