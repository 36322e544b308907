import { Transform, type TransformCallback } from 'node:stream'
import { hashThread, type RunningDigest } from '../infra/hash-thread.js'
import type { PutResult, StoredBlob } from './blob-store.js'

/**
 * The size and SHA-256 of the bytes a transform passes on, for HashingMeter and ChunkSealer.
 * The hashing runs on the hashing thread (infra/hash-thread.ts), beside the write rather than
 * before it; without `hash` (see PutOptions.hash) only the size is counted.
 */
export class StreamMeasure {
  readonly #hash: RunningDigest | undefined
  #size = 0
  #result: StoredBlob | PutResult | undefined

  constructor(hash: boolean) {
    this.#hash = hash ? hashThread.begin() : undefined
  }

  /**
   * Counts `chunk` and hands it to the thread; `done` is to be called once the transform is
   * through with it, and runs when the thread has room for more (or fails if it stopped).
   */
  add(chunk: Buffer): (done: TransformCallback, output?: Buffer) => void {
    this.#size += chunk.length
    const room = this.#hash?.update(chunk)
    if (!room) return (done, output) => done(null, output)
    return (done, output) => void room.then(() => done(null, output), done)
  }

  /** After the last chunk: the result is kept, then `callback` is called, or given the failure. */
  end(callback: TransformCallback) {
    const size = this.#size
    if (!this.#hash) {
      this.#result = { size }
      return callback()
    }
    this.#hash.digest().then((sha256) => {
      this.#result = { size, sha256 }
      callback()
    }, callback)
  }

  /** The transform was destroyed: a digest not asked for is dropped, or the thread keeps it. */
  abandon() {
    if (!this.#result) this.#hash?.drop()
  }

  /** Size and digest of everything that passed; only once the input has ended. */
  result(owner: string): StoredBlob | PutResult {
    if (!this.#result) throw new Error(`${owner} read before its input ended`)
    return this.#result
  }
}

/**
 * A pass-through that counts bytes and computes their SHA-256 as they flow, so every adapter
 * gets `PutResult` from the same single pass as its write (see StreamMeasure). With
 * `hash: false` it only counts (see PutOptions.hash), and its result has no `sha256`.
 *
 * The measure is a private field on purpose: lib-storage's Upload sizes its body from any
 * public `size`/`length`/`byteLength` property, and a running count read at construction
 * (zero) would make it reject the upload.
 */
export class HashingMeter extends Transform {
  readonly #measure: StreamMeasure

  constructor(options: { hash?: boolean } = {}) {
    super()
    this.#measure = new StreamMeasure(options.hash !== false)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#measure.add(chunk)(callback, chunk)
  }

  override _flush(callback: TransformCallback) {
    this.#measure.end(callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    this.#measure.abandon()
    callback(error)
  }

  /** Size and digest of everything that passed; only once the input has ended. */
  result(): StoredBlob | PutResult {
    return this.#measure.result('HashingMeter')
  }
}
