import { describe, expect, it } from 'vitest'
import { isDatabaseUnavailable } from './db.js'

describe('isDatabaseUnavailable', () => {
  it.each([
    [{ code: '57P01', message: 'terminating connection due to administrator command' }, true],
    [{ code: '08006', message: 'connection failure' }, true],
    [new Error('Connection terminated unexpectedly'), true],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      true,
    ],
    [{ code: '23505', message: 'duplicate key value violates unique constraint' }, false],
    [new Error('syntax error at or near "selec"'), false],
    [undefined, false],
  ])('%o → %s', (err, expected) => {
    expect(isDatabaseUnavailable(err)).toBe(expected)
  })
})
