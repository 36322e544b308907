import { InvalidTusRequestError, UnsupportedChecksumError } from './uploads-errors.js'

export const TUS_VERSION = '1.0.0'
export const TUS_EXTENSIONS = [
  'creation',
  'creation-with-upload',
  'creation-defer-length',
  'termination',
  'expiration',
  'checksum',
  'concatenation',
].join(',')
export const CHECKSUM_ALGORITHMS = ['sha1', 'sha256'] as const
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number]

const KIB64 = 64 * 1024
const DEFAULT_BLOCK_BYTES = 8 * 1024 * 1024
// S3's smallest part but the last.
const MIN_BLOCK_BYTES = 5 * 1024 * 1024
// S3 allows 10,000 parts per multipart upload; each block is one part.
const MAX_BLOCKS = 10_000

/**
 * 8 MiB, or the multiple of 64 KiB that keeps `maxLength` within S3's part count. Given the
 * length of the PATCHes a client sends, the largest multiple of 64 KiB down to 5 MiB (or that
 * part count) that divides it, if any: each such PATCH then ends on a block boundary and
 * leaves no carry (50 MiB PATCHes take 6.25 MiB blocks).
 */
export function blockSizeFor(maxLength: number, patchLength?: number): number {
  const needed = Math.ceil(maxLength / MAX_BLOCKS / KIB64) * KIB64
  const largest = Math.max(DEFAULT_BLOCK_BYTES, needed)
  if (patchLength === undefined) return largest
  for (let size = largest; size >= Math.max(MIN_BLOCK_BYTES, needed); size -= KIB64) {
    if (patchLength % size === 0) return size
  }
  return largest
}

/** Upload-Metadata: comma-separated `key base64value` pairs (the value may be absent). */
export function parseMetadata(header: string | undefined): Map<string, string> {
  const pairs = new Map<string, string>()
  if (header === undefined || header.trim() === '') return pairs
  for (const item of header.split(',')) {
    const [key, value, extra] = item.trim().split(' ')
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key) || pairs.has(key)) {
      throw new InvalidTusRequestError('Upload-Metadata is malformed')
    }
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
      throw new InvalidTusRequestError(`Upload-Metadata "${key}" is not base64`)
    }
    pairs.set(key, Buffer.from(value ?? '', 'base64').toString('utf8'))
  }
  return pairs
}

export type ConcatRequest =
  | { kind: 'none' }
  | { kind: 'partial' }
  | { kind: 'final'; ids: string[] }

/**
 * Upload-Concat: `partial`, or `final;` and the partial uploads' URLs (absolute or paths),
 * space-separated; only the id each one ends in matters.
 */
export function parseConcat(header: string | undefined): ConcatRequest {
  if (header === undefined) return { kind: 'none' }
  if (header === 'partial') return { kind: 'partial' }
  const match = /^final;(.+)$/.exec(header)
  if (!match?.[1]) throw new InvalidTusRequestError('Upload-Concat must be partial or final;<urls>')
  const ids = match[1]
    .trim()
    .split(/ +/)
    .map((url) => /\/uploads\/([A-Za-z0-9_-]{1,64})\/?$/.exec(url)?.[1])
  if (ids.some((id) => id === undefined) || ids.length > 100) {
    throw new InvalidTusRequestError('Upload-Concat names at most 100 upload URLs of this server')
  }
  return { kind: 'final', ids: ids as string[] }
}

export interface Checksum {
  algorithm: ChecksumAlgorithm
  digest: Buffer
}

/** Upload-Checksum: `<algorithm> <base64 digest>`. */
export function parseChecksum(header: string | undefined): Checksum | undefined {
  if (header === undefined) return undefined
  const [algorithm, digest, extra] = header.trim().split(' ')
  if (!CHECKSUM_ALGORITHMS.includes(algorithm as ChecksumAlgorithm)) {
    throw new UnsupportedChecksumError()
  }
  if (!digest || extra !== undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(digest)) {
    throw new InvalidTusRequestError('Upload-Checksum is malformed')
  }
  return { algorithm: algorithm as ChecksumAlgorithm, digest: Buffer.from(digest, 'base64') }
}
