import { afterEach, describe, expect, it, jest } from '@jest/globals'

const nativeParse = URL.parse
const nativeCanParse = URL.canParse

/** Loads parse-url.ts afresh: it picks native or fallback at load. */
const load = async () => {
  jest.resetModules()
  return await import('../lib/core/parse-url.ts')
}

describe('parseUrl / canParseUrl', () => {
  afterEach(() => {
    URL.parse = nativeParse
    URL.canParse = nativeCanParse
  })

  for (const variant of ['native', 'without URL.parse and URL.canParse (older browsers)'] as const) {
    it(`parses as URL.parse does: ${variant}`, async () => {
      if (variant !== 'native') {
        // @ts-expect-error: removed to stand for Chrome/Firefox < 126, Safari < 18
        delete URL.parse
        // @ts-expect-error: likewise
        delete URL.canParse
      }
      const { parseUrl, canParseUrl } = await load()
      expect(parseUrl('https://pds.example/xrpc/a?b=1')?.href).toBe('https://pds.example/xrpc/a?b=1')
      expect(parseUrl('/xrpc/a', 'https://pds.example/base/')?.href).toBe('https://pds.example/xrpc/a')
      expect(parseUrl('not a url')).toBeNull()
      expect(parseUrl('/relative')).toBeNull()
      expect(canParseUrl('https://pds.example')).toBe(true)
      expect(canParseUrl('pds.example')).toBe(false)
    })
  }

  it('the library loads and routes without URL.parse', async () => {
    // @ts-expect-error: removed to stand for an older browser
    delete URL.parse
    // @ts-expect-error: likewise
    delete URL.canParse
    jest.resetModules()
    const { PasswordAgent } = await import('../lib/index.ts')
    const { session } = await import('./helpers/fixtures.ts')
    const seen: [string, string | null][] = []
    const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push([String(input), new Headers(init?.headers).get('authorization')])
      return Response.json({})
    }
    const saved = session()
    const agent = new PasswordAgent(saved, { fetch })
    await agent.fetchHandler('/xrpc/com.atproto.repo.listRecords', { method: 'GET' })
    await agent.fetch('https://foreign.example/x')
    expect(seen).toEqual([
      [`${saved.pdsUrl}/xrpc/com.atproto.repo.listRecords`, `Bearer ${saved.data.accessJwt}`],
      ['https://foreign.example/x', null],
    ])
  })
})
