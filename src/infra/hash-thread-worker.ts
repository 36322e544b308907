// The thread behind HashThread (hash-thread.ts): the SHA-256 of each session's bytes, in the
// order they were sent. Each slot comes with the bytes in it and goes back once hashed, for
// the session to fill again.
import { createHash, type Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'

export type ToHashThread =
  | { id: number; slot: ArrayBuffer; length: number }
  | { id: number; end: true }
  | { id: number; drop: true }

export type FromHashThread = { id: number; hashed: ArrayBuffer } | { id: number; digest: string }

const port = parentPort!
const hashes = new Map<number, Hash>()

port.on('message', (message: ToHashThread) => {
  const { id } = message
  if ('slot' in message) {
    let hash = hashes.get(id)
    if (hash === undefined) {
      hash = createHash('sha256')
      hashes.set(id, hash)
    }
    hash.update(new Uint8Array(message.slot, 0, message.length))
    port.postMessage({ id, hashed: message.slot } satisfies FromHashThread, [message.slot])
    return
  }
  const hash = hashes.get(id) ?? createHash('sha256')
  hashes.delete(id)
  if ('end' in message) {
    port.postMessage({ id, digest: hash.digest('hex') } satisfies FromHashThread)
  }
})
