import { createCipheriv, createHmac, randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { InvalidSignatureError } from './files-errors.js'
import { SignedUrls } from './signed-urls.js'

const SECRET = 'a secret of the server that signs the links'
const BASE = 'https://files.example'
const NOW = Date.UTC(2030, 0, 1, 12, 0, 0)

/** The tag of a link as the scheme defines it: AES-128 of the id's bytes, keyed by expiry. */
function referenceTag(fileId: string, expires: number) {
  const key = createHmac('sha256', SECRET).update('satchel:signed-download-url').digest()
  const expiryKey = createHmac('sha256', key).update(`tag key\n${expires}`).digest()
  const cipher = createCipheriv('aes-128-ecb', expiryKey.subarray(0, 16), null)
  const block = Buffer.from(fileId.replaceAll('-', ''), 'hex')
  return cipher.setAutoPadding(false).update(block).toString('base64url')
}

describe('signed URLs', () => {
  const signer = new SignedUrls(SECRET, BASE, 3600)
  const expires = signer.currentExpiry(NOW)
  const ids = [
    ...Array.from({ length: 49 }, () => randomUUID()),
    '00000000-0000-4000-8000-000000000000',
    'FFFFFFFF-ABCD-4EF0-9ABC-DEF012345678',
  ]

  it('give each file of a page the link it would get alone, tagged as links issued before', () => {
    const urls = signer.contentUrls(ids, NOW)
    ids.forEach((id, i) => {
      const tag = referenceTag(id, expires)
      expect(urls[i]).toBe(`${BASE}/files/${id}/content?expires=${expires}&signature=${tag}`)
      expect(signer.contentUrl(id, NOW)).toBe(urls[i])
      expect(() => signer.verify(id, expires, tag)).not.toThrow()
    })
  })

  it('give the same links from the ids given as bytes', () => {
    const bytes = Buffer.concat(ids.map((id) => Buffer.from(id.replaceAll('-', ''), 'hex')))
    expect(signer.pageUrls(ids, bytes, NOW)).toEqual(signer.contentUrls(ids, NOW))
  })

  it('refuse an id in any form but the one the download route accepts', () => {
    const id = ids[0]!
    const tag = referenceTag(id, expires)
    for (const other of [id.replaceAll('-', ''), `-${id.replaceAll('-', '')}`, `${id}0`]) {
      expect(() => signer.verify(other, expires, tag)).toThrow(InvalidSignatureError)
    }
  })
})
