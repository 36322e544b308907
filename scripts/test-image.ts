// Builds the Dockerfile's image with docker or podman and smoke-tests it in the embedded and
// the production mode: health, register, upload, byte-identical download, non-root uid, the
// image's own HEALTHCHECK, private files under /data, and `stop` → exit code 0.
//
//   npm run test:image           exit 0: passed; 1: failed; 77: no container engine (skipped)
//
// CONTAINER_ENGINE=docker|podman picks one; otherwise the first that can run containers.
// The production mode uses the host's PostgreSQL (TEST_PG_URL, as the test suite does) and
// Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379); the containers share the host's
// network so they reach them on 127.0.0.1.
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import pg from 'pg'

const SKIPPED = 77
const IMAGE = 'satchel:test-image'
const root = new URL('../', import.meta.url).pathname
const pgUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

function log(message: string) {
  process.stdout.write(`test:image: ${message}\n`)
}

function canRunContainers(engine: string): boolean {
  const probe = spawnSync(engine, ['info'], { stdio: 'ignore', timeout: 30_000 })
  return probe.status === 0
}

const candidates = process.env.CONTAINER_ENGINE
  ? [process.env.CONTAINER_ENGINE]
  : ['docker', 'podman']
const engine = candidates.find(canRunContainers)
if (!engine) {
  log(`no container engine: ${candidates.join(' or ')} cannot run containers here; nothing tested`)
  process.exit(SKIPPED)
}
const podman = engine === 'podman'

/** Runs the engine and returns its stdout; throws with its stderr when it fails. */
function run(args: string[], options: { quiet?: boolean } = {}): string {
  return execFileSync(engine!, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', options.quiet ? 'pipe' : 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  }).trim()
}

// Podman on hosts with a cgroup layout crun refuses needs runc; its default ulimits may exceed
// what an unprivileged build may set (../shared/TOOLCHAIN.md). Docker needs neither.
const runtimeArgs = podman
  ? ['--runtime', 'runc', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768']
  : []

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

async function waitForHealth(url: string, container: string) {
  const deadline = Date.now() + 180_000
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false,
    )
    if (ok) return
    const state = run(['inspect', '--format', '{{.State.Status}}', container], { quiet: true })
    check(state === 'running', `container ${container} is ${state}:\n${logs(container)}`)
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`no answer on ${url}/healthz:\n${logs(container)}`)
}

function logs(container: string): string {
  const out = spawnSync(engine!, ['logs', '--tail', '40', container], { encoding: 'utf8' })
  return `${out.stdout}${out.stderr}`
}

async function postJson(url: string, body: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await res.text()
  check(res.ok, `POST ${url} → ${res.status} ${text}`)
  return JSON.parse(text) as Record<string, unknown>
}

/** Register, log in, upload 3 MiB, download it: the bytes must come back unchanged. */
async function roundTrip(url: string) {
  const credentials = { email: `image-${Date.now()}@example.test`, password: 'password1' }
  await postJson(`${url}/register`, credentials)
  const { access_token } = await postJson(`${url}/login`, credentials)
  const authorization = `Bearer ${access_token}`
  const bytes = randomBytes(3 * 1024 * 1024)
  const form = new FormData()
  form.append('file', new Blob([bytes]), 'smoke.bin')
  const upload = await fetch(`${url}/upload`, {
    method: 'POST',
    headers: { authorization },
    body: form,
  })
  const uploaded = await upload.text()
  check(upload.status === 201, `upload → ${upload.status} ${uploaded}`)
  const { id } = JSON.parse(uploaded) as { id: string }
  const download = await fetch(`${url}/files/${id}/content`, { headers: { authorization } })
  check(download.ok, `download → ${download.status}`)
  const got = Buffer.from(await download.arrayBuffer())
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
  check(sha(got) === sha(bytes), `downloaded ${got.length} bytes differ from the upload`)
}

/** Runs the image's own HEALTHCHECK now, rather than waiting for the engine's timer. */
function runHealthcheck(container: string) {
  if (podman) {
    run(['healthcheck', 'run', container])
    return
  }
  const test = JSON.parse(
    run(['inspect', '--format', '{{json .Config.Healthcheck.Test}}', IMAGE], { quiet: true }),
  ) as string[] | null
  check(test?.[0] === 'CMD', `the image has no HEALTHCHECK in exec form: ${JSON.stringify(test)}`)
  run(['exec', container, ...test.slice(1)])
}

async function smokeTest(mode: string, env: Record<string, string>, extraArgs: string[] = []) {
  const container = `satchel-test-image-${mode}-${process.pid}`
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const envArgs = Object.entries({ ...env, PORT: String(port), HOST: '127.0.0.1' }).flatMap(
    ([k, v]) => ['--env', `${k}=${v}`],
  )
  log(`${mode}: starting ${container} on ${url}`)
  run([
    'run',
    '--detach',
    '--name',
    container,
    '--network',
    'host',
    ...runtimeArgs,
    ...envArgs,
    ...extraArgs,
    IMAGE,
  ])
  try {
    await waitForHealth(url, container)
    await roundTrip(url)
    log(`${mode}: register, login, upload and byte-identical download passed`)
    const uid = run(['exec', container, 'id', '-u'], { quiet: true })
    check(uid !== '0', 'the process runs as root')
    log(`${mode}: runs as uid ${uid}`)
    runHealthcheck(container)
    log(`${mode}: the image's HEALTHCHECK passes`)
    const open = run(['exec', container, 'find', '/data', '-mindepth', '1', '-perm', '/077'], {
      quiet: true,
    })
    check(open === '', `group/other permissions under /data:\n${open}`)
    log(`${mode}: nothing under /data is group or world accessible`)
    run(['stop', '--time', '60', container], { quiet: true })
    const code = run(['inspect', '--format', '{{.State.ExitCode}}', container], { quiet: true })
    check(code === '0', `stopped with exit code ${code}:\n${logs(container)}`)
    log(`${mode}: stop → exit code 0`)
  } finally {
    spawnSync(engine!, ['rm', '--force', '--volumes', container], { stdio: 'ignore' })
  }
}

async function main() {
  log(`building ${IMAGE} with ${engine}`)
  try {
    // --format docker: buildah's default OCI format drops HEALTHCHECK.
    run(['build', ...(podman ? ['--format', 'docker', ...runtimeArgs] : []), '--tag', IMAGE, '.'])
  } catch (err) {
    log('the build failed; with no image registry, see scripts/standin-node-image.sh')
    throw err
  }
  log(
    `image node: ${run(['run', '--rm', ...runtimeArgs, IMAGE, 'node', '--version'], { quiet: true })}`,
  )

  // Embedded: no configuration at all, on a read-only root file system (only /data written).
  await smokeTest('embedded', {}, ['--read-only'])

  const database = `satchel_image_${process.pid}`
  const admin = new pg.Client({ connectionString: pgUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${database}`)
  try {
    const url = new URL(pgUrl)
    url.pathname = `/${database}`
    await smokeTest('production', {
      DATABASE_URL: url.toString(),
      REDIS_URL: redisUrl,
      REDIS_PREFIX: `satchel-image-${process.pid}:`,
      JWT_SECRET: randomBytes(48).toString('base64'),
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      // Production mode closes registration by default; the smoke test signs up its own user.
      REGISTRATION: 'open',
    })
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
  }
  log('passed')
}

main().catch((err) => {
  log(`FAILED: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
})
