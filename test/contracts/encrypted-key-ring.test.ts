import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { generateKeyRingValue, parseKeyRing } from '../../src/storage/key-ring.js'

const KEY_A = randomBytes(32).toString('base64')
const KEY_B = randomBytes(32).toString('base64')

describe('parseKeyRing', () => {
  it('takes a single base64 key, deriving a stable id', () => {
    const ring = parseKeyRing(KEY_A)

    expect(ring.current.id).toMatch(/^[0-9a-f]{8}$/)
    expect(parseKeyRing(KEY_A).current.id).toBe(ring.current.id)
    expect(parseKeyRing(KEY_B).current.id).not.toBe(ring.current.id)
    expect([...ring.byId.keys()]).toEqual([ring.current.id])
    expect(ring.current.secret.export()).toEqual(Buffer.from(KEY_A, 'base64'))
  })

  it('takes a ring whose last entry is the current key, named or bare', () => {
    const ring = parseKeyRing(` old:${KEY_A} , ${KEY_B}`)

    expect(ring.current.id).toBe(parseKeyRing(KEY_B).current.id)
    expect([...ring.byId.keys()]).toEqual(['old', ring.current.id])
  })

  it('accepts base64url keys', () => {
    const key = randomBytes(32).toString('base64url')

    expect(parseKeyRing(`k:${key}`).current.secret.export().toString('base64url')).toBe(key)
  })

  it.each([
    ['an empty value', '', /^ENCRYPTION_KEY entry 1 is empty$/],
    ['a trailing comma', `${KEY_A},`, /^ENCRYPTION_KEY entry 2 is empty$/],
    ['a short key', `a:${randomBytes(16).toString('base64')}`, /entry 1: key is 16 bytes, not 32/],
    ['a hex key', randomBytes(32).toString('hex'), /entry 1: key is 48 bytes, not 32/],
    ['a key that is not base64', 'a:not base64!', /entry 1: key is not base64/],
    ['a duplicate id', `a:${KEY_A},a:${KEY_B}`, /key id "a" appears more than once/],
    ['the same bare key twice', `${KEY_A},${KEY_A}`, /appears more than once/],
    ['an id with a space', `my key:${KEY_A}`, /entry 1: key id must be 1-32 of/],
    ['an id over 32 characters', `${'k'.repeat(33)}:${KEY_A}`, /entry 1: key id must be/],
    ['an empty id', `:${KEY_A}`, /entry 1: key id must be/],
  ])('rejects %s with a one-line message that shows no key', (_, value, message) => {
    expect(() => parseKeyRing(value)).toThrow(message)
    try {
      parseKeyRing(value)
    } catch (error) {
      const text = (error as Error).message
      expect(text).not.toContain('\n')
      expect(text).not.toContain(KEY_A)
      expect(text).not.toContain(KEY_B)
    }
  })
})

describe('generateKeyRingValue', () => {
  it('makes a fresh value that parses', () => {
    const value = generateKeyRingValue()

    expect(parseKeyRing(value).current.secret.symmetricKeySize).toBe(32)
    expect(generateKeyRingValue()).not.toBe(value)
  })
})

it('keeps key material out of logs', () => {
  expect(inspect(parseKeyRing(`a:${KEY_A}`), { depth: 10 })).not.toContain(KEY_A)
})
