import { performance } from 'node:perf_hooks'

export interface Summary {
  n: number
  p50: number
  p95: number
  p99: number
  max: number
}

/** Nearest-rank percentiles: every figure is a latency that was actually observed. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples to summarize')
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = (p: number) => sorted[Math.min(sorted.length, Math.ceil(p * sorted.length)) - 1]!
  return {
    n: sorted.length,
    p50: rank(0.5),
    p95: rank(0.95),
    p99: rank(0.99),
    max: sorted.at(-1)!,
  }
}

/** The middle value; the mean of the two middle ones for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('no values for a median')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now()
  const value = await fn()
  return { ms: performance.now() - start, value }
}

export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0)
  if (ms >= 10) return ms.toFixed(1)
  return ms.toFixed(2)
}

/**
 * Left-aligns the first `leftColumns` columns (text) and right-aligns the rest, so numbers
 * line up.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  leftColumns = 1,
) {
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => r[col]?.length ?? 0)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, col) =>
        col < leftColumns ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!),
      )
      .join(' | ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n')
}
