import { afterAll, afterEach, expect } from 'vitest'
import { takeViolations, type Violation } from './contract.js'

// Fails the test (or, for requests made after the last test, the file) whose requests got a
// response that /openapi.json does not describe. See contract.ts.
function expectNone(violations: Violation[]) {
  const lines = violations.map((v) => `${v.method} ${v.route} → ${v.status}: ${v.problem}`)
  expect(lines, 'responses that /openapi.json does not describe').toEqual([])
}

afterEach(() => expectNone(takeViolations()))
afterAll(() => expectNone(takeViolations()))
