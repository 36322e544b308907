import { join, resolve, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { assertBlobKey, newBlobKey } from '../../src/storage/blob-key.js'
import { safeJoin } from '../../src/storage/safe-path.js'

const root = resolve('/srv/satchel/blobs')

const hostile = [
  '',
  '.',
  '..',
  '../x',
  '/etc/passwd',
  'a/../../b',
  'a/../b',
  'a//b',
  'a/',
  'a\\..\\..\\b',
  '..\\x',
  'a\0b',
  'a/./b',
  '.tmp/x',
  'blobs/AB/x',
  'blobs/ab/x y',
]

describe('safeJoin', () => {
  it('keeps an ordinary key inside the root', () => {
    expect(safeJoin(root, 'blobs/ab/c-d')).toBe(join(root, 'blobs', 'ab', 'c-d'))
  })

  it.each(['../x', '/etc/passwd', 'a/../../b', '..', '.', '', 'a\0b'])('refuses %j', (key) => {
    expect(() => safeJoin(root, key)).toThrow(/escapes/)
  })

  it('allows a dot-dot that stays inside the root, and names starting with two dots', () => {
    expect(safeJoin(root, 'a/../b')).toBe(join(root, 'b'))
    expect(safeJoin(root, '..x')).toBe(join(root, '..x'))
  })

  it.each(['a\\..\\..\\b', '..\\x'])('keeps backslashes inside the root (%j)', (key) => {
    // On POSIX a backslash is an ordinary file-name character; on Windows it separates,
    // and the '..' segments would be refused. Either way the root holds.
    let path: string
    try {
      path = safeJoin(root, key)
    } catch {
      return
    }
    expect(path.startsWith(root + sep)).toBe(true)
  })
})

describe('assertBlobKey', () => {
  it('accepts the keys newBlobKey makes', () => {
    for (let i = 0; i < 100; i++) expect(() => assertBlobKey(newBlobKey())).not.toThrow()
  })

  it('makes keys with a two-hex fan-out taken from the UUID', () => {
    const key = newBlobKey()
    expect(key).toMatch(
      /^blobs\/([0-9a-f]{2})\/\1[0-9a-f]{6}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })

  it.each(hostile)('refuses %j', (key) => {
    expect(() => assertBlobKey(key)).toThrow(/Invalid blob key/)
  })

  it('refuses keys longer than S3 allows', () => {
    expect(() => assertBlobKey('x'.repeat(1024))).not.toThrow()
    expect(() => assertBlobKey('x'.repeat(1025))).toThrow(/Invalid blob key/)
  })
})
