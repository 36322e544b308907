import { randomBytes } from 'node:crypto'
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer } from '../helpers/server-process.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'satchel-modes-'))
})
afterAll(() => rm(root, { recursive: true, force: true }))

/** Every path under dir (dir included) with its permission bits, as `0644 db/PG_VERSION`. */
async function modes(dir: string, prefix = '.'): Promise<string[]> {
  const stats = await lstat(dir)
  const here = `${(stats.mode & 0o777).toString(8).padStart(4, '0')} ${prefix}`
  if (!stats.isDirectory()) return [here]
  const below = await Promise.all(
    (await readdir(dir)).map((name) => modes(join(dir, name), `${prefix}/${name}`)),
  )
  return [here, ...below.flat()]
}

async function json(url: string, body: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  expect(res.ok, `${url} → ${res.status}`).toBe(true)
  return (await res.json()) as Record<string, unknown>
}

describe('files Satchel creates under DATA_DIR', () => {
  // On a shared host (or a bind mount), anything group- or world-accessible there is the
  // database, the generated secrets or users' files: PGlite alone creates its cluster 0666.
  it('are private to its user (0600 files, 0700 directories) in the embedded mode', async () => {
    const dataDir = join(root, 'data')
    // A first PGlite start takes seconds; on a loaded 2-core machine, up to a minute.
    const server = await startServer({ DATA_DIR: dataDir }, 120_000)
    try {
      const credentials = { email: 'modes@example.test', password: 'password1' }
      await json(`${server.url}/register`, credentials)
      const { access_token } = await json(`${server.url}/login`, credentials)
      const form = new FormData()
      form.append('file', new Blob([randomBytes(4096)]), 'blob.bin')
      const upload = await fetch(`${server.url}/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}` },
        body: form,
      })
      expect(upload.status).toBe(201)
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
    }

    const all = await modes(dataDir)
    // The walk must have seen the database, the secrets and the uploaded blob.
    expect(all.some((line) => line.endsWith('/db/PG_VERSION'))).toBe(true)
    expect(all.some((line) => line.endsWith('/secrets/jwt_secret'))).toBe(true)
    expect(all.length).toBeGreaterThan(500)
    const open = all.filter((line) => Number.parseInt(line.slice(0, 4), 8) & 0o077)
    expect(open.slice(0, 20), `${open.length} of ${all.length} paths are not private`).toEqual([])
  }, 180_000)
})
