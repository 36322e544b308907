import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname
const BUILT_MAIN = new URL('../../dist/main.js', import.meta.url).pathname

/** The node flags of package.json's start script: `exec node <flags> dist/main.js`. */
function startScriptNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  const words = (pkg.scripts.start as string).trim().split(/\s+/)
  const node = words.indexOf('node')
  if (node < 0 || words.at(-1) !== 'dist/main.js') {
    throw new Error(`unexpected start script: ${pkg.scripts.start}`)
  }
  return words.slice(node + 1, -1)
}

export interface ServerProcess {
  url: string
  child: ChildProcess
  output(): string
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/**
 * Runs `src/main.ts` as `npm start` runs the build of it (same node flags, then `nodeFlags`:
 * Node 20 refuses some, such as --cpu-prof, in NODE_OPTIONS), with the given environment.
 * With `built`, runs that build itself (`dist/main.js`, which `npm run build` writes), as
 * `npm start` and the image do: benchmarks measure what users run, not tsx's loader.
 */
export function runMain(
  env: Record<string, string>,
  nodeFlags: readonly string[] = [],
  { built = false }: { built?: boolean } = {},
) {
  const entry = built ? [BUILT_MAIN] : ['--import', 'tsx', MAIN]
  const flags = [...startScriptNodeFlags(), ...nodeFlags, ...entry]
  const child = spawn(process.execPath, flags, {
    env: {
      PATH: process.env.PATH,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // Tests sign up through /register; with DATABASE_URL it would default to closed.
      REGISTRATION: 'open',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, output: () => output, exited }
}

/** Starts a server on a free port and waits until it logs that it is ready. */
export async function startServer(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ServerProcess> {
  const port = await freePort()
  const { child, output, exited } = runMain({
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'info',
    ...env,
  })
  const deadline = Date.now() + timeoutMs
  while (!output().includes('satchel ready')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`server did not start:\n${output()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal)
      return exited
    },
  }
}
