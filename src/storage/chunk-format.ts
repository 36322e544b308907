import { type CipherGCM, createCipheriv, createDecipheriv, type DecipherGCM } from 'node:crypto'
import type { ByteRange } from './blob-store.js'

/**
 * An encrypted blob is a run of chunks, each `AES-256-GCM(data key, plaintext) ‖ 16-byte tag`.
 * Every chunk but the last holds exactly `chunkSize` plaintext bytes; the last holds the rest,
 * and an empty blob still has one (empty) last chunk, so truncation to nothing is detected.
 */
export const CHUNK_SIZE = 64 * 1024
export const TAG_BYTES = 16

export interface ChunkLayout {
  chunkSize: number
  /** Plaintext bytes. */
  size: number
}

export function chunkCount({ chunkSize, size }: ChunkLayout): number {
  return Math.max(1, Math.ceil(size / chunkSize))
}

/** Bytes an encrypted blob of `size` plaintext bytes occupies in the inner store. */
export function encryptedSize(size: number, chunkSize = CHUNK_SIZE): number {
  return size + chunkCount({ chunkSize, size }) * TAG_BYTES
}

/** Which chunks a read needs, and which of their plaintext bytes it keeps. */
export interface ReadPlan {
  first: number
  last: number
  /** The inner store's bytes holding chunks `first`..`last`; undefined for a whole read. */
  cipherRange?: ByteRange
  /** Plaintext bytes of chunk `first` to drop. */
  skip: number
  /** Plaintext bytes to keep after those. */
  take: number
}

/**
 * A range past the end is clamped, as the plain stores do; one wholly past it still reads the
 * last chunk, so a missing or damaged blob is reported rather than answered with nothing.
 */
export function planRead(layout: ChunkLayout, range?: ByteRange): ReadPlan {
  const count = chunkCount(layout)
  if (!range) return { first: 0, last: count - 1, skip: 0, take: layout.size }
  const { chunkSize, size } = layout
  const first = Math.min(Math.floor(range.start / chunkSize), count - 1)
  const last = Math.min(Math.floor(range.end / chunkSize), count - 1)
  const stride = chunkSize + TAG_BYTES
  const end = Math.min((last + 1) * stride, encryptedSize(size, chunkSize)) - 1
  return {
    first,
    last,
    cipherRange: { start: first * stride, end },
    skip: range.start - first * chunkSize,
    take: Math.max(0, Math.min(range.end, size - 1) - range.start + 1),
  }
}

/**
 * Ciphers for the chunks of one blob. The nonce is the chunk index, which is unique because
 * every blob has its own data key. The AAD binds the blob key, the index and whether this
 * is the last chunk, so chunks cannot be reordered, moved between blobs, dropped or added.
 */
export class ChunkCiphers {
  readonly #dataKey: Buffer
  readonly #nonce = Buffer.alloc(12)
  readonly #aad: Buffer
  readonly #position: number

  constructor(dataKey: Buffer, blobKey: string) {
    this.#dataKey = dataKey
    const prefix = Buffer.from(`satchel chunk v1\0${blobKey}\0`)
    // 8-byte index and 1-byte last-chunk flag, rewritten in place for each chunk.
    this.#aad = Buffer.concat([prefix, Buffer.alloc(9)])
    this.#position = prefix.length
  }

  cipher(index: number, last: boolean): CipherGCM {
    this.#describe(index, last)
    return createCipheriv('aes-256-gcm', this.#dataKey, this.#nonce).setAAD(this.#aad)
  }

  decipher(index: number, last: boolean, tag: Buffer): DecipherGCM {
    this.#describe(index, last)
    return createDecipheriv('aes-256-gcm', this.#dataKey, this.#nonce)
      .setAAD(this.#aad)
      .setAuthTag(tag)
  }

  // Safe to reuse the buffers: createCipheriv and setAAD copy what they are given.
  #describe(index: number, last: boolean) {
    const high = Math.floor(index / 2 ** 32)
    const low = index >>> 0
    this.#nonce.writeUInt32BE(high, 4)
    this.#nonce.writeUInt32BE(low, 8)
    this.#aad.writeUInt32BE(high, this.#position)
    this.#aad.writeUInt32BE(low, this.#position + 4)
    this.#aad.writeUInt8(last ? 1 : 0, this.#position + 8)
  }
}
