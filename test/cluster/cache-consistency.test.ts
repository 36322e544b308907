import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { FilesRepository } from '../../src/files/files-repository.js'
import { createLogger } from '../../src/infra/logger.js'
import { rotateKeys } from '../../src/rotate-keys-job.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { TEST_REDIS_URL } from '../helpers/redis.js'
import { startRedisServer } from '../helpers/redis-server.js'

const TRIALS = 200
// Trials run in parallel batches: each holds only its own file's loads.
const BATCH = 10

/** Three apps on one database and one Redis (with one prefix): instances of one deployment. */
async function cluster(env: Record<string, string>): Promise<TestApp[]> {
  const first = await buildTestApp(env)
  const shared = {
    ...env,
    DATABASE_URL: first.config.databaseUrl!,
    REDIS_PREFIX: first.config.redisPrefix,
  }
  return [first, await buildTestApp(shared), await buildTestApp(shared)]
}

/** The first app owns the database, so it closes last. */
async function closeAll(nodes: TestApp[]) {
  for (const t of nodes.slice(1)) await t.close()
  await nodes[0]?.close()
}

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/**
 * Holds the database loads of chosen files after they have read the row, until released:
 * the step boundary where a load that began before a change can outlive it.
 */
class LoadGates {
  private readonly gates = new Map<
    string,
    { remaining: number; loaded: () => void; release: Promise<void> }
  >()

  /** Holds the next `readers` loads of `id`; `loaded` settles once all of them have read. */
  arm(id: string, readers: number) {
    const release = deferred()
    const allLoaded = deferred()
    let waiting = readers
    this.gates.set(id, {
      remaining: readers,
      loaded: () => {
        if (--waiting === 0) allLoaded.resolve()
      },
      release: release.promise,
    })
    return {
      loaded: allLoaded.promise,
      release: () => {
        this.gates.delete(id)
        release.resolve()
      },
    }
  }

  async around<T>(id: string, load: () => Promise<T>): Promise<T> {
    const gate = this.gates.get(id)
    if (!gate || gate.remaining === 0) return load()
    gate.remaining--
    const row = await load()
    gate.loaded()
    await gate.release
    return row
  }
}

describe('the shared cache across three instances, readers racing writers', () => {
  let nodes: TestApp[]
  let alice: TestUser
  const gates = new LoadGates()

  beforeAll(async () => {
    nodes = await cluster({ REDIS_URL: TEST_REDIS_URL })
    alice = await signUp(nodes[0]!.app)
    const findVisibleById = FilesRepository.prototype.findVisibleById
    vi.spyOn(FilesRepository.prototype, 'findVisibleById').mockImplementation(function (
      this: FilesRepository,
      id: string,
    ) {
      return gates.around(id, () => findVisibleById.call(this, id))
    })
  })
  afterAll(async () => {
    vi.restoreAllMocks()
    await closeAll(nodes)
  })

  const getFile = (t: TestApp, id: string) =>
    t.app.inject({ url: `/files/${id}`, headers: alice.auth })

  /**
   * One trial: readers on B and C miss the cache and read the row, the writer on A changes
   * it and answers, then the readers finish. Returns how many reads that began after the
   * writer's answer (one per instance) still saw the old state.
   */
  async function trial(
    n: number,
    write: (id: string) => Promise<void>,
    isStale: (res: Awaited<ReturnType<typeof getFile>>) => boolean,
  ) {
    const [a, b, c] = nodes as [TestApp, TestApp, TestApp]
    const file = await injectUpload(a.app, alice, `race-${n}.txt`, Buffer.from('r'))
    const gate = gates.arm(file.id, 2)
    const readers = [getFile(b, file.id), getFile(c, file.id)]
    await gate.loaded
    await write(file.id)
    gate.release()
    await Promise.all(readers)
    const after = await Promise.all(nodes.map((t) => getFile(t, file.id)))
    return after.filter(isStale).length
  }

  async function trials(
    write: (id: string) => Promise<void>,
    isStale: (res: Awaited<ReturnType<typeof getFile>>) => boolean,
  ) {
    let stale = 0
    for (let start = 0; start < TRIALS; start += BATCH) {
      const batch = Array.from({ length: BATCH }, (_, i) => trial(start + i, write, isStale))
      for (const count of await Promise.all(batch)) stale += count
    }
    return stale
  }

  it(`after a DELETE answers, no instance serves the file (${TRIALS} trials)`, async () => {
    const stale = await trials(
      async (id) => {
        const res = await nodes[0]!.app.inject({
          method: 'DELETE',
          url: `/files/${id}`,
          headers: alice.auth,
        })
        expect(res.statusCode).toBe(204)
      },
      (res) => res.statusCode !== 404,
    )
    expect({ staleReads: stale, of: TRIALS * 3 }).toEqual({ staleReads: 0, of: TRIALS * 3 })
  }, 60_000)

  it(`after a rename answers, every instance shows the new name (${TRIALS} trials)`, async () => {
    const stale = await trials(
      async (id) => {
        const res = await nodes[0]!.app.inject({
          method: 'PATCH',
          url: `/files/${id}`,
          headers: alice.auth,
          payload: { name: 'renamed.txt' },
        })
        expect(res.statusCode).toBe(200)
      },
      (res) => res.statusCode !== 200 || res.json().name !== 'renamed.txt',
    )
    expect({ staleReads: stale, of: TRIALS * 3 }).toEqual({ staleReads: 0, of: TRIALS * 3 })
  }, 60_000)
})

