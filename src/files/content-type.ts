import { PassThrough } from 'node:stream'
import { fileTypeFromBuffer } from 'file-type'
import { lookup } from 'mime-types'

// file-type reads at most this many bytes to recognise any format it knows.
const SNIFF_BYTES = 4100

/** A pass-through stream that keeps a copy of the first bytes for content detection. */
export class HeadSniffer extends PassThrough {
  private readonly chunks: Buffer[] = []
  private kept = 0

  override _transform(chunk: Buffer, encoding: BufferEncoding, done: (err?: Error | null) => void) {
    if (this.kept < SNIFF_BYTES) {
      const part = chunk.subarray(0, SNIFF_BYTES - this.kept)
      this.chunks.push(Buffer.from(part))
      this.kept += part.length
    }
    super._transform(chunk, encoding, done)
  }

  head(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

/** The type the bytes say they are; the extension only when the bytes say nothing. */
export async function detectContentType(head: Buffer, fileName: string): Promise<string> {
  const detected = await fileTypeFromBuffer(head)
  if (detected) return detected.mime
  return lookup(fileName) || 'application/octet-stream'
}
