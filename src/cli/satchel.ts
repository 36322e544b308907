import { parseArgs } from 'node:util'
import { ConfigError, parseConfig } from '../config.js'
import { AppError } from '../errors.js'
import { COMMANDS, UsageError, usage } from './commands.js'

// `npm run satchel -- <command>`; in the image, `node dist/cli/satchel.js <command>`.
const OK = 0
const FAILED = 1
const USAGE = 2

async function main(argv: string[]): Promise<number> {
  const [group, verb, ...rest] = argv
  if (group === undefined || group === 'help' || group === '--help' || group === '-h') {
    process.stdout.write(usage())
    return group === undefined ? USAGE : OK
  }
  const name = `${group} ${verb ?? ''}`.trim()
  const command = COMMANDS[name]
  if (!command) throw new UsageError(`unknown command "${name}"`)
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { positionals, values } = parsed
  if (positionals.length !== command.args.length) {
    const expected = command.args.map((a) => `<${a}>`).join(' ') || 'no arguments'
    throw new UsageError(`${name} takes ${expected}`)
  }
  const config = parseConfig(process.env)
  // Loaded only now: a usage error answers without loading the database and store drivers.
  const { openCliContext } = await import('./cli-context.js')
  const ctx = await openCliContext(config)
  try {
    await command.run(ctx, positionals, values, (line) => process.stdout.write(`${line}\n`))
  } finally {
    for (const note of ctx.notes) process.stderr.write(`satchel: ${note}\n`)
    await ctx.close()
  }
  return OK
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`satchel: ${err.message}\n\n${usage()}`)
      process.exit(USAGE)
    }
    // Expected failures (no such user, email taken, bad configuration) in one line.
    const known = err instanceof AppError || err instanceof ConfigError
    process.stderr.write(`satchel: ${known ? err.message : (err?.stack ?? String(err))}\n`)
    process.exit(FAILED)
  },
)
