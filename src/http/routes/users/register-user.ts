import type { UsersService } from '../../../users/users-service.js'
import { anonymous, problems } from '../../openapi.js'
import { strictLimit } from '../../plugins/rate-limit.js'
import type { App } from '../../types.js'
import { RegisterBody, User, userResponse } from './schemas.js'

export function registerUser(app: App, users: UsersService, perMinute: number) {
  app.post(
    '/register',
    {
      config: strictLimit(perMinute),
      schema: {
        tags: ['accounts'],
        summary: 'Create an account, as REGISTRATION allows (open, closed, or invite)',
        operationId: 'registerUser',
        security: anonymous,
        body: RegisterBody,
        response: {
          201: User,
          ...problems({
            400: '`invalid_email`, or `validation_failed` (a password outside 8–1024 characters)',
            403: '`registration_closed`, or `invalid_invite` (REGISTRATION=invite)',
            409: '`email_taken`',
          }),
        },
      },
    },
    async (req, reply) => {
      const user = await users.register(req.body.email, req.body.password, req.body.invite)
      return reply.code(201).send(userResponse(user))
    },
  )
}
