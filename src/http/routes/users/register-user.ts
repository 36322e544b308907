import type { UsersService } from '../../../users/users-service.js'
import { strictLimit } from '../../plugins/rate-limit.js'
import type { App } from '../../types.js'
import { Credentials, User, userResponse } from './schemas.js'

export function registerUser(app: App, users: UsersService, perMinute: number) {
  app.post(
    '/register',
    {
      config: strictLimit(perMinute),
      schema: {
        tags: ['accounts'],
        summary: 'Create an account',
        body: Credentials,
        response: { 201: User },
      },
    },
    async (req, reply) => {
      const user = await users.register(req.body.email, req.body.password)
      return reply.code(201).send(userResponse(user))
    },
  )
}
