// A minimal loopback XRPC sink, run as its own process so that its CPU and
// memory are not the client's: reads (and discards) each request body, then
// answers 200 with a small JSON body. Prints `{"url": …}` once listening;
// exits when its stdin closes. Requests without a bearer token get 401.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const body = JSON.stringify({ did: 'did:plc:benchbenchbenchbenchbenc', handle: 'alice.example', ok: true })

const server = http.createServer((req, res) => {
  let bytes = 0
  req.on('data', (chunk: Buffer) => (bytes += chunk.length))
  req.on('end', () => {
    if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'AuthMissing', message: 'Authentication Required' }))
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-body-bytes': String(bytes) })
    res.end(body)
  })
})
server.keepAliveTimeout = 65_000 // longer than undici keeps an idle socket
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`)
})
process.stdin.resume()
process.stdin.on('end', () => {
  server.closeAllConnections()
  server.close()
})
