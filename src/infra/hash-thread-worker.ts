// The thread behind HashThread (hash-thread.ts): the SHA-256 of each session's bytes, read
// from the memory the session shares with it, in the order they were sent. Each piece is
// acknowledged once hashed, so its memory may be written again.
import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

export type ToHashThread =
  | { id: number; ring: SharedArrayBuffer }
  | { id: number; offset: number; length: number }
  | { id: number; end: true }
  | { id: number; drop: true }

export type FromHashThread = { id: number; hashed: true } | { id: number; digest: string }

const port = parentPort!
const sessions = new Map<number, { ring: SharedArrayBuffer; hash: Hash }>()

port.on('message', (message: ToHashThread) => {
  const { id } = message
  if ('ring' in message) {
    sessions.set(id, { ring: message.ring, hash: createHash('sha256') })
    return
  }
  const session = sessions.get(id)
  if (session === undefined) return
  if ('offset' in message) {
    session.hash.update(new Uint8Array(session.ring, message.offset, message.length))
    port.postMessage({ id, hashed: true } satisfies FromHashThread)
    return
  }
  sessions.delete(id)
  if ('end' in message) {
    port.postMessage({ id, digest: session.hash.digest('hex') } satisfies FromHashThread)
  }
})
