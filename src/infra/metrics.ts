import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { RequestMetrics } from './request-metrics.js'

/**
 * The Prometheus instruments of one app. A registry per app (not prom-client's global one)
 * so several apps in one process — tests, the cluster suite — never share counters.
 */
export class Metrics {
  readonly registry = new Registry()
  private readonly requests = new RequestMetrics(this.registry)
  readonly uploadBytes = new Counter({
    name: 'satchel_upload_bytes_total',
    help: 'Bytes stored by successful uploads',
    registers: [this.registry],
  })
  readonly uploadDuration = new Histogram({
    name: 'satchel_upload_duration_seconds',
    help: 'Duration of upload requests, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.25, 1, 5, 30, 120, 600],
    registers: [this.registry],
  })
  // Reads of the file and list caches, counted here and handed to the registry when scraped:
  // a cached list read counts one on every request.
  private readonly reads = { file: { hit: 0, miss: 0 }, list: { hit: 0, miss: 0 } }
  readonly rateLimited = new Counter({
    name: 'satchel_rate_limited_total',
    help: 'Requests refused by a rate limit',
    registers: [this.registry],
  })
  readonly sockets = new Gauge({
    name: 'satchel_websocket_connections',
    help: 'Open WebSocket connections on this instance',
    registers: [this.registry],
  })

  constructor() {
    // Includes nodejs_eventloop_lag_seconds, heap and handle counts.
    collectDefaultMetrics({ register: this.registry })
    const reads = this.reads
    new Counter({
      name: 'satchel_cache_reads_total',
      help: 'Cache reads by cache (file metadata, list pages) and result',
      labelNames: ['cache', 'result'] as const,
      registers: [this.registry],
      collect() {
        this.reset()
        for (const [cache, { hit, miss }] of Object.entries(reads)) {
          this.inc({ cache, result: 'hit' }, hit)
          this.inc({ cache, result: 'miss' }, miss)
        }
      },
    })
  }

  /** Counts a finished request and observes its duration (`elapsedMs`). */
  observeRequest(method: string, route: string | undefined, status: number, elapsedMs: number) {
    this.requests.observe(method, route, status, elapsedMs)
  }

  /** Counts a read of the file metadata or list page cache. */
  cacheRead(cache: 'file' | 'list', found: boolean) {
    if (found) this.reads[cache].hit++
    else this.reads[cache].miss++
  }

  /** A counter whose value is read from elsewhere when scraped (the sweeper's totals). */
  observedCounter(
    name: string,
    help: string,
    labelName: string,
    read: () => Record<string, number>,
  ) {
    new Counter({
      name,
      help,
      labelNames: [labelName],
      registers: [this.registry],
      collect() {
        this.reset()
        for (const [label, value] of Object.entries(read())) this.inc({ [labelName]: label }, value)
      },
    })
  }
}
