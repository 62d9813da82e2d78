/**
 * `URL.parse` (null for an invalid URL), also where it is missing: Chrome and
 * Firefox before 126, Safari before 18, Node before 22.1.
 */
export const parseUrl: (url: string, base?: string | URL) => URL | null = URL.parse
  ? (url, base) => URL.parse(url, base)
  : (url, base) => {
      try {
        return new URL(url, base)
      } catch {
        return null
      }
    }

/** `URL.canParse`, also where it is missing (Safari before 17, Chrome before 120). */
export const canParseUrl = (url: string): boolean => parseUrl(url) !== null
