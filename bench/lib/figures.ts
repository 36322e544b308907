import { appendFileSync } from 'node:fs'
import { renderTable } from './stats.js'

/**
 * One line of `npm run bench`'s summary: a figure of Satchel's beside its baseline from the
 * same run, with the CPU both spent and the target it is held to.
 */
export interface Figure {
  figure: string
  satchel: string
  baseline: string
  /** Satchel's figure over the baseline's, as the target reads it. */
  ratio: string
  /** Server CPU per request or per GiB: Satchel's, the baseline's. */
  cpu: string
  target: string
  pass: boolean
}

export const FIGURE_HEADER = [
  'figure',
  'satchel',
  'baseline (same run)',
  'ratio',
  'server CPU: satchel / baseline',
  'target',
  'verdict',
] as const

export function figureRow(f: Figure): string[] {
  return [f.figure, f.satchel, f.baseline, f.ratio, f.cpu, f.target, f.pass ? 'PASS' : 'FAIL']
}

/** Environment variable naming the file bench/run-all.ts collects every bench's figures in. */
export const FIGURES_FILE_VARIABLE = 'BENCH_FIGURES_FILE'

/**
 * Prints a bench's figures as its own table and, under bench/run-all.ts, hands them over for
 * the summary (one JSON line each).
 */
export function reportFigures(bench: string, figures: readonly Figure[]) {
  console.log(`\nfigures (${bench})`)
  console.log(renderTable(FIGURE_HEADER, figures.map(figureRow), FIGURE_HEADER.length))
  const file = process.env[FIGURES_FILE_VARIABLE]
  if (!file) return
  for (const figure of figures) appendFileSync(file, `${JSON.stringify({ bench, ...figure })}\n`)
}

export const fixed = (value: number, digits = 1) => value.toFixed(digits)
export const thousands = (value: number) => Math.round(value).toLocaleString('en')
export const times = (ratio: number) => `${ratio.toFixed(2)}×`
