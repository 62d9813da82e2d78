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
