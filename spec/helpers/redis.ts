// A throwaway redis-server on 127.0.0.1 for the Redis suite: a random port, no
// persistence. Uses $REDIS_URL instead when it is set.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import net from 'node:net'

export type TestRedis = { url: string; stop: () => Promise<void> }

/** Why the Redis suite cannot run here, or undefined. */
export function redisUnavailableReason(): string | undefined {
  if (process.env['REDIS_URL']) return undefined
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (found.error || found.status !== 0) {
    return 'no redis-server on PATH and no REDIS_URL set (install it: apt-get install redis-server; .ci/run does)'
  }
  return undefined
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })

export async function startRedis(): Promise<TestRedis> {
  if (process.env['REDIS_URL']) return { url: process.env['REDIS_URL'], stop: async () => {} }
  const port = await freePort()
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)))
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}
