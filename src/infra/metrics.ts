import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The Prometheus instruments of one app. A registry per app (not prom-client's global one)
 * so several apps in one process — tests, the cluster suite — never share counters.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly requests = new Counter({
    name: 'satchel_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  })
  readonly requestDuration = new Histogram({
    name: 'satchel_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  })
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
  readonly cacheReads = new Counter({
    name: 'satchel_cache_reads_total',
    help: 'Cache reads by cache (file metadata, list pages) and result',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
  })
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

  // The label set of each method, route and status seen, built once rather than per request.
  private readonly requestLabels = new Map<
    string,
    { method: string; route: string; status: number }
  >()

  constructor() {
    // Includes nodejs_eventloop_lag_seconds, heap and handle counts.
    collectDefaultMetrics({ register: this.registry })
  }

  /** Counts a finished request and observes its duration (`elapsedMs`). */
  observeRequest(method: string, route: string | undefined, status: number, elapsedMs: number) {
    const key = `${method} ${status} ${route}`
    let labels = this.requestLabels.get(key)
    if (labels === undefined) {
      labels = { method, route: route ?? 'unmatched', status }
      this.requestLabels.set(key, labels)
    }
    this.requests.inc(labels)
    this.requestDuration.observe(labels, elapsedMs / 1000)
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
