/**
 * The signed URLs of a 50-row list page, in process: SignedUrls.contentUrls against the way
 * it computed the same URLs before (a cipher made for the page, the ids read into a new
 * buffer skipping their dashes, each tag encoded by a call of its own), alternated.
 * The ids are slices of one row text, as the list page's are (FilesRepository.search).
 *
 *   npx tsx bench/signed-urls.ts
 *
 * Environment (optional): BENCH_RUNS (7) alternated rounds, BENCH_PAGES (2000) per round.
 */
import { createCipheriv, createHmac, randomUUID } from 'node:crypto'
import { SignedUrls } from '../src/files/signed-urls.js'
import { fixed, times } from './lib/figures.js'
import { envInt } from './lib/processes.js'
import { median } from './lib/stats.js'

const ROUNDS = envInt('BENCH_RUNS', 7)
const PAGES = envInt('BENCH_PAGES', 2000)
const SECRET = 'a secret of the server that signs the links'
const BASE = 'https://files.example'
const TTL_SECONDS = 3600

const signer = new SignedUrls(SECRET, BASE, TTL_SECONDS)
const rows = Array.from({ length: 200 }, () =>
  Array.from({ length: 50 }, () => `{"id":"${randomUUID()}","name":"a file.txt"}`).join('\x01'),
)
const pageIds = (row: string) => row.split('\x01').map((file) => file.slice(7, 43))

const expires = signer.currentExpiry()
const rootKey = createHmac('sha256', SECRET).update('satchel:signed-download-url').digest()
const expiryKey = createHmac('sha256', rootKey).update(`tag key\n${expires}`).digest()
const hexValue = (code: number) => (code & 0xf) + (code >> 6) * 9

/** The same URLs as SignedUrls gives, computed as it did before (expiry keys kept too). */
function asBefore(ids: readonly string[]): string[] {
  const bytes = Buffer.allocUnsafe(ids.length * 16)
  let at = 0
  for (const id of ids) {
    for (let i = 0; i < 36; i += 2) {
      if (id.charCodeAt(i) === 0x2d) i++
      bytes[at++] = (hexValue(id.charCodeAt(i)) << 4) | hexValue(id.charCodeAt(i + 1))
    }
  }
  const cipher = createCipheriv('aes-128-ecb', expiryKey.subarray(0, 16), null)
  const tags = cipher.setAutoPadding(false).update(bytes)
  return ids.map(
    (id, i) =>
      `${BASE}/files/${id}/content?expires=${expires}&signature=${tags.toString('base64url', i * 16, i * 16 + 16)}`,
  )
}

/** CPU µs per page. */
function measure(urls: (ids: readonly string[]) => string[]): number {
  let length = 0
  const before = process.cpuUsage()
  for (let page = 0; page < PAGES; page++) length += urls(pageIds(rows[page % rows.length]!)).length
  const used = process.cpuUsage(before)
  if (length !== PAGES * 50) throw new Error('a page lost its URLs')
  return (used.user + used.system) / PAGES
}

const sample = pageIds(rows[0]!)
if (signer.contentUrls(sample).join() !== asBefore(sample).join()) {
  throw new Error('the two ways give different URLs')
}
const ours: number[] = []
const before: number[] = []
measure((ids) => signer.contentUrls(ids))
measure(asBefore)
for (let round = 0; round < ROUNDS; round++) {
  ours.push(measure((ids) => signer.contentUrls(ids)))
  before.push(measure(asBefore))
}
console.log(
  `signed URLs of a 50-row page (node ${process.version}), CPU µs per page, with the split`,
)
console.log(`  SignedUrls.contentUrls: ${ours.map((us) => fixed(us, 1)).join(' ')}`)
console.log(`  as before:              ${before.map((us) => fixed(us, 1)).join(' ')}`)
console.log(
  `  medians ${fixed(median(ours), 1)} / ${fixed(median(before), 1)} µs (${times(median(ours) / median(before))})`,
)
