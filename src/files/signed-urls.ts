import { type Cipheriv, createCipheriv, createHmac, timingSafeEqual } from 'node:crypto'
import { LruMap } from '../infra/lru-map.js'
import { InvalidSignatureError, SignedUrlExpiredError } from './files-errors.js'

// Expiries a verify may name: the current ones, and whatever a client sends.
const EXPIRY_CIPHERS = 64
// The form uuidBytes() reads; the download route's schema lets no other through.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// An HMAC-SHA256 in base64url, as links were signed before tags.
const LEGACY_SIGNATURE_LENGTH = 43

/**
 * Download links usable without an Authorization header, like S3 presigned URLs: the query
 * carries an expiry and a tag that only the server can compute for that file and expiry.
 *
 * The tag is AES-128 of the file id's 16 bytes, under a key derived (HMAC) from the expiry.
 * AES is a pseudorandom function on one block, so on these fixed-length messages it is a
 * MAC as sound as an HMAC, and the tags of a whole page of files come from one cipher call:
 * an HMAC each (~2.5 µs) was the most expensive part of a 50-row page left.
 * Links signed with an HMAC, before tags, still verify until they expire.
 *
 * Expiries fall on a grid of a tenth of the TTL, so every link lives 90–100% of the TTL and
 * a file keeps one URL for a while: browsers can cache the download, and a list shows each
 * file the URL it computed before. The URLs are not memoised: a memo of recent URLs, missed
 * by page after page of a long list, cost ~3 µs per file and most of that in garbage
 * collection. A page's 50 URLs took 24 µs of CPU with a cipher made for each page, the ids
 * read into a new buffer and each tag encoded on its own; with one cipher per expiry (ECB
 * carries nothing from one block to the next), one buffer for the ids and one encoding of
 * all the tags, 16 µs (bench/signed-urls.ts, the page's split included).
 */
export class SignedUrls {
  private readonly key: Buffer
  private readonly step: number
  private readonly ciphers = new LruMap<number, Cipheriv>(EXPIRY_CIPHERS)

  constructor(
    secret: string,
    private readonly baseUrl: string,
    private readonly ttlSeconds: number,
  ) {
    // A key of its own, so a signature can never be replayed as any other MAC we compute.
    this.key = createHmac('sha256', secret).update('satchel:signed-download-url').digest()
    this.step = Math.max(1, Math.floor(ttlSeconds / 10))
  }

  /** The expiry of the URLs issued now (Unix seconds); URLs change when it does. */
  currentExpiry(now = Date.now()): number {
    return Math.floor((now / 1000 + this.ttlSeconds) / this.step) * this.step
  }

  contentUrl(fileId: string, now = Date.now()): string {
    return this.contentUrls([fileId], now)[0]!
  }

  /** contentUrl() of each file, in order, tagged together. */
  contentUrls(fileIds: readonly string[], now = Date.now()): string[] {
    return this.pageUrls(fileIds, uuidBytes(fileIds), now)
  }

  /**
   * contentUrls() of ids the caller also has as bytes, 16 each in the same order (the database
   * gives a page's): reading them from the text took ~7 µs for 50.
   */
  pageUrls(fileIds: readonly string[], idBytes: Uint8Array, now = Date.now()): string[] {
    const expires = this.currentExpiry(now)
    const signatures = base64urlTags(this.tags(idBytes, expires))
    const prefix = `${this.baseUrl}/files/`
    const query = `/content?expires=${expires}&signature=`
    return fileIds.map(
      (fileId, i) =>
        `${prefix}${fileId}${query}${signatures.slice(i * TAG_STRIDE_CHARS, i * TAG_STRIDE_CHARS + TAG_CHARS)}`,
    )
  }

  verify(fileId: string, expires: number, signature: string): void {
    if (!UUID.test(fileId)) throw new InvalidSignatureError()
    const expected = Buffer.from(
      signature.length === LEGACY_SIGNATURE_LENGTH
        ? this.legacySignature(fileId, expires)
        : this.tags(uuidBytes([fileId]), expires).toString('base64url'),
    )
    const given = Buffer.from(signature)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidSignatureError()
    }
    if (expires * 1000 <= Date.now()) throw new SignedUrlExpiredError()
  }

  /** 16 bytes per file id, in order, from the ids' 16 bytes each. */
  private tags(idBytes: Uint8Array, expires: number): Buffer {
    return this.cipher(expires).update(idBytes)
  }

  private cipher(expires: number): Cipheriv {
    let cipher = this.ciphers.get(expires)
    if (cipher === undefined) {
      const key = createHmac('sha256', this.key).update(`tag key\n${expires}`).digest()
      cipher = createCipheriv('aes-128-ecb', key.subarray(0, 16), null).setAutoPadding(false)
      this.ciphers.set(expires, cipher)
    }
    return cipher
  }

  private legacySignature(fileId: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${fileId}\n${expires}`).digest('base64url')
  }
}

// A hex digit's value from its character code, either case.
const hexValue = (code: number) => (code & 0xf) + (code >> 6) * 9
// Where each byte's two hex digits start in a UUID's text, past its dashes.
const HEX_PAIRS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]

// A page has at most 1000 files (the list route's limit), and one more is read for the cursor.
let idBytes = new Uint8Array(16 * 1024)

/**
 * The 16 bytes of each UUID, in order, read straight into one buffer that every call reuses:
 * joining the ids and removing their dashes to decode the text made ~15 KiB of garbage per
 * page of 50. The cipher copies what it reads, so the next call may overwrite it.
 */
function uuidBytes(ids: readonly string[]): Uint8Array {
  if (idBytes.length < ids.length * 16) idBytes = new Uint8Array(ids.length * 16)
  const bytes = idBytes
  let at = 0
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!
    for (let k = 0; k < 16; k++) {
      const i = HEX_PAIRS[k]!
      bytes[at++] = (hexValue(id.charCodeAt(i)) << 4) | hexValue(id.charCodeAt(i + 1))
    }
  }
  return bytes.subarray(0, at)
}

// A tag's 16 bytes followed by two zero bytes are 24 base64url characters: the tag's own 22,
// then "AA". So the tags of a page, laid 18 bytes apart, encode in one call, each tag's text
// a slice of the whole, rather than in a call of their own each.
const TAG_BYTES = 16
const TAG_CHARS = 22
const TAG_STRIDE_BYTES = 18
const TAG_STRIDE_CHARS = 24

function base64urlTags(tags: Uint8Array): string {
  const spaced = Buffer.alloc((tags.length / TAG_BYTES) * TAG_STRIDE_BYTES)
  for (let from = 0, to = 0; from < tags.length; to += TAG_STRIDE_BYTES - TAG_BYTES) {
    for (const end = from + TAG_BYTES; from < end; ) spaced[to++] = tags[from++]!
  }
  return spaced.toString('base64url')
}
