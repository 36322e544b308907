import { createHash, type Hash } from 'node:crypto'
import { LruMap } from '../infra/lru-map.js'

/**
 * The whole-file SHA-256 of uploads in progress, as far as this process has seen their
 * bytes, keyed by upload and offset. Consecutive PATCHes on one instance (the common case)
 * finish with the hash at hand; otherwise (another instance wrote a piece, a restart, a
 * discarded checksum mismatch) the offset differs and completion reads the blob back.
 */
export class RunningHashes {
  // Bounded: a few hundred bytes per upload, and abandoned ones are simply forgotten.
  readonly #hashes = new LruMap<string, { offset: number; hash: Hash }>(10_000)

  /** A hash of the first `offset` bytes to go on with (a copy), or a fresh one at 0. */
  resume(id: string, offset: number): Hash | undefined {
    if (offset === 0) return createHash('sha256')
    const entry = this.#hashes.get(id)
    return entry?.offset === offset ? entry.hash.copy() : undefined
  }

  record(id: string, offset: number, hash: Hash): void {
    this.#hashes.set(id, { offset, hash: hash.copy() })
  }

  forget(id: string): void {
    this.#hashes.delete(id)
  }
}
