import { describe, expect, it, vi } from 'vitest'
import { GuardedCache } from '../infra/cache/guarded-cache.js'
import { MemoryCache } from '../infra/cache/memory-cache.js'
import { FileListCache } from './file-list-cache.js'
import type { FilePage, ListQuery } from './files-service.js'

const query = (cursor?: string): ListQuery => ({
  filters: {},
  sort: 'created_at',
  order: 'desc',
  limit: 50,
  cursor,
})

function listCache() {
  const versions = new GuardedCache({
    cache: new MemoryCache(),
    logger: { warn() {} },
    timeoutMs: 0,
  })
  return new FileListCache(versions, 60)
}

const loader = () =>
  vi.fn(
    async (): Promise<FilePage> => ({
      items: [],
      ids: new Uint8Array(0),
      nextCursor: null,
      firstExpiry: null,
    }),
  )

describe('FileListCache', () => {
  it('answers a page it holds at once, without a promise and without loading it again', async () => {
    const lists = listCache()
    const load = loader()
    const first = await lists.page('owner', query(), load)
    const again = lists.page('owner', query(), load)
    expect(again).toBe(first)
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('loads again after the owner’s files change, and only that owner’s pages', async () => {
    const lists = listCache()
    const load = loader()
    await lists.page('a', query(), load)
    await lists.page('b', query(), load)
    await lists.invalidate('a')
    await lists.page('a', query(), load)
    await lists.page('b', query(), load)
    expect(load).toHaveBeenCalledTimes(3)
  })

  it('never serves a page whose load began before a change, though it ended after', async () => {
    const lists = listCache()
    let finish!: (page: FilePage) => void
    const stale = lists.page('a', query(), () => new Promise((resolve) => (finish = resolve)))
    await lists.invalidate('a')
    finish({ items: ['old'], ids: new Uint8Array(16), nextCursor: null, firstExpiry: null })
    await stale
    const load = loader()
    expect(await lists.page('a', query(), load)).toMatchObject({ items: [] })
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('keeps 10 pages per owner: the page stored longest ago is the one that goes', async () => {
    const lists = listCache()
    const load = loader()
    for (let i = 0; i <= 10; i++) await lists.page('a', query(String(i)), load)
    expect(load).toHaveBeenCalledTimes(11)
    await lists.page('a', query('10'), load)
    await lists.page('a', query('1'), load)
    expect(load).toHaveBeenCalledTimes(11)
    await lists.page('a', query('0'), load)
    expect(load).toHaveBeenCalledTimes(12)
  })

  it('loads a page once for requests that ask for it while it loads', async () => {
    const lists = listCache()
    const load = loader()
    const pages = await Promise.all([1, 2, 3].map(() => lists.page('a', query(), load)))
    expect(new Set(pages).size).toBe(1)
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('forgets the pages of users who listed longest ago, past about 100 users', async () => {
    const lists = listCache()
    const load = loader()
    await lists.page('a', query(), load)
    for (let i = 0; i < 100; i++) await lists.page(`other-${i}`, query(), load)
    await lists.page('a', query(), load)
    expect(load).toHaveBeenCalledTimes(102)
  })
})
