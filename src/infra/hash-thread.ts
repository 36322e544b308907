import { createHash } from 'node:crypto'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { FromHashThread, ToHashThread } from './hash-thread-worker.js'

// A session sends its bytes in slots of this size, and at most SLOTS of them are away at the
// thread: an upload holds 512 KiB here at most, however far the thread falls behind.
const SLOT_BYTES = 128 * 1024
const SLOTS = 4
// Slots kept for the next sessions, 8 MiB at most. With new memory for every upload, 100
// uploads of 10 MB at once (bench/concurrent-uploads.ts) cost 8.2-8.5 s of CPU against
// 5.9-6.2 s hashed on the event loop, V8's concurrent marking threads busy throughout
// (perf); kept, 7.1 s (as shared rings), 6.6 s (as these slots).
const IDLE_SLOTS = 64

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
 *
 * A slot is plain memory handed to the thread and back (transferred, not copied). Shared
 * memory (a SharedArrayBuffer ring) cost more to write than the hash it saved: V8 copies
 * into shared memory with relaxed atomic moves, not memcpy, and `relaxed_memmove` took 9%
 * of an upload's CPU samples (perf, 1 GiB `curl -F`). Transferred slots: 4.41 -> 3.52-3.71 s
 * of CPU per GiB, 294 -> 333-360 MB/s (bench/upload.ts, alternated with the old code).
 */
export class HashThread {
  #worker: Worker | undefined
  readonly #sessions = new Map<number, OffThreadSession>()
  readonly #idleSlots: ArrayBuffer[] = []
  #lastId = 0

  begin(): RunningDigest {
    return new RunningSha256(this)
  }

  /** Stops the thread; the digests it owed reject. Another begins at the next session. */
  async close(): Promise<void> {
    await this.#worker?.terminate()
  }

  /** Registers a session; returns its id. */
  open(session: OffThreadSession): number {
    const id = ++this.#lastId
    this.#sessions.set(id, session)
    this.#worker ??= this.#start()
    this.#worker.ref()
    return id
  }

  /** Memory for one slot: a slot a session no longer needs, or a new one. */
  slot(): ArrayBuffer {
    return this.#idleSlots.pop() ?? new ArrayBuffer(SLOT_BYTES)
  }

  /** Keeps a slot for the next sessions. */
  recycle(slot: ArrayBuffer) {
    if (this.#idleSlots.length < IDLE_SLOTS) this.#idleSlots.push(slot)
  }

  /** Hands a slot's first `length` bytes to the thread: the slot is the thread's until hashed. */
  hash(id: number, slot: ArrayBuffer, length: number) {
    this.#post({ id, slot, length }, [slot])
  }

  send(message: Exclude<ToHashThread, { slot: ArrayBuffer }>) {
    // A session dropped is forgotten at once; one ended, when its digest comes.
    if ('drop' in message) this.#forget(message.id)
    this.#post(message)
  }

  #post(message: ToHashThread, transfer: ArrayBuffer[] = []) {
    this.#worker ??= this.#start()
    this.#worker.postMessage(message, transfer)
  }

  #forget(id: number) {
    if (!this.#sessions.delete(id)) return
    if (this.#sessions.size === 0) this.#worker?.unref()
  }

  #start(): Worker {
    const worker = new Worker(WORKER_URL)
    worker.on('message', (message: FromHashThread) => {
      const session = this.#sessions.get(message.id)
      if ('hashed' in message) {
        // A dropped session's slots come back too, once the thread has done with them.
        if (session) session.hashed(message.hashed)
        else this.recycle(message.hashed)
        return
      }
      this.#forget(message.id)
      session?.settle(message.digest)
    })
    const fail = (error: Error) => {
      if (this.#worker === worker) this.#worker = undefined
      const sessions = [...this.#sessions.values()]
      this.#sessions.clear()
      for (const session of sessions) session.fail(error)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`The hashing thread stopped (exit code ${code})`)))
    return worker
  }
}

/** What HashThread tells a session that sent its bytes to the thread. */
interface OffThreadSession {
  /** The oldest slot sent is hashed: the thread gives it back. */
  hashed(slot: ArrayBuffer): void
  settle(digest: string): void
  fail(error: Error): void
}

class RunningSha256 implements RunningDigest, OffThreadSession {
  // Until a slot's worth has come, copies of the input: hashed here if no more comes.
  #head: Buffer[] | undefined = []
  #headBytes = 0
  #id = 0
  /** The slot being filled, and how much of it is. */
  #slot: Uint8Array | undefined
  #filled = 0
  /** Slots the thread gave back, to fill again. */
  readonly #free: ArrayBuffer[] = []
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
    this.fail(new Error('The digest was dropped'))
  }

  hashed(slot: ArrayBuffer): void {
    this.#hashed++
    this.#free.push(slot)
    const room = this.#room
    this.#room = undefined
    room?.resolve()
  }

  settle(digest: string): void {
    this.#recycle()
    this.#result?.resolve(digest)
  }

  fail(error: Error): void {
    this.#failure = error
    this.#recycle()
    this.#room?.reject(error)
    this.#result?.reject(error)
  }

  #moveToThread() {
    this.#id = this.thread.open(this)
    const head = this.#head!
    this.#head = undefined
    for (const piece of head) this.#copy(piece, 0)
  }

  /** Copies `bytes` from `offset` on into slots, sending each one it fills. */
  #copy(bytes: Uint8Array, offset: number): Promise<void> | undefined {
    while (offset < bytes.length) {
      if (this.#slot === undefined) {
        if (this.#sent - this.#hashed === SLOTS) {
          // Every slot is away at the thread: the rest goes in once the oldest comes back.
          return new Promise<void>((resolve, reject) => {
            this.#room = { resolve, reject }
          }).then(() => this.#copy(bytes, offset))
        }
        this.#slot = new Uint8Array(this.#free.pop() ?? this.thread.slot())
      }
      const length = Math.min(bytes.length - offset, SLOT_BYTES - this.#filled)
      this.#slot.set(bytes.subarray(offset, offset + length), this.#filled)
      this.#filled += length
      offset += length
      if (this.#filled === SLOT_BYTES) this.#sendSlot()
    }
    return undefined
  }

  #sendSlot() {
    this.thread.hash(this.#id, this.#slot!.buffer as ArrayBuffer, this.#filled)
    this.#sent++
    this.#slot = undefined
    this.#filled = 0
  }

  /** Gives the slots this session holds to the next ones; those at the thread come back there. */
  #recycle() {
    for (const slot of this.#free.splice(0)) this.thread.recycle(slot)
    if (this.#slot) this.thread.recycle(this.#slot.buffer as ArrayBuffer)
    this.#slot = undefined
    this.#filled = 0
  }
}

/** The process's hashing thread. */
export const hashThread = new HashThread()
