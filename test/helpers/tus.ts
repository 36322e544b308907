import { createHash } from 'node:crypto'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import type { App } from '../../src/http/types.js'
import type { TestUser } from './accounts.js'

export const TUS = { 'tus-resumable': '1.0.0' }
export const OCTETS = { 'content-type': 'application/offset+octet-stream' }

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** Upload-Metadata from plain values. */
export function tusMetadata(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`)
    .join(',')
}

/** A tus upload created with plain requests; resolves to its id. */
export async function createTusUpload(
  app: App,
  user: TestUser,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/uploads',
    headers: {
      ...user.auth,
      ...TUS,
      'upload-metadata': tusMetadata({ filename: 'a.bin' }),
      ...headers,
    },
  })
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`)
  return String(res.headers.location).split('/').pop()!
}

export function patchTus(
  app: App,
  user: TestUser,
  id: string,
  offset: number,
  body: Buffer,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'PATCH',
    url: `/uploads/${id}`,
    headers: { ...user.auth, ...TUS, ...OCTETS, 'upload-offset': String(offset), ...headers },
    payload: body,
  })
}

export async function headTus(app: App, user: TestUser, id: string) {
  return app.inject({ method: 'HEAD', url: `/uploads/${id}`, headers: { ...user.auth, ...TUS } })
}

/**
 * A TCP proxy in front of a server that counts the bytes clients send through it, and can
 * cut every connection once `cutAfter` bytes have passed (a dropped network mid-upload).
 */
export async function startCountingProxy(target: number) {
  let sent = 0
  let cutAfter = Number.POSITIVE_INFINITY
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1')
    sockets.add(client).add(upstream)
    const cut = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length
      if (sent >= cutAfter) {
        cutAfter = Number.POSITIVE_INFINITY
        cut()
        return
      }
      if (!upstream.write(chunk)) client.pause()
    })
    upstream.on('drain', () => client.resume())
    upstream.pipe(client)
    client.on('close', cut)
    upstream.on('close', cut)
    client.on('error', cut)
    upstream.on('error', cut)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => sent,
    /** Cuts every connection once `bytes` more have gone through. */
    cutAfter(bytes: number) {
      cutAfter = sent + bytes
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
