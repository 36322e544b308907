/**
 * The floor Satchel's ranged downloads are measured against: node:http serving one file from
 * disk with fs.createReadStream({ start, end }) for a single `Range: bytes=a-b`, and nothing
 * else (no authentication, metadata lookup, ETag or framework). It runs in its own process,
 * as Satchel does.
 *
 * Started by bench/ranges.ts as `node --import tsx bench/baseline-range-server.ts` with
 * BENCH_FILE set; prints `listening <port>` once it accepts connections.
 */
import { createReadStream, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { pipeline } from 'node:stream/promises'

const path = process.env.BENCH_FILE
if (!path) throw new Error('BENCH_FILE is required')
const size = statSync(path).size

const server = createServer((req, res) => {
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
  const start = match ? Number(match[1]) : 0
  const end = match ? Math.min(Number(match[2]), size - 1) : size - 1
  if (start > end) {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end()
    return
  }
  res.writeHead(match ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(end - start + 1),
    ...(match ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
  })
  pipeline(createReadStream(path, { start, end }), res).catch(() => res.destroy())
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(`listening ${port}\n`)
})
