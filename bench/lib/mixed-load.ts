import { randomBytes } from 'node:crypto'
import { Agent } from 'node:http'
import { multipartBuffer, multipartUpload, post, send } from './http.js'
import { VOCABULARY } from './seed.js'

/** Same seed, same sequence of operations: runs of the load compare. */
export function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface MixedLoadOptions {
  url: string
  /** `Authorization` header values, one per user; each worker acts as one of them. */
  users: readonly string[]
  seconds: number
  /** Operations in flight at once. */
  workers: number
  seed: number
}

export interface MixedLoadResult {
  operations: Map<string, number>
  /** Requests that failed: an unexpected status, wrong length or a network error. */
  failures: string[]
  seconds: number
}

interface StoredFile {
  id: string
  size: number
}

const MiB = 1024 * 1024
const TIMEOUT_MS = 120_000
const TYPES = ['image', 'video', 'audio', 'document', 'archive', 'text/plain', 'application/pdf']
const SORTS = ['created_at', 'name', 'size'] as const
const EXTENSIONS = ['pdf', 'jpg', 'png', 'txt', 'mp4', 'zip', 'csv', 'docx', 'mp3', 'bin']

/**
 * What a busy instance serves besides list pages: uploads (1 KiB to 4 MiB, now and then
 * 32 MiB), ranged and whole downloads, searches with varied filters and sorts, metadata
 * reads and deletes, from several users at once. Every answer is checked. Runs for
 * `seconds`, then waits for the operations in flight.
 */
export async function mixedLoad(options: MixedLoadOptions): Promise<MixedLoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.workers })
  const operations = new Map<string, number>()
  const failures: string[] = []
  const deadline = performance.now() + options.seconds * 1000
  const started = performance.now()

  const worker = async (index: number) => {
    const random = mulberry32(options.seed + index)
    const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!
    const authorization = options.users[index % options.users.length]!
    // A worker's own files: another worker of the same user never deletes one under it.
    const mine: StoredFile[] = []
    const get = (path: string, headers: Record<string, string> = {}) =>
      send(`${options.url}${path}`, {
        headers: { authorization, ...headers },
        agent,
        timeoutMs: TIMEOUT_MS,
      })
    const expect = (operation: string, ok: boolean, detail: string) => {
      operations.set(operation, (operations.get(operation) ?? 0) + 1)
      if (!ok && failures.length < 20) failures.push(`${operation}: ${detail}`)
    }

    const upload = async () => {
      const big = random() < 0.05
      const bytes = big ? 32 * MiB : Math.floor(1024 * 4096 ** random())
      const name = `${pick(VOCABULARY)}_${pick(VOCABULARY)}_${Math.floor(random() * 1e4)}.${pick(EXTENSIONS)}`
      const { contentType, length, body } = big
        ? multipartUpload(bytes, name)
        : multipartBuffer(randomBytes(bytes), name)
      const headers = { authorization, 'content-type': contentType, 'content-length': `${length}` }
      const reply = Buffer.isBuffer(body)
        ? await send(`${options.url}/upload`, {
            method: 'POST',
            headers,
            body,
            agent,
            timeoutMs: TIMEOUT_MS,
          }).then((r) => ({ status: r.status, text: r.body.toString() }))
        : await post(`${options.url}/upload`, headers, body, TIMEOUT_MS)
      expect('upload', reply.status === 201, `${reply.status} ${reply.text.slice(0, 200)}`)
      if (reply.status === 201) {
        const stored = JSON.parse(reply.text) as StoredFile | { items: StoredFile[] }
        mine.push(...('items' in stored ? stored.items : [stored]))
      }
    }

    const range = async (file: StoredFile) => {
      const length = Math.min(file.size, 1 + Math.floor(random() * MiB))
      const start = Math.floor(random() * (file.size - length + 1))
      const reply = await get(`/files/${file.id}/content`, {
        range: `bytes=${start}-${start + length - 1}`,
      })
      expect('range', reply.status === 206 && reply.body.length === length, `${reply.status}`)
    }

    const download = async (file: StoredFile) => {
      const reply = await get(`/files/${file.id}/content`)
      expect('download', reply.status === 200 && reply.body.length === file.size, `${reply.status}`)
    }

    const search = async () => {
      const query = new URLSearchParams({ q: pick(VOCABULARY), limit: '50' })
      if (random() < 0.5) query.set('type', pick(TYPES))
      if (random() < 0.3) query.set('min_size', `${Math.floor(random() * MiB)}`)
      query.set('sort', pick(SORTS))
      query.set('order', random() < 0.5 ? 'asc' : 'desc')
      const reply = await get(`/search?${query}`)
      expect(
        'search',
        reply.status === 200,
        `${reply.status} ${reply.body.toString().slice(0, 200)}`,
      )
    }

    const list = async () => {
      const reply = await get(`/files?limit=50&sort=${pick(SORTS)}`)
      expect('list', reply.status === 200, `${reply.status}`)
    }

    const metadata = async (file: StoredFile) => {
      const reply = await get(`/files/${file.id}`)
      expect('metadata', reply.status === 200, `${reply.status}`)
    }

    const remove = async () => {
      const [file] = mine.splice(Math.floor(random() * mine.length), 1)
      const reply = await send(`${options.url}/files/${file!.id}`, {
        method: 'DELETE',
        headers: { authorization },
        agent,
        timeoutMs: TIMEOUT_MS,
      })
      expect('delete', reply.status === 204, `${reply.status}`)
    }

    while (performance.now() < deadline) {
      const roll = random()
      const some = mine.filter((file) => file.size > 0)
      try {
        if (!some.some((file) => file.size <= 4 * MiB) || roll < 0.25) await upload()
        else if (roll < 0.45) await range(pick(some))
        else if (roll < 0.5) await download(pick(some.filter((f) => f.size <= 4 * MiB)))
        else if (roll < 0.7) await search()
        else if (roll < 0.8) await list()
        else if (roll < 0.88) await metadata(pick(some))
        else if (mine.length > 10) await remove()
        else await upload()
      } catch (error) {
        expect('network error', false, (error as Error).message)
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: options.workers }, (_, i) => worker(i)))
  } finally {
    agent.destroy()
  }
  return { operations, failures, seconds: (performance.now() - started) / 1000 }
}
