import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request as the server received it. */
export type Received = { method: string; path: string; headers: IncomingHttpHeaders; body: string }

/** Answers (or mistreats) one request. */
export type Handler = (req: Received, res: ServerResponse) => unknown

/**
 * A real HTTP server on 127.0.0.1 with a replaceable handler: faults (refused,
 * reset, hang) are real sockets, not mocks. Every request is recorded.
 */
export type LoopbackServer = {
  /** `http://127.0.0.1:<port>`, a bare origin. */
  readonly url: string
  readonly port: number
  readonly requests: Received[]
  handler: Handler
  close(): Promise<void>
}

export const notFound: Handler = (_req, res) => sendJson(res, 404, { error: 'XRPCNotSupported' })

export async function startServer(handler: Handler = notFound): Promise<LoopbackServer> {
  const requests: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const received = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }
      requests.push(received)
      Promise.resolve()
        .then(() => self.handler(received, res))
        .catch(() => res.destroy())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const self: LoopbackServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    handler,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections() // hanging requests and keep-alive sockets
        server.close(() => resolve())
      }),
  }
  return self
}

/** A port nothing listens on (bound once, then released): connection refused. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** The NSID of an `/xrpc/<nsid>` request path. */
export const nsidOf = (req: Received) => /^\/xrpc\/([^?/#]+)/.exec(req.path)?.[1]

/** A handler that streams a large answer; `sent` counts the body bytes written so far. */
export type StreamingHandler = Handler & { sent: number }

/**
 * Streams a `total`-byte JSON answer (one long string field), made on the fly
 * in 64 KiB chunks as the socket drains, so nothing that size is ever held;
 * stops when the client hangs up. Chunked unless `contentLength` declares it.
 */
export function streamJson(total: number, { status = 200, contentLength = false } = {}): StreamingHandler {
  const head = Buffer.from('{"accessJwt":"')
  const tail = Buffer.from('"}')
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  const handler: StreamingHandler = Object.assign(
    (_req: Received, res: ServerResponse) => {
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(contentLength ? { 'content-length': String(total) } : {}),
      })
      let left = total - head.length - tail.length
      res.write(head)
      handler.sent += head.length
      const pump = () => {
        while (left > 0 && !res.destroyed) {
          const n = Math.min(chunk.length, left)
          left -= n
          handler.sent += n
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump)
        }
        if (!res.destroyed) {
          res.end(tail)
          handler.sent += tail.length
        }
      }
      pump()
    },
    { sent: 0 },
  )
  return handler
}
