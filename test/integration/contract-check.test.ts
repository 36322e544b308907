import swagger from '@fastify/swagger'
import { Type } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/http/types.js'
import { checkContract, takeViolations } from '../helpers/contract.js'

// The check every buildTestApp app carries (contract.ts), on a tiny app of known faults.
interface Thing {
  Params: { id: string }
  Querystring: { answer?: string }
}

// Without a type provider, so the handler may send what the schema does not allow.
const app = Fastify()
await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } } })
app.get(
  '/things/:id',
  {
    schema: {
      params: Type.Object({ id: Type.String() }),
      querystring: Type.Object({ answer: Type.Optional(Type.String()) }),
      response: {
        200: Type.Object({ name: Type.String() }),
        404: {
          description: 'gone',
          content: { 'application/problem+json': { schema: Type.Object({ code: Type.String() }) } },
        },
      },
    },
  },
  async (req: FastifyRequest<Thing>, reply: FastifyReply) => {
    switch (req.query.answer) {
      case 'teapot':
        return reply.code(418).send({ name: 'x' })
      case 'html':
        return reply.type('text/html').send('<p>hi</p>')
      case 'wrong-problem':
        return reply.code(404).type('application/problem+json').send('{"code":1}')
      default:
        return { name: req.params.id }
    }
  },
)
checkContract(app as unknown as App)
await app.ready()
afterAll(() => app.close())

describe('the contract check', () => {
  it('passes a response the document describes', async () => {
    const res = await app.inject({ url: '/things/a' })
    expect(res.statusCode).toBe(200)
    expect(takeViolations()).toEqual([])
  })

  it('records an undeclared status, an undeclared content type and a body off its schema', async () => {
    for (const answer of ['teapot', 'html', 'wrong-problem']) {
      await app.inject({ url: `/things/a?answer=${answer}` })
    }
    expect(takeViolations()).toEqual([
      { method: 'GET', route: '/things/:id', status: 418, problem: 'status not declared' },
      {
        method: 'GET',
        route: '/things/:id',
        status: 200,
        problem: 'content type "text/html" not declared',
      },
      {
        method: 'GET',
        route: '/things/:id',
        status: 404,
        problem: 'body does not match (application/problem+json): /code must be string',
      },
    ])
  })

  it('leaves the responses as they were', async () => {
    const res = await app.inject({ url: '/things/a?answer=teapot' })
    takeViolations()
    expect(res.statusCode).toBe(418)
    expect(res.json()).toEqual({ name: 'x' })
  })
})
