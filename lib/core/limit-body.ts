/**
 * `res` with a body of at most `maxBytes`, so a hostile or broken server cannot
 * fill memory: refused before reading when its `Content-Length` says more
 * (rejects with `tooLarge()`), else counted as it is read and cut off with
 * `tooLarge()` as soon as it passes the limit. Either way the rest is
 * cancelled, which closes the connection instead of draining it.
 *
 * `onEnd` runs once the body is done with: read to the end, failed, cancelled,
 * refused, or absent.
 */
export async function limitBody(
  res: Response,
  maxBytes: number,
  tooLarge: () => Error,
  onEnd: () => void = () => {},
): Promise<Response> {
  if (!res.body) {
    onEnd()
    return res
  }
  if (Number(res.headers.get('content-length')) > maxBytes) {
    onEnd()
    await res.body.cancel().catch(() => {})
    throw tooLarge()
  }
  const reader = res.body.getReader()
  let size = 0
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read()
        if (done) {
          onEnd()
          controller.close()
          return
        }
        size += value.byteLength
        if (size > maxBytes) {
          onEnd()
          reader.cancel().catch(() => {})
          controller.error(tooLarge())
          return
        }
        controller.enqueue(value)
      } catch (err) {
        onEnd()
        controller.error(err)
      }
    },
    cancel(reason) {
      onEnd()
      return reader.cancel(reason)
    },
  })
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
}
