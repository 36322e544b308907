import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { RequestMetrics } from './request-metrics.js'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60]

describe('RequestMetrics', () => {
  it("scrapes as prom-client's Counter and Histogram would for the same requests", async () => {
    const requests: [string, string | undefined, number, number][] = [
      ['GET', '/files', 200, 3],
      ['GET', '/files', 200, 5],
      ['GET', '/files', 200, 7.5],
      ['GET', '/files', 304, 120],
      ['POST', '/upload', 201, 61_000],
      ['GET', undefined, 404, 0.2],
      ['GET', '/files', 200, 2500],
    ]
    const ours = new Registry()
    const metrics = new RequestMetrics(ours)
    const theirs = new Registry()
    const labelNames = ['method', 'route', 'status'] as const
    const total = new Counter({
      name: 'satchel_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames,
      registers: [theirs],
    })
    const duration = new Histogram({
      name: 'satchel_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status',
      labelNames,
      buckets: BUCKETS,
      registers: [theirs],
    })
    for (const [method, route, status, ms] of requests) {
      metrics.observe(method, route, status, ms)
      const labels = { method, route: route ?? 'unmatched', status }
      total.inc(labels)
      duration.observe(labels, ms / 1000)
    }
    const lines = (text: string) => text.split('\n').sort()
    expect(lines(await ours.metrics())).toEqual(lines(await theirs.metrics()))
    expect(await ours.getMetricsAsJSON()).toHaveLength(2)
  })
})
