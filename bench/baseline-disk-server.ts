/**
 * The floor Satchel's uploads are measured against: the least a Node server can do to store
 * an upload durably, which is stream the body to a file and fdatasync it before answering.
 * It runs in its own process so its RSS can be sampled the way Satchel's is.
 *
 * Started by bench/upload.ts as `node --import tsx bench/baseline-disk-server.ts` with
 * BENCH_DIR set; prints `listening <port>` once it accepts connections.
 */
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'

const dir = process.env.BENCH_DIR
if (!dir) throw new Error('BENCH_DIR is required')

const server = createServer(async (req, res) => {
  try {
    const path = join(dir, randomUUID())
    const handle = await open(path, 'wx')
    let size: number
    try {
      // The stream must not close the descriptor: fdatasync needs it after the last write.
      const file = createWriteStream(path, { fd: handle.fd, autoClose: false })
      await pipeline(req, file)
      await handle.datasync()
      size = file.bytesWritten
    } finally {
      await handle.close()
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ size }))
  } catch (error) {
    if (!res.headersSent) res.writeHead(500).end(String(error))
  }
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(`listening ${port}\n`)
})
