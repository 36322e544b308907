import type { Kysely } from 'kysely'
import type { DB } from '../schema.js'

export interface UserRecord {
  id: string
  email: string
  created_at: Date
}

const UNIQUE_VIOLATION = '23505'

export class UsersRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** Returns undefined when the email is already registered. */
  async insert(email: string, passwordHash: string): Promise<UserRecord | undefined> {
    try {
      return await this.db
        .insertInto('users')
        .values({ email, password_hash: passwordHash })
        .returning(['id', 'email', 'created_at'])
        .executeTakeFirstOrThrow()
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) return undefined
      throw err
    }
  }

  findByEmail(email: string) {
    return this.db
      .selectFrom('users')
      .select(['id', 'email', 'created_at', 'password_hash'])
      .where('email', '=', email)
      .executeTakeFirst()
  }

  findById(id: string): Promise<UserRecord | undefined> {
    return this.db
      .selectFrom('users')
      .select(['id', 'email', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst()
  }
}
