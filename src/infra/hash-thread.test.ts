import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { HashThread, type RunningDigest } from './hash-thread.js'

const KiB = 1024
const SLOT = 128 * KiB

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** Feeds `bytes` in pieces of the given sizes, in turn, waiting whenever the digest asks. */
async function feed(digest: RunningDigest, bytes: Buffer, sizes: number[]) {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const end = Math.min(bytes.length, at + sizes[i % sizes.length]!)
    await digest.update(bytes.subarray(at, end))
    at = end
  }
  return digest.digest()
}

describe('HashThread', () => {
  let thread = new HashThread()
  afterEach(async () => {
    await thread.close()
    thread = new HashThread()
  })

  it.each([0, 1, SLOT - 1, SLOT, SLOT + 1, 4 * SLOT, 5 * 1024 * KiB + 3])(
    'gives the SHA-256 of %i bytes fed in uneven pieces',
    async (size) => {
      const bytes = randomBytes(size)
      expect(await feed(thread.begin(), bytes, [1, 64 * KiB + 7, 300 * KiB, 13])).toBe(
        sha256(bytes),
      )
    },
  )

  it('keeps concurrent sessions apart', async () => {
    const inputs = Array.from({ length: 20 }, (_, i) => randomBytes(SLOT * 2 + i * 1000))
    const digests = await Promise.all(
      inputs.map((bytes, i) => feed(thread.begin(), bytes, [17 * KiB + i, 100 * KiB])),
    )
    expect(digests).toEqual(inputs.map(sha256))
  })

  it('copies what it is given: the caller may overwrite it at once', async () => {
    const digest = thread.begin()
    const piece = Buffer.alloc(100 * KiB)
    const whole: Buffer[] = []
    for (let i = 0; i < 12; i++) {
      piece.fill(i)
      whole.push(Buffer.from(piece))
      await digest.update(piece)
    }
    expect(await digest.digest()).toBe(sha256(Buffer.concat(whole)))
  })

  it('holds at most four slots of 128 KiB: a fifth waits for the thread to hash one', async () => {
    const digest = thread.begin()
    const bytes = randomBytes(5 * SLOT)
    // No reply from the thread can arrive while this runs without yielding.
    const answers = [0, 1, 2, 3, 4].map((i) =>
      digest.update(bytes.subarray(i * SLOT, (i + 1) * SLOT)),
    )
    expect(answers.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined])
    expect(answers[4]).toBeInstanceOf(Promise)
    await answers[4]
    expect(await digest.digest()).toBe(sha256(bytes))
  })

  it('rejects the digests it owes when the thread stops; the next starts another', async () => {
    const digest = thread.begin()
    digest.update(randomBytes(2 * SLOT))
    const owed = digest.digest()
    await thread.close()
    await expect(owed).rejects.toThrow(/hashing thread stopped/)
    const bytes = randomBytes(3 * SLOT)
    expect(await feed(thread.begin(), bytes, [SLOT])).toBe(sha256(bytes))
  })

  it('hashes right in slots a dropped session left, still queued at the thread', async () => {
    const dropped = thread.begin()
    dropped.update(randomBytes(3 * SLOT))
    dropped.drop()
    const bytes = randomBytes(3 * SLOT)
    expect(await feed(thread.begin(), bytes, [50 * KiB])).toBe(sha256(bytes))
  })

  it('writes nothing more once dropped, not even an update that was waiting for room', async () => {
    const dropped = thread.begin()
    const answers = [0, 1, 2, 3, 4].map(() => dropped.update(randomBytes(SLOT)))
    dropped.drop()
    // Its slots go to the next session: resuming would write into them.
    await expect(answers[4]).rejects.toThrow(/dropped/)
    const bytes = randomBytes(6 * SLOT)
    expect(await feed(thread.begin(), bytes, [SLOT])).toBe(sha256(bytes))
  })
})
