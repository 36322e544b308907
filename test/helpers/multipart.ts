import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'

export type Part =
  | { name: string; value: string }
  | { name: string; filename: string; contentType?: string; body: Buffer | Readable }

/** A multipart/form-data body as a stream, so large files are never held in memory. */
export function multipartBody(parts: Part[]): { boundary: string; stream: Readable } {
  const boundary = `----satchel${randomBytes(12).toString('hex')}`
  async function* generate() {
    for (const part of parts) {
      if ('value' in part) {
        yield `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`
        continue
      }
      yield `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n`
      yield `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`
      if (Buffer.isBuffer(part.body)) yield part.body
      else yield* part.body
      yield '\r\n'
    }
    yield `--${boundary}--\r\n`
  }
  return { boundary, stream: Readable.from(generate()) }
}

export interface HttpResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  json<T = Record<string, unknown>>(): T
}

/** Sends a request over real HTTP, streaming `body`. */
export function httpRequest(
  url: string,
  options: {
    method?: string
    headers?: Record<string, string>
    body?: Readable | Buffer | string
  } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString()),
          })
        })
      },
    )
    req.on('error', reject)
    const { body } = options
    if (body instanceof Readable) body.pipe(req)
    else req.end(body)
  })
}

/** Uploads parts to a running server's POST /upload. */
export function upload(
  baseUrl: string,
  token: string,
  parts: Part[],
  query = '',
): Promise<HttpResult> {
  const { boundary, stream } = multipartBody(parts)
  return httpRequest(`${baseUrl}/upload${query}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    },
    body: stream,
  })
}

/** A stream of `size` pseudo-random bytes, produced lazily, with the sha256 it will have. */
export function generatedBytes(size: number, chunkSize = 1024 * 1024): Readable {
  let sent = 0
  const chunk = randomBytes(chunkSize)
  return new Readable({
    read() {
      if (sent >= size) return this.push(null)
      const n = Math.min(chunkSize, size - sent)
      // Vary each chunk cheaply so content is not periodic.
      const out = Buffer.from(chunk.subarray(0, n))
      if (n >= 4) out.writeUInt32BE(sent >>> 0, 0)
      sent += n
      this.push(out)
    },
  })
}
