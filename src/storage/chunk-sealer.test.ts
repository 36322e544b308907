import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { newBlobKey } from './blob-key.js'
import { CHUNK_SIZE, ChunkCiphers } from './chunk-format.js'
import { ChunkSealer } from './chunk-sealer.js'

/** The format itself (chunk-format.ts), one chunk at a time: what every sealer must write. */
function reference(dataKey: Buffer, blobKey: string, plaintext: Buffer): Buffer {
  const ciphers = new ChunkCiphers(dataKey, blobKey)
  const count = Math.max(1, Math.ceil(plaintext.length / CHUNK_SIZE))
  const sealed: Buffer[] = []
  for (let index = 0; index < count; index++) {
    const cipher = ciphers.cipher(index, index === count - 1)
    const chunk = plaintext.subarray(index * CHUNK_SIZE, (index + 1) * CHUNK_SIZE)
    sealed.push(cipher.update(chunk), cipher.final(), cipher.getAuthTag())
  }
  return Buffer.concat(sealed)
}

function split(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size))
  return pieces
}

async function seal(dataKey: Buffer, blobKey: string, pieces: Buffer[]) {
  const sealer = new ChunkSealer(dataKey, blobKey)
  const sealed = Buffer.concat(await Readable.from(pieces).pipe(sealer).toArray())
  return { sealed, result: sealer.result() }
}

describe('ChunkSealer', () => {
  it('writes exactly the chunk format, however the plaintext arrives split', async () => {
    const dataKey = randomBytes(32)
    const blobKey = newBlobKey()
    for (const size of [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 3 * CHUNK_SIZE, 40 * CHUNK_SIZE + 7]) {
      const plaintext = randomBytes(size)
      const expected = reference(dataKey, blobKey, plaintext)
      // Pieces smaller than a chunk, exactly a chunk (the last one held until the input ends),
      // a chunk and a byte, and many chunks at once (sealed where they lie).
      for (const piece of [10_007, CHUNK_SIZE, CHUNK_SIZE + 1, 17 * CHUNK_SIZE + 3]) {
        const { sealed, result } = await seal(dataKey, blobKey, split(plaintext, piece))

        expect(sealed.equals(expected), `${size} bytes in pieces of ${piece}`).toBe(true)
        expect(result).toEqual({
          size,
          sha256: createHash('sha256').update(plaintext).digest('hex'),
        })
      }
    }
  })
})
