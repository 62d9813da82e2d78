import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { SessionTimeoutError } from '../lib/core/errors.ts'
import { HookRunner } from '../lib/core/hook-runner.ts'
import type { SessionHooks } from '../lib/core/hooks.ts'

const agent = { name: 'the agent' }
const TIMEOUT_MS = 50

// Requests wait for hooks, and a hook never changes a session's outcome: run()
// calls it with `this` = the agent, waits at most the timeout, and reports any
// failure instead of throwing.
describe('HookRunner', () => {
  afterEach(() => {
    jest.restoreAllMocks()
  })

  it('calls the hook with `this` bound to the agent and its arguments, and waits for it', async () => {
    const calls: unknown[][] = []
    let finished = false
    const hooks: SessionHooks<typeof agent> = {
      async onWarning(message) {
        calls.push([this, message])
        await new Promise((r) => setTimeout(r, 10))
        finished = true
      },
    }
    await new HookRunner(hooks, agent, TIMEOUT_MS).run('onWarning', 'careful')
    expect(calls).toEqual([[agent, 'careful']])
    expect(finished).toBe(true)
  })

  it('does nothing for a hook that is not set, and accepts hooks that return a plain value', async () => {
    const runner = new HookRunner({ onRefreshed: () => 42 }, agent, TIMEOUT_MS)
    await expect(runner.run('onDeleted', {})).resolves.toBeUndefined()
    await expect(runner.run('onRefreshed', {})).resolves.toBeUndefined()
  })

  it('reports a throwing or rejecting hook to onHookError (with `this` and the hook name), never rejecting', async () => {
    const boom = new Error('boom')
    const reports: unknown[][] = []
    const hooks: SessionHooks<typeof agent> = {
      onRefreshed() {
        throw boom
      },
      onDeleted: async () => Promise.reject(boom),
      onHookError(error, hook) {
        reports.push([this, error, hook])
      },
    }
    const runner = new HookRunner(hooks, agent, TIMEOUT_MS)
    await runner.run('onRefreshed', {})
    await runner.run('onDeleted', {})
    expect(reports).toEqual([
      [agent, boom, 'onRefreshed'],
      [agent, boom, 'onDeleted'],
    ])
  })

  it('stops waiting for a hook that never settles: a SessionTimeoutError is reported after the timeout', async () => {
    const reports: unknown[] = []
    const runner = new HookRunner(
      { onRefreshed: () => new Promise(() => {}), onHookError: (error) => void reports.push(error) },
      agent,
      TIMEOUT_MS,
    )
    const started = Date.now()
    await runner.run('onRefreshed', {})
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 5)
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 10)
    expect(reports).toHaveLength(1)
    expect(reports[0]).toBeInstanceOf(SessionTimeoutError)
    expect((reports[0] as Error).message).toMatch(/onRefreshed hook did not settle within 50 ms/)
  })

  it('without onHookError, a failure goes to console.error', async () => {
    const logged: unknown[][] = []
    jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void logged.push(args))
    const boom = new Error('boom')
    await new HookRunner({ onWarning: () => Promise.reject(boom) }, agent, TIMEOUT_MS).run('onWarning', 'x')
    expect(logged).toEqual([['lex-password-agent: the onWarning hook failed', boom]])
  })

  it('swallows a failing or hanging onHookError', async () => {
    const fail = () => Promise.reject(new Error('hook'))
    for (const onHookError of [
      () => {
        throw new Error('reporter')
      },
      () => new Promise(() => {}),
    ]) {
      const started = Date.now()
      await expect(
        new HookRunner({ onDeleted: fail, onHookError }, agent, TIMEOUT_MS).run('onDeleted', {}),
      ).resolves.toBeUndefined()
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 10)
    }
  })

  it('a hook rejecting after the timeout reaches nobody (no unhandled rejection)', async () => {
    let reject!: (err: Error) => void
    const reports: unknown[] = []
    const runner = new HookRunner(
      { onRefreshed: () => new Promise((_r, rj) => (reject = rj)), onHookError: (error) => void reports.push(error) },
      agent,
      TIMEOUT_MS,
    )
    await runner.run('onRefreshed', {})
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    reject(new Error('late'))
    await new Promise((r) => setTimeout(r, 20))
    process.off('unhandledRejection', onUnhandled)
    expect(unhandled).toEqual([])
    expect(reports).toHaveLength(1)
  })
})
