import type { Metric, Registry } from 'prom-client'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60]

type Labels = Record<'method' | 'route' | 'status', string | number>

interface Series {
  labels: Labels
  count: number
  sum: number
  /** Observations per bucket, each counted in the first bucket it fits; the last is +Inf. */
  buckets: number[]
}

interface Sample {
  metricName: string
  labels: Partial<Labels> & { le?: string | number }
  value: number
}

/**
 * satchel_http_requests_total and satchel_http_request_duration_seconds, counted here and
 * read by the registry when scraped: prom-client's Counter and Histogram validate and hash
 * the label set on every call, which was the largest part of what a request cost to count.
 * A request finds its series with one Map read and adds to plain numbers.
 */
export class RequestMetrics {
  private readonly series = new Map<string, Series>()

  constructor(registry: Registry) {
    const total = this.metric(
      'satchel_http_requests_total',
      'HTTP requests by method, route and status',
      'counter',
      (series) => [
        { metricName: 'satchel_http_requests_total', labels: series.labels, value: series.count },
      ],
    )
    const duration = this.metric(
      'satchel_http_request_duration_seconds',
      'HTTP request latency by method, route and status',
      'histogram',
      histogramSamples('satchel_http_request_duration_seconds'),
    )
    // The registry reads any object with a name, a type and get(): prom-client's own
    // metrics are such objects, and the registry checks nothing more.
    registry.registerMetric(total as unknown as Metric)
    registry.registerMetric(duration as unknown as Metric)
  }

  observe(method: string, route: string | undefined, status: number, elapsedMs: number) {
    const key = `${method} ${status} ${route}`
    let series = this.series.get(key)
    if (series === undefined) {
      series = {
        labels: { method, route: route ?? 'unmatched', status },
        count: 0,
        sum: 0,
        buckets: new Array(BUCKETS.length + 1).fill(0),
      }
      this.series.set(key, series)
    }
    const seconds = elapsedMs / 1000
    let bucket = 0
    while (bucket < BUCKETS.length && seconds > BUCKETS[bucket]!) bucket++
    series.buckets[bucket]!++
    series.count++
    series.sum += seconds
  }

  private metric(
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    samples: (series: Series) => Sample[],
  ) {
    const about = { name, help, type, aggregator: 'sum' }
    return {
      ...about,
      get: async () => ({ ...about, values: [...this.series.values()].flatMap(samples) }),
      reset: () => this.series.clear(),
    }
  }
}

function histogramSamples(name: string) {
  return (series: Series): Sample[] => {
    let cumulative = 0
    const buckets = series.buckets.map((count, i) => {
      cumulative += count
      return {
        metricName: `${name}_bucket`,
        labels: { le: i < BUCKETS.length ? BUCKETS[i]! : '+Inf', ...series.labels },
        value: cumulative,
      }
    })
    return [
      ...buckets,
      { metricName: `${name}_sum`, labels: series.labels, value: series.sum },
      { metricName: `${name}_count`, labels: series.labels, value: series.count },
    ]
  }
}
