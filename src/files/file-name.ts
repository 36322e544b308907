import { InvalidFileNameError, InvalidUploadError } from './files-errors.js'

const MAX_NAME_BYTES = 255
// C0/C1 controls, and the bidirectional overrides that make "exe.txt" display as "txt.exe".
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u

/**
 * A file name as shown to people and in Content-Disposition. It is never a path (storage
 * keys are generated), but it must still be one harmless segment: no separators, no
 * control or direction-override characters, at most 255 bytes of UTF-8.
 */
export function normalizeFileName(raw: string | undefined): string {
  // A multipart part without a filename reaches us with none, whatever the parser's types say.
  if (raw === undefined) throw missingFileName()
  const name = raw.normalize('NFC').trim()
  if (name === '') throw new InvalidFileNameError('it is empty')
  if (name === '.' || name === '..') throw new InvalidFileNameError('it is a relative path')
  if (/[/\\]/.test(name)) throw new InvalidFileNameError('it contains a path separator')
  if (FORBIDDEN.test(name)) throw new InvalidFileNameError('it contains control characters')
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new InvalidFileNameError(`it is longer than ${MAX_NAME_BYTES} bytes`)
  }
  return name
}

/**
 * A part named "file" without a filename is refused rather than given a made-up name: a
 * client that sends one has most likely sent a form field where it meant a file.
 */
export function missingFileName(): InvalidUploadError {
  return new InvalidUploadError(
    'The part "file" needs a filename (Content-Disposition: form-data; name="file"; filename="…")',
  )
}
