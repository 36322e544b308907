/**
 * The floor Satchel's GET /files is measured against: a bare Fastify route that answers every
 * GET /files with the same bytes, a response body Satchel gave for the same request. No
 * authentication, rate limit, database, serialization or logging: what is left is Fastify
 * and HTTP on this machine. It runs in its own process, as Satchel does.
 *
 * Started by bench/api.ts as `node --import tsx bench/baseline-json-server.ts` with
 * BENCH_BODY_FILE set; prints `listening <port>` once it accepts connections.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'

const bodyFile = process.env.BENCH_BODY_FILE
if (!bodyFile) throw new Error('BENCH_BODY_FILE is required')
const body = readFileSync(bodyFile)

const app = Fastify({ logger: false })
app.get('/files', (_req, reply) => {
  reply.header('content-type', 'application/json; charset=utf-8').send(body)
})

const address = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`listening ${new URL(address).port}\n`)
