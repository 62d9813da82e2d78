import { describe, expect, it, jest } from '@jest/globals'
import { globalFetch, pipeline, type FetchLike, type Middleware } from '../lib/core/fetch.ts'

const tag =
  (name: string, log: string[]): Middleware =>
  (next) =>
  async (input, init) => {
    log.push(`${name}>`)
    const res = await next(input, init)
    log.push(`<${name}`)
    return res
  }

describe('pipeline', () => {
  it('runs the first listed middleware outermost: first to see the request, last to see the response', async () => {
    const log: string[] = []
    const terminal: FetchLike = async () => {
      log.push('fetch')
      return new Response('ok')
    }
    const fetch = pipeline([tag('a', log), tag('b', log), tag('c', log)], terminal)
    const res = await fetch('https://example.test/')
    expect(await res.text()).toBe('ok')
    expect(log).toEqual(['a>', 'b>', 'c>', 'fetch', '<c', '<b', '<a'])
  })

  it('with no middleware is the terminal fetch itself', async () => {
    const terminal = jest.fn<FetchLike>(async () => new Response('x'))
    const fetch = pipeline([], terminal)
    await fetch('https://example.test/a', { method: 'POST' })
    expect(terminal).toHaveBeenCalledWith('https://example.test/a', { method: 'POST' })
  })

  it('lets a middleware call next several times or not at all', async () => {
    const terminal = jest.fn<FetchLike>(async () => new Response('x'))
    const twice: Middleware = (next) => async (input, init) => {
      await next(input, init)
      return next(input, init)
    }
    const never: Middleware = () => async () => new Response('short-circuit')
    await pipeline([twice], terminal)('https://example.test/')
    expect(terminal).toHaveBeenCalledTimes(2)
    const res = await pipeline([never], terminal)('https://example.test/')
    expect(await res.text()).toBe('short-circuit')
    expect(terminal).toHaveBeenCalledTimes(2)
  })

  it('looks the global fetch up on every call, not at import time', async () => {
    const original = globalThis.fetch
    const fetch = pipeline([])
    expect(fetch).toBe(globalFetch)
    try {
      globalThis.fetch = async () => new Response('first')
      expect(await (await fetch('https://example.test/')).text()).toBe('first')
      globalThis.fetch = async () => new Response('second')
      expect(await (await fetch('https://example.test/')).text()).toBe('second')
    } finally {
      globalThis.fetch = original
    }
  })

  it('rejects what is not a middleware list or a fetch, naming it', () => {
    expect(() => pipeline('x' as never)).toThrow(new TypeError('pipeline: "middlewares" must be an array'))
    expect(() => pipeline([null as never])).toThrow(new TypeError('pipeline: "middlewares[0]" must be a function'))
    expect(() => pipeline([], 42 as never)).toThrow(new TypeError('pipeline: "terminal" must be a function'))
  })
})
