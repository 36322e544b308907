import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import type { PutResult, StoredBlob } from './blob-store.js'

/**
 * A pass-through that counts bytes and computes their SHA-256 as they flow, so every adapter
 * gets `PutResult` from the same single pass as its write. With `hash: false` it only counts
 * (see PutOptions.hash), and its result has no `sha256`.
 *
 * The counters are private fields on purpose: lib-storage's Upload sizes its body from any
 * public `size`/`length`/`byteLength` property, and a running count read at construction
 * (zero) would make it reject the upload.
 */
export class HashingMeter extends Transform {
  readonly #hash: Hash | undefined
  #bytes = 0
  #result: StoredBlob | PutResult | undefined

  constructor(options: { hash?: boolean } = {}) {
    super()
    this.#hash = options.hash === false ? undefined : createHash('sha256')
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#hash?.update(chunk)
    this.#bytes += chunk.length
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback) {
    const size = this.#bytes
    this.#result = this.#hash ? { size, sha256: this.#hash.digest('hex') } : { size }
    callback()
  }

  /** Size and digest of everything that passed; only once the input has ended. */
  result(): StoredBlob | PutResult {
    if (!this.#result) throw new Error('HashingMeter read before its input ended')
    return this.#result
  }
}
