import { randomBytes } from 'node:crypto'
import { text } from 'node:stream/consumers'
import type { ParseArgsConfig } from 'node:util'
import type { CliContext } from './cli-context.js'

type Options = NonNullable<ParseArgsConfig['options']>
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>

/** One command: its options for parseArgs, its positional arguments, and what it does. */
export interface Command {
  summary: string
  /** Names of the positional arguments, all required, in order. */
  args: string[]
  options: Options
  run(ctx: CliContext, args: string[], values: Values, out: (line: string) => void): Promise<void>
}

/** Thrown for a command line that cannot be run as given: exit code 2, with the usage. */
export class UsageError extends Error {}

const DAY_SECONDS = 24 * 3600
const GENERATED_PASSWORD_BYTES = 18

function positiveInt(name: string, value: Values[string], fallback: number) {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer`)
  return n
}

/**
 * The operator's commands, keyed "<group> <verb>". To add one, add an entry: parsing,
 * usage text and exit codes come from the table.
 */
export const COMMANDS: Record<string, Command> = {
  'users list': {
    summary: 'List live accounts in email order',
    args: [],
    options: {
      limit: { type: 'string' },
      after: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(ctx, _args, values, out) {
      const users = await ctx.admin.list(
        positiveInt('limit', values.limit, 1000),
        values.after as string | undefined,
      )
      for (const user of users) {
        const status = user.disabled_at ? 'disabled' : 'active'
        const created = user.created_at.toISOString()
        out(
          values.json
            ? JSON.stringify({ id: user.id, email: user.email, created_at: created, status })
            : `${user.id}  ${user.email}  ${created}  ${status}`,
        )
      }
    },
  },
  'users add': {
    summary: 'Create an account (whatever REGISTRATION says); prints a generated password',
    args: ['email'],
    options: { 'password-stdin': { type: 'boolean' } },
    async run(ctx, [email], values, out) {
      const given = values['password-stdin'] ? (await text(process.stdin)).trim() : undefined
      if (given !== undefined && (given.length < 8 || given.length > 1024))
        throw new UsageError('the password must be 8 to 1024 characters')
      const password = given ?? randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url')
      const user = await ctx.admin.add(email!, password)
      out(`created ${user.id} ${user.email}`)
      if (given === undefined) out(`password: ${password}`)
    },
  },
  'users disable': {
    summary: 'Suspend an account: its tokens stop working at once, its data is kept',
    args: ['email-or-id'],
    options: {},
    async run(ctx, [who], _values, out) {
      const user = await ctx.admin.setDisabled(who!, true)
      out(`disabled ${user.id} ${user.email}`)
    },
  },
  'users enable': {
    summary: 'Lift a suspension',
    args: ['email-or-id'],
    options: {},
    async run(ctx, [who], _values, out) {
      const user = await ctx.admin.setDisabled(who!, false)
      out(`enabled ${user.id} ${user.email}`)
    },
  },
  'users delete': {
    summary: 'Delete an account at once; its files are removed by the next sweep',
    args: ['email-or-id'],
    options: {},
    async run(ctx, [who], _values, out) {
      const user = await ctx.admin.delete(who!)
      out(`deleted ${user.id} ${user.email}`)
    },
  },
  'users set-quota': {
    summary:
      'Set an account\'s storage quota in bytes; "default" for DEFAULT_QUOTA_BYTES, 0 for unlimited',
    args: ['email-or-id', 'bytes'],
    options: {},
    async run(ctx, [who, bytes], _values, out) {
      const quota = bytes === 'default' ? null : Number(bytes)
      if (quota !== null && !(Number.isSafeInteger(quota) && quota >= 0))
        throw new UsageError('<bytes> must be a whole number of bytes (0: unlimited) or "default"')
      const user = await ctx.admin.setQuota(who!, quota)
      const { usedBytes, quotaBytes } = user.usage
      out(`${user.id} ${user.email} uses ${usedBytes} of ${quotaBytes ?? 'unlimited'} bytes`)
    },
  },
  'invites create': {
    summary: 'A one-time invite to register (REGISTRATION=invite); the token is shown once',
    args: [],
    options: { days: { type: 'string' }, note: { type: 'string' } },
    async run(ctx, _args, values, out) {
      const days = positiveInt('days', values.days, 7)
      const invite = await ctx.admin.createInvite(
        days * DAY_SECONDS,
        (values.note as string | undefined) ?? null,
      )
      out(invite.token)
      ctx.notes.push(`invite ${invite.id} expires ${invite.expires_at.toISOString()}`)
    },
  },
  'sessions revoke': {
    summary: 'End every session of an account: its tokens stop working at once',
    args: ['email-or-id'],
    options: {},
    async run(ctx, [who], _values, out) {
      const n = await ctx.admin.revokeSessions(who!)
      out(`revoked ${n} session${n === 1 ? '' : 's'}`)
    },
  },
}

export function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, command]) => {
    const args = command.args.map((a) => `<${a}>`).join(' ')
    const options = Object.entries(command.options)
      .map(([option, spec]) =>
        spec.type === 'boolean' ? `[--${option}]` : `[--${option} <value>]`,
      )
      .join(' ')
    return `  ${[name, args, options].filter(Boolean).join(' ')}\n      ${command.summary}`
  })
  return `usage: satchel <command> [options]\n\ncommands:\n${lines.join('\n')}\n`
}
