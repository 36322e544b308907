import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from '../../../errors.js'
import type { FilesService } from '../../../files/files-service.js'
import type { SharesService } from '../../../shares/shares-service.js'
import { anonymous, HtmlPage } from '../../openapi.js'
import { prefersHtml } from '../../pages/negotiate.js'
import { sendPage } from '../../pages/page.js'
import { sharedFilePage, shareErrorPage } from '../../pages/share-pages.js'
import { sendFile } from '../../send-file.js'
import type { App } from '../../types.js'
import { downloadResponses } from '../files/schemas.js'
import { sharedFile } from './get-share-info.js'
import { linkProblems, passwordFromHeader, SharePasswordHeader, TokenParams } from './schemas.js'

/**
 * Public downloads: no account, only the link. The password travels in the
 * x-share-password header or a POST body, never in the URL (URLs end up in logs).
 *
 * The same URL serves people and programs. A browser (Accept ranking text/html first) gets
 * a page about the file, and pages for the link's errors; its Download button asks for
 * `?download=1`, so only real downloads spend the link's budget. Everything else (curl,
 * wget, fetch's * / *), any ranged request, and `?download=1` get the bytes.
 */
export function downloadShare(app: App, shares: SharesService, files: FilesService) {
  const open = (req: FastifyRequest, token: string, password: string | undefined) =>
    shares.open(token, password, req.ip ?? 'unknown')

  const download = async (
    req: FastifyRequest,
    reply: FastifyReply,
    token: string,
    password?: string,
  ) => {
    const { share, file } = await open(req, token, password)
    // Every body, full or ranged, is paid for from the link's byte budget.
    return sendFile(
      req,
      reply,
      file,
      (range) => files.openContent(file, range),
      (length) => shares.reserveDownload(share, length),
    )
  }

  /** Runs `respond`; a browser sees the link's errors as pages, a program as problem+json. */
  const answer = async (
    req: FastifyRequest,
    reply: FastifyReply,
    token: string,
    respond: () => Promise<unknown>,
  ) => {
    // One URL, two representations: a cache must not hand the page to curl, or the reverse.
    reply.header('vary', 'Accept')
    try {
      return await respond()
    } catch (err) {
      const page =
        err instanceof AppError && prefersHtml(req.headers.accept)
          ? shareErrorPage(token, err)
          : undefined
      if (!page) throw err
      return sendPage(reply, page)
    }
  }

  app.get(
    '/s/:token',
    {
      schema: {
        tags: ['public'],
        summary:
          'Download a shared file (Range, ETag), or a page about it for a browser; password in x-share-password',
        operationId: 'downloadShare',
        security: anonymous,
        params: TokenParams,
        headers: SharePasswordHeader,
        querystring: Type.Object({
          download: Type.Optional(
            Type.Literal('1', {
              description: 'The bytes even for a browser (its Download button)',
            }),
          ),
        }),
        response: {
          ...downloadResponses,
          200: {
            ...downloadResponses[200],
            description: `${downloadResponses[200].description}; or, for a browser, a page about the file with a Download button`,
            content: { 'text/html': { schema: HtmlPage }, ...downloadResponses[200].content },
          },
          ...linkProblems,
        },
      },
    },
    (req, reply) => {
      const { token } = req.params
      const password = passwordFromHeader(req)
      const page = prefersHtml(req.headers.accept) && !req.query.download && !req.headers.range
      return answer(req, reply, token, async () => {
        if (!page) return download(req, reply, token, password)
        const { share, file } = await open(req, token, password)
        return sendPage(reply, sharedFilePage(token, sharedFile(share, file, shares)))
      })
    },
  )

  app.post(
    '/s/:token',
    {
      schema: {
        tags: ['public'],
        summary: 'Download a password-protected shared file, the password in a form or JSON body',
        operationId: 'downloadShareWithPassword',
        security: anonymous,
        params: TokenParams,
        body: Type.Object({ password: Type.String({ maxLength: 1024 }) }),
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        response: { ...downloadResponses, ...linkProblems },
      },
    },
    (req, reply) =>
      answer(req, reply, req.params.token, () =>
        download(req, reply, req.params.token, req.body.password),
      ),
  )
}
