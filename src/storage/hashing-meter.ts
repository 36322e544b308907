import { Transform, type TransformCallback } from 'node:stream'
import { hashThread, type RunningDigest } from '../infra/hash-thread.js'
import type { PutResult, StoredBlob } from './blob-store.js'

/**
 * A pass-through that counts bytes and computes their SHA-256 as they flow, so every adapter
 * gets `PutResult` from the same single pass as its write. The hashing runs on the hashing
 * thread (infra/hash-thread.ts), beside the write rather than before it. With `hash: false`
 * it only counts (see PutOptions.hash), and its result has no `sha256`.
 *
 * The counters are private fields on purpose: lib-storage's Upload sizes its body from any
 * public `size`/`length`/`byteLength` property, and a running count read at construction
 * (zero) would make it reject the upload.
 */
export class HashingMeter extends Transform {
  readonly #hash: RunningDigest | undefined
  #bytes = 0
  #result: StoredBlob | PutResult | undefined

  constructor(options: { hash?: boolean } = {}) {
    super()
    this.#hash = options.hash === false ? undefined : hashThread.begin()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#bytes += chunk.length
    const room = this.#hash?.update(chunk)
    if (room) room.then(() => callback(null, chunk), callback)
    else callback(null, chunk)
  }

  override _flush(callback: TransformCallback) {
    settleMeasure(this.#bytes, this.#hash, callback, (result) => {
      this.#result = result
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    if (!this.#result) this.#hash?.drop()
    callback(error)
  }

  /** Size and digest of everything that passed; only once the input has ended. */
  result(): StoredBlob | PutResult {
    if (!this.#result) throw new Error('HashingMeter read before its input ended')
    return this.#result
  }
}

/**
 * Ends a stream that measured its input: `keep` gets the size, with the digest once the hashing
 * thread gives it (none without `hash`), then `callback` is called; or `callback` gets the
 * failure.
 */
export function settleMeasure(
  size: number,
  hash: RunningDigest | undefined,
  callback: TransformCallback,
  keep: (result: { size: number; sha256?: string }) => void,
) {
  if (!hash) {
    keep({ size })
    return callback()
  }
  hash.digest().then((sha256) => {
    keep({ size, sha256 })
    callback()
  }, callback)
}
