import { describe, expect, it } from '@jest/globals'
import { failed, ok, settle } from '../lib/core/outcome.ts'

// An operation returns its outcome and the hook to run once it is over;
// settle() runs that hook, then settles like the outcome.
describe('settle', () => {
  it('resolves with the value, after the hook ran', async () => {
    const order: string[] = []
    const value = await settle(Promise.resolve(ok('value', async () => void order.push('hook')))).then((v) => {
      order.push('settled')
      return v
    })
    expect(value).toBe('value')
    expect(order).toEqual(['hook', 'settled'])
  })

  it('rejects with the error, after the hook ran', async () => {
    const order: string[] = []
    const error = new Error('refused')
    await expect(
      settle(Promise.resolve(failed(error, async () => void order.push('hook')))).catch((err: unknown) => {
        order.push('settled')
        throw err
      }),
    ).rejects.toBe(error)
    expect(order).toEqual(['hook', 'settled'])
  })

  it('works without a hook, and passes on a rejected operation as is', async () => {
    await expect(settle(Promise.resolve(ok(1)))).resolves.toBe(1)
    const fault = new Error('lock failed')
    await expect(settle(Promise.reject(fault))).rejects.toBe(fault)
  })
})
