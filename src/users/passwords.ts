import { hash, verify } from '@node-rs/argon2'

// OWASP's argon2id minimum (19 MiB, t=2, p=1); argon2id is the library's default algorithm.
const PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMS)
}

export async function verifyPassword(encoded: string, password: string): Promise<boolean> {
  try {
    return await verify(encoded, password)
  } catch {
    return false
  }
}