describe('the shared cache after a Redis outage', () => {
  let redisDir: string
  let redis: Awaited<ReturnType<typeof startRedisServer>>
  let nodes: TestApp[]
  let alice: TestUser

  beforeAll(async () => {
    redisDir = await mkdtemp(join(tmpdir(), 'satchel-redis-'))
    redis = await startRedisServer(undefined, redisDir)
    nodes = await cluster({ REDIS_URL: redis.url })
    alice = await signUp(nodes[0]!.app)
  })
  afterAll(async () => {
    await closeAll(nodes)
    await redis.stop()
    await rm(redisDir, { recursive: true, force: true })
  })

  const getFile = (t: TestApp, id: string) =>
    t.app.inject({ url: `/files/${id}`, headers: alice.auth })
  const names = async (t: TestApp) =>
    (await t.app.inject({ url: '/files', headers: alice.auth }))
      .json<{ items: { name: string }[] }>()
      .items.map((f) => f.name)
      .sort()
  const ready = async (t: TestApp) => (await t.app.inject({ url: '/readyz' })).statusCode === 200

  it('serves nothing changed during the outage once Redis is back, files and lists', async () => {
    const [a, b, c] = nodes as [TestApp, TestApp, TestApp]
    const deleted = await injectUpload(a.app, alice, 'deleted.txt', Buffer.from('d'))
    const renamed = await injectUpload(a.app, alice, 'renamed.txt', Buffer.from('r'))
    await injectUpload(a.app, alice, 'kept.txt', Buffer.from('k'))
    // Every instance caches both files and the list, in Redis and in its own pages.
    for (const t of nodes) {
      expect((await getFile(t, deleted.id)).statusCode).toBe(200)
      expect((await getFile(t, renamed.id)).statusCode).toBe(200)
      expect(await names(t)).toEqual(['deleted.txt', 'kept.txt', 'renamed.txt'])
    }

    await redis.stop()
    const del = await a.app.inject({
      method: 'DELETE',
      url: `/files/${deleted.id}`,
      headers: alice.auth,
    })
    expect(del.statusCode).toBe(204)
    const patch = await a.app.inject({
      method: 'PATCH',
      url: `/files/${renamed.id}`,
      headers: alice.auth,
      payload: { name: 'new-name.txt' },
    })
    expect(patch.statusCode).toBe(200)
    await injectUpload(a.app, alice, 'uploaded-during.txt', Buffer.from('u'))

    // The same port and data: Redis comes back with every entry written before it went.
    redis = await startRedisServer(redis.port, redisDir)
    const deadline = Date.now() + 15_000
    for (const t of nodes) {
      while (!(await ready(t))) {
        expect(Date.now()).toBeLessThan(deadline)
        await new Promise((r) => setTimeout(r, 100))
      }
    }

    // B and C first: A has served nothing since Redis came back.
    for (const t of [b, c, a]) {
      expect((await getFile(t, deleted.id)).statusCode).toBe(404)
      expect((await getFile(t, renamed.id)).json().name).toBe('new-name.txt')
      expect(await names(t)).toEqual(['kept.txt', 'new-name.txt', 'uploaded-during.txt'])
    }
  }, 40_000)
})

describe('rotate-keys and the shared cache', () => {
  const KEY_A = `a:${randomBytes(32).toString('base64')}`
  const KEY_B = `b:${randomBytes(32).toString('base64')}`
  const apps: TestApp[] = []
  afterAll(() => closeAll(apps))

  it('serves a file cached before the rotation after a restart without the old key', async () => {
    const before = await buildTestApp({ REDIS_URL: TEST_REDIS_URL, ENCRYPTION_KEY: KEY_A })
    apps.push(before)
    const alice = await signUp(before.app)
    const file = await injectUpload(before.app, alice, 'secret.txt', Buffer.from('rotate me'))
    const download = (t: TestApp) =>
      t.app.inject({ url: `/files/${file.id}/content`, headers: alice.auth })
    expect((await download(before)).body).toBe('rotate me')

    const env = {
      DATABASE_URL: before.config.databaseUrl!,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_PREFIX: before.config.redisPrefix,
      DATA_DIR: before.dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
    }
    const rotated = await rotateKeys(
      { ...parseConfig(env), encryptionKey: `${KEY_A},${KEY_B}` },
      createLogger('silent'),
    )
    expect(rotated.rewrapped).toBe(1)

    const after = await buildTestApp({ ...env, ENCRYPTION_KEY: KEY_B })
    apps.push(after)
    const res = await download(after)
    expect(res.statusCode).toBe(200)
    expect(res.body).toBe('rotate me')
  })
})
