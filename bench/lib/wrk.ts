import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { readCpuSeconds } from './processes.js'

const run = promisify(execFile)

/** How a run varies its requests; without one every request is the same. */
export type Variation =
  /** Request paths (with their query strings) taken in turn, each by one thread only. */
  | { paths: readonly string[] }
  /** `Range: bytes=a-b` of `bytes` at random offsets of a `fileBytes` file. */
  | { rangeBytes: number; fileBytes: number; seed: number }

export interface WrkOptions {
  /** Full URL of the first request: scheme, host, port and path. */
  url: string
  seconds: number
  connections: number
  headers?: Record<string, string>
  vary?: Variation
  /** The server process whose CPU time is charged to the run. */
  serverPid: number
  timeoutSeconds?: number
  /**
   * How long each connection waits after a response before its next request (wrk's delay()).
   * Without it, a faster server is also sent more requests at once, and handles more of them
   * per wake-up: CPU per request then compares servers at different paces.
   */
  pauseMs?: number
}

export interface WrkRun {
  requests: number
  seconds: number
  reqPerSec: number
  bytes: number
  /** Latency in milliseconds, from wrk's histogram. */
  p50: number
  p95: number
  p99: number
  max: number
  /** Connection errors, timeouts and statuses above 399. */
  errors: number
  /**
   * With `paths`: how far into the list the run went, requests still in flight at the end
   * included; 0 otherwise. More than the list's length means some paths were sent twice.
   */
  consumed: number
  /** The server's user + system CPU time during the run, all its threads. */
  cpuSeconds: number
  cpuUsPerRequest: number
}

/** Fails early, with what to do, when wrk is not installed. */
export function requireWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
  } catch (error) {
    // wrk prints its usage and exits 1 on --version: only a missing binary throws ENOENT.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('wrk is not installed: `apt-get install wrk` (Debian and Ubuntu ship it)')
    }
  }
}

// Latencies and counts come out of wrk's own done() as one JSON line, so nothing depends on
// the layout of its human-readable summary.
const DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  local consumed = 0
  for _, thread in ipairs(all_threads or {}) do
    local sent = thread:get('sent') or 0
    if sent > 0 then
      local last = (sent - 1) * thread:get('thread_count') + thread:get('thread_index') + 1
      if last > consumed then consumed = last end
    end
  end
  io.write(string.format(
    'WRK-JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,' ..
    '"p50":%.0f,"p95":%.0f,"p99":%.0f,"max":%.0f,"consumed":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    consumed))
end
`

// Requests are built once in init(): wrk shares the two cores with the server, and building
// one per request in Lua would cost the client more than serving it costs the server.
function threadsScript(threads: number) {
  return `
all_threads = {}
setup = function(thread)
  thread:set('thread_index', #all_threads)
  thread:set('thread_count', ${threads})
  table.insert(all_threads, thread)
end
local requests = {}
local next_request = 1
sent = 0
request = function()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  sent = sent + 1
  return r
end
`
}

function pathsScript(pathsFile: string, threads: number) {
  return `${threadsScript(threads)}
init = function(args)
  -- Each thread takes every n-th path: none asks for a path another thread just asked for,
  -- and a path comes back only after the whole list has gone round.
  local i = 0
  for line in io.lines('${pathsFile}') do
    if i % ${threads} == thread_index then requests[#requests + 1] = wrk.format(nil, line) end
    i = i + 1
  end
end
${DONE}`
}

function rangesScript(threads: number, rangeBytes: number, fileBytes: number, seed: number) {
  return `${threadsScript(threads)}
init = function(args)
  math.randomseed(${seed} + thread_index)
  for i = 1, 1000 do
    local start = math.random(0, ${fileBytes - rangeBytes})
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers['Range'] = 'bytes=' .. start .. '-' .. (start + ${rangeBytes - 1})
    requests[i] = wrk.format(nil, nil, headers)
  end
end
${DONE}`
}

/**
 * One wrk run, from outside Satchel's process: `-c connections` keep-alive connections on
 * up to 2 threads (the machine's cores) for `seconds`. Returns wrk's counts and the server's
 * CPU per request, the figure the machine's noise disturbs least.
 */
export async function wrk(options: WrkOptions): Promise<WrkRun> {
  const dir = await mkdtemp(join(tmpdir(), 'satchel-bench-wrk-'))
  try {
    const script = join(dir, 'script.lua')
    const vary = options.vary
    const threads = Math.min(2, options.connections)
    let lua = DONE
    if (vary && 'paths' in vary) {
      if (vary.paths.length < threads) throw new Error('wrk: fewer paths than threads')
      const pathsFile = join(dir, 'paths.txt')
      await writeFile(pathsFile, `${vary.paths.join('\n')}\n`)
      lua = pathsScript(pathsFile, threads)
    } else if (vary) {
      // LuaJIT's math.random takes 32-bit integers.
      if (vary.fileBytes - vary.rangeBytes >= 2 ** 31) throw new Error('wrk: file over 2 GiB')
      lua = rangesScript(threads, vary.rangeBytes, vary.fileBytes, vary.seed)
    }
    const pauseMs = options.pauseMs ?? 0
    if (pauseMs > 0) lua += `delay = function() return ${pauseMs} end\n`
    await writeFile(script, lua)
    const args = [
      `-t${threads}`,
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      `--timeout=${options.timeoutSeconds ?? 10}s`,
      '-s',
      script,
      ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => [
        '-H',
        `${name}: ${value}`,
      ]),
      options.url,
    ]
    const cpuBefore = readCpuSeconds(options.serverPid)
    const { stdout } = await run('wrk', args, { maxBuffer: 1 << 20 })
    const cpuSeconds = readCpuSeconds(options.serverPid) - cpuBefore
    const line = /^WRK-JSON (.+)$/m.exec(stdout)?.[1]
    if (!line) throw new Error(`wrk printed no summary:\n${stdout}`)
    const raw = JSON.parse(line) as {
      requests: number
      duration_us: number
      bytes: number
      errors: number
      p50: number
      p95: number
      p99: number
      max: number
      consumed: number
    }
    const seconds = raw.duration_us / 1e6
    return {
      requests: raw.requests,
      seconds,
      reqPerSec: raw.requests / seconds,
      bytes: raw.bytes,
      p50: raw.p50 / 1000,
      p95: raw.p95 / 1000,
      p99: raw.p99 / 1000,
      max: raw.max / 1000,
      errors: raw.errors,
      consumed: raw.consumed,
      cpuSeconds,
      cpuUsPerRequest: raw.requests > 0 ? (1e6 * cpuSeconds) / raw.requests : Number.NaN,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
