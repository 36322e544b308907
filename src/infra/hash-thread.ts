import { createHash } from 'node:crypto'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { FromHashThread, ToHashThread } from './hash-thread-worker.js'

// A session sends its bytes in slots of this size, and at most SLOTS of them wait to be
// hashed: an upload holds 512 KiB here at most, however far the thread falls behind.
const SLOT_BYTES = 128 * 1024
const SLOTS = 4
const RING_BYTES = SLOT_BYTES * SLOTS
// Rings kept for the next sessions, 8 MiB at most. With a new ring for every upload, 100
// uploads of 10 MB at once (bench/concurrent-uploads.ts) cost 8.2-8.5 s of CPU against
// 5.9-6.2 s hashed on the event loop, V8's concurrent marking threads busy throughout
// (perf); kept, 7.1 s.
const IDLE_RINGS = 16

// The worker's own file: hash-thread-worker.js in the build, .ts when run from source.
const WORKER_URL = new URL(
  `./hash-thread-worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
)

/** A SHA-256 fed piece by piece; see HashThread. */
export interface RunningDigest {
  /**
   * Takes a copy of `bytes`: the caller may reuse them at once. Undefined when there is room
   * for more now; otherwise wait for the promise before the next update.
   */
  update(bytes: Uint8Array): Promise<void> | undefined
  /** The hex digest of everything fed; rejects if the thread failed meanwhile. */
  digest(): Promise<string>
  /** Gives up: the thread forgets the session. */
  drop(): void
}

/**
 * SHA-256 on a thread of its own, so that hashing an upload does not take the event loop's
 * time: on the main thread it was 18% of the CPU a `curl -F` upload cost there, and the
 * uploads ran at 0.78× a bare server that stores the bytes, 1.12× with no hash at all
 * (bench/upload.ts, docs/benchmarks.md). One thread serves every session of the process,
 * started at the first that needs it; an idle thread keeps no process alive.
 *
 * Input below one slot is hashed here, at digest(): a small file never waits for a message.
 */
export class HashThread {
  #worker: Worker | undefined
  readonly #sessions = new Map<number, { session: OffThreadSession; ring: SharedArrayBuffer }>()
  readonly #idleRings: SharedArrayBuffer[] = []
  #lastId = 0

  begin(): RunningDigest {
    return new RunningSha256(this)
  }

  /** Stops the thread; the digests it owed reject. Another begins at the next session. */
  async close(): Promise<void> {
    await this.#worker?.terminate()
  }

  /** Registers a session: its id, and the ring it sends its bytes through. */
  open(session: OffThreadSession): { id: number; ring: Uint8Array } {
    const ring = this.#idleRings.pop() ?? new SharedArrayBuffer(RING_BYTES)
    const id = ++this.#lastId
    this.#sessions.set(id, { session, ring })
    this.#post({ id, ring })
    this.#worker!.ref()
    return { id, ring: new Uint8Array(ring) }
  }

  send(message: ToHashThread) {
    // A session dropped is forgotten at once; one ended, when its digest comes.
    if ('drop' in message) this.#forget(message.id)
    this.#post(message)
  }

  #post(message: ToHashThread) {
    this.#worker ??= this.#start()
    this.#worker.postMessage(message)
  }

  #forget(id: number) {
    const entry = this.#sessions.get(id)
    if (entry === undefined) return
    this.#sessions.delete(id)
    // Its session is done with the ring. The thread may still hash a dropped session's last
    // slots from it, while the next session writes there: that digest is never read.
    if (this.#idleRings.length < IDLE_RINGS) this.#idleRings.push(entry.ring)
    if (this.#sessions.size === 0) this.#worker?.unref()
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL)
    worker.on('message', (message: FromHashThread) => {
      const session = this.#sessions.get(message.id)?.session
      if ('hashed' in message) return session?.hashed()
      this.#forget(message.id)
      session?.settle(message.digest)
    })
    const fail = (error: Error) => {
      if (this.#worker === worker) this.#worker = undefined
      const sessions = [...this.#sessions.values()]
      this.#sessions.clear()
      for (const { session } of sessions) session.fail(error)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`The hashing thread stopped (exit code ${code})`)))
    return worker
  }
}

/** What HashThread tells a session that sent its bytes to the thread. */
interface OffThreadSession {
  /** The oldest slot sent is hashed and may be written again. */
  hashed(): void
  settle(digest: string): void
  fail(error: Error): void
}

class RunningSha256 implements RunningDigest, OffThreadSession {
  // Until a slot's worth has come, copies of the input: hashed here if no more comes.
  #head: Buffer[] | undefined = []
  #headBytes = 0
  #ring: Uint8Array | undefined
  #id = 0
  /** Where the slot being filled starts, and how much of it is filled. */
  #slot = 0
  #filled = 0
  #sent = 0
  #hashed = 0
  #failure: Error | undefined
  #room: { resolve: () => void; reject: (error: Error) => void } | undefined
  #result: { resolve: (digest: string) => void; reject: (error: Error) => void } | undefined

  constructor(private readonly thread: HashThread) {}

  update(bytes: Uint8Array): Promise<void> | undefined {
    if (this.#failure) return Promise.reject(this.#failure)
    if (this.#head) {
      if (this.#headBytes + bytes.length < SLOT_BYTES) {
        this.#head.push(Buffer.from(bytes))
        this.#headBytes += bytes.length
        return undefined
      }
      this.#moveToThread()
    }
    return this.#copy(bytes, 0)
  }

  digest(): Promise<string> {
    if (this.#head) {
      const hash = createHash('sha256')
      for (const piece of this.#head) hash.update(piece)
      this.#head = undefined
      return Promise.resolve(hash.digest('hex'))
    }
    if (this.#failure) return Promise.reject(this.#failure)
    return new Promise((resolve, reject) => {
      this.#result = { resolve, reject }
      if (this.#filled > 0) this.#sendSlot()
      this.thread.send({ id: this.#id, end: true })
    })
  }

  drop(): void {
    if (this.#id !== 0 && !this.#failure && !this.#result) {
      this.thread.send({ id: this.#id, drop: true })
    }
    this.#head = undefined
    // The ring may be another session's from now on: an update waiting for room never resumes.
    this.fail(new Error('The digest was dropped'))
  }

  hashed(): void {
    this.#hashed++
    const room = this.#room
    this.#room = undefined
    room?.resolve()
  }

  settle(digest: string): void {
    this.#result?.resolve(digest)
  }

  fail(error: Error): void {
    this.#failure = error
    this.#room?.reject(error)
    this.#result?.reject(error)
  }

  #moveToThread() {
    const { id, ring } = this.thread.open(this)
    this.#id = id
    this.#ring = ring
    const head = this.#head!
    this.#head = undefined
    for (const piece of head) this.#copy(piece, 0)
  }

  /** Copies `bytes` from `offset` on into the ring, sending each slot it fills. */
  #copy(bytes: Uint8Array, offset: number): Promise<void> | undefined {
    const ring = this.#ring!
    while (offset < bytes.length) {
      if (this.#sent - this.#hashed === SLOTS) {
        // Every slot waits to be hashed: the rest goes in once the oldest is.
        return new Promise<void>((resolve, reject) => {
          this.#room = { resolve, reject }
        }).then(() => this.#copy(bytes, offset))
      }
      const length = Math.min(bytes.length - offset, SLOT_BYTES - this.#filled)
      ring.set(bytes.subarray(offset, offset + length), this.#slot + this.#filled)
      this.#filled += length
      offset += length
      if (this.#filled === SLOT_BYTES) this.#sendSlot()
    }
    return undefined
  }

  #sendSlot() {
    this.thread.send({ id: this.#id, offset: this.#slot, length: this.#filled })
    this.#sent++
    this.#slot = (this.#slot + SLOT_BYTES) % RING_BYTES
    this.#filled = 0
  }
}

/** The process's hashing thread. */
export const hashThread = new HashThread()
