import { send } from './http.js'

/** A random token good for METRICS_TOKEN (16 characters at least). */
export const BENCH_METRICS_TOKEN = 'bench-metrics-token-0123456789'

export interface ServerStats {
  rssBytes: number
  heapUsedBytes: number
  heapTotalBytes: number
  externalBytes: number
  /** V8's young generation (semi-spaces), where short-lived request objects live. */
  newSpaceBytes: number
  oldSpaceUsedBytes: number
  /** Seconds spent in garbage collection since the start, all kinds. */
  gcSeconds: number
  gcCount: number
  /** List pages served from the list cache, and loaded from the database, since the start. */
  listHits: number
  listMisses: number
}

/**
 * Satchel's own view of its memory, GC and list cache, from GET /metrics (prom-client's default metrics;
 * the server must run with METRICS_TOKEN=BENCH_METRICS_TOKEN). A scrape costs a few ms of
 * the server's CPU: take it outside measured runs.
 */
export async function scrapeStats(baseUrl: string): Promise<ServerStats> {
  const reply = await send(`${baseUrl}/metrics`, {
    headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` },
    timeoutMs: 30_000,
  })
  if (reply.status !== 200) throw new Error(`GET /metrics: ${reply.status}`)
  const text = reply.body.toString()
  const lines = text.split('\n')
  const sum = (name: string, labels: string[] = [], required = true) => {
    let total = 0
    let found = false
    for (const line of lines) {
      const [key, value] = line.split(' ')
      if (key !== name && !key?.startsWith(`${name}{`)) continue
      if (!labels.every((label) => key.includes(label))) continue
      total += Number(value)
      found = true
    }
    if (!found && required) throw new Error(`GET /metrics has no ${name}{${labels}}`)
    return total
  }
  // Counters appear once they have counted something.
  const listReads = (result: string) =>
    sum('satchel_cache_reads_total', ['cache="list"', `result="${result}"`], false)
  return {
    rssBytes: sum('process_resident_memory_bytes'),
    heapUsedBytes: sum('nodejs_heap_size_used_bytes'),
    heapTotalBytes: sum('nodejs_heap_size_total_bytes'),
    externalBytes: sum('nodejs_external_memory_bytes'),
    newSpaceBytes: sum('nodejs_heap_space_size_total_bytes', ['space="new"']),
    oldSpaceUsedBytes: sum('nodejs_heap_space_size_used_bytes', ['space="old"']),
    gcSeconds: sum('nodejs_gc_duration_seconds_sum'),
    gcCount: sum('nodejs_gc_duration_seconds_count'),
    listHits: listReads('hit'),
    listMisses: listReads('miss'),
  }
}
