import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'

export type ProxyMode = 'pass' | 'error' | 'reset' | 'stall'

/**
 * An HTTP proxy in front of a server (s3rver) that can be told to fail: answer 503, reset
 * every connection, or stall (read each request, forward nothing, never answer). For fault
 * tests of the S3 driver.
 */
export async function startFlakyProxy(target: string) {
  let mode: ProxyMode = 'pass'
  let failed: string[] = []
  const upstream = new URL(target)
  const server = createServer((req, res) => {
    if (mode !== 'pass') failed.push(`${req.method} ${req.url}`)
    if (mode === 'reset') return req.socket.destroy()
    // Reading the body keeps the client from blocking on a full socket buffer: it sends the
    // whole request and then waits on a silent peer, which is what its idle timeout is for.
    if (mode === 'stall') return void req.resume()
    if (mode === 'error') {
      req.resume()
      res.writeHead(503, { 'content-type': 'application/xml' })
      return res.end('<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>')
    }
    const forward = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
        upstreamRes.pipe(res)
      },
    )
    forward.on('error', () => res.destroy())
    req.pipe(forward)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    setMode(next: ProxyMode) {
      mode = next
      failed = []
    },
    /** `METHOD url` of each request failed since the mode was last set, oldest first. */
    failedRequests: () => [...failed],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
