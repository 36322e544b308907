import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  MAX_PART_HEADER_BYTES,
  MAX_PART_HEADER_LINES,
  PartHeaderScanner,
} from './multipart-guard.js'

const BOUNDARY = 'b0und4ry'

function body(parts: { headers: string[]; data: string }[], preamble = '', epilogue = '') {
  const text = parts.map((p) => `--${BOUNDARY}\r\n${p.headers.join('\r\n')}\r\n\r\n${p.data}\r\n`)
  return Buffer.from(`${preamble}${text.join('')}--${BOUNDARY}--\r\n${epilogue}`, 'latin1')
}

/** Feeds `bytes` cut at `cuts`; returns the error thrown, if any. */
function scan(bytes: Buffer, cuts: number[]) {
  const scanner = new PartHeaderScanner(BOUNDARY)
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  let from = 0
  try {
    for (const to of [...points, bytes.length]) {
      scanner.push(bytes.subarray(from, to))
      from = to
    }
  } catch (err) {
    return err as Error
  }
  return undefined
}

const headerLine = fc.stringMatching(/^X-[A-Za-z]{1,8}: [ -~]{0,40}$/)
// Body data that may look like a boundary or a header block but is not a delimiter.
const data = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 200 }).map((s) => s.replaceAll(`--${BOUNDARY}`, '')),
  fc.constantFrom('\r\n\r\n', `-${BOUNDARY}`, `\r\n-${BOUNDARY}`, '\r\n--', `${BOUNDARY}--`),
)
const cuts = fc.array(fc.nat(), { maxLength: 30 })

describe('PartHeaderScanner', () => {
  it('takes any body within the limits, however it is cut', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ headers: fc.array(headerLine, { maxLength: MAX_PART_HEADER_LINES }), data }),
          { maxLength: 5 },
        ),
        data,
        cuts,
        (parts, epilogue, at) => {
          const bytes = body(parts, '', `${epilogue}\r\n${'X: y\r\n'.repeat(50)}`)
          expect(scan(bytes, at)).toBeUndefined()
        },
      ),
      { seed: 14, numRuns: 300 },
    )
  })

  it('refuses a part with one header too many, however it is cut', () => {
    fc.assert(
      fc.property(fc.nat({ max: 3 }), data, cuts, (before, chunk, at) => {
        const fine = { headers: ['X-A: 1'], data: chunk }
        const lines = Array.from({ length: MAX_PART_HEADER_LINES + 1 }, (_, i) => `X-${i}: v`)
        const parts = [...Array.from({ length: before }, () => fine), { headers: lines, data: '' }]
        expect(scan(body(parts), at)?.message).toMatch(/at most 20 headers/)
      }),
      { seed: 14, numRuns: 200 },
    )
  })

  it('refuses a header block one byte over the limit, and takes one at it, however cut', () => {
    const fixed = 'X-Pad: '
    fc.assert(
      fc.property(fc.boolean(), cuts, (over, at) => {
        const pad = 'p'.repeat(MAX_PART_HEADER_BYTES - fixed.length + (over ? 1 : 0))
        const error = scan(body([{ headers: [`${fixed}${pad}`], data: 'x' }]), at)
        if (over) expect(error?.message).toMatch(/at most 8192 bytes/)
        else expect(error).toBeUndefined()
      }),
      { seed: 14, numRuns: 200 },
    )
  })

  it('refuses a header block that never ends before it has read much past the limit', () => {
    const scanner = new PartHeaderScanner(BOUNDARY)
    scanner.push(Buffer.from(`--${BOUNDARY}\r\nX-Big: `))
    expect(() => scanner.push(Buffer.alloc(1024 * 1024, 'a'))).toThrow(/at most 8192 bytes/)
  })
})
