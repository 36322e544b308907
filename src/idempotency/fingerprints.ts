import { createHash } from 'node:crypto'
import type { UploadPart } from '../files/files-service.js'

/** JSON with every object's keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

type PartNote = ['field', string, string] | ['file', string, string, string]

/**
 * What identifies an upload across a client's retries. Its bytes cannot: the multipart
 * boundary changes with every attempt. Its content does: each field's name and value, each
 * file's field, name, claimed type and SHA-256, in order, with the request line.
 */
export class UploadFingerprint {
  private readonly notes: PartNote[] = []

  /** `request`: the method, path and query, as describeRequest() gives them. */
  constructor(private readonly request: string) {}

  /**
   * The parts, passed on untouched while their metadata is noted. The files' bytes are not
   * hashed here: the store already hashes them as it writes, and describe() takes those.
   */
  async *observe(parts: AsyncIterable<UploadPart>): AsyncIterable<UploadPart> {
    for await (const part of parts) {
      this.note(part)
      yield part
    }
  }

  /** After a stored upload, given the SHA-256 of each file in the order they came. */
  describe(fileHashes: string[]): string {
    let next = 0
    const parts = this.notes.map((note) =>
      note[0] === 'file' ? [...note, fileHashes[next++]] : note,
    )
    return canonicalJson([this.request, parts])
  }

  /** A retried body read to its end, each file only hashed: nothing is stored. */
  async read(parts: AsyncIterable<UploadPart>): Promise<string> {
    const hashes: string[] = []
    for await (const part of parts) {
      this.note(part)
      if (part.kind === 'file') {
        const hash = createHash('sha256')
        for await (const chunk of part.stream) hash.update(chunk as Buffer)
        hashes.push(hash.digest('hex'))
      }
    }
    return this.describe(hashes)
  }

  private note(part: UploadPart) {
    this.notes.push(
      part.kind === 'field'
        ? ['field', part.name, part.value]
        : ['file', part.fieldName, part.fileName, part.claimedType],
    )
  }
}
