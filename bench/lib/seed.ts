import { type Kysely, sql } from 'kysely'
import type { DB } from '../../src/schema.js'

/**
 * Word pool for generated names. Chosen so no word contains another (a hit for `lease`
 * would also count every `release`), which keeps each word's selectivity predictable:
 * two picks per name out of ~60 words, on ~85% of names, puts each near 2.5–3% of rows.
 */
export const VOCABULARY = [
  'invoice',
  'report',
  'photo',
  'contract',
  'budget',
  'meeting',
  'notes',
  'draft',
  'final',
  'backup',
  'scan',
  'receipt',
  'resume',
  'presentation',
  'vacation',
  'family',
  'project',
  'design',
  'logo',
  'mockup',
  'screenshot',
  'recording',
  'podcast',
  'episode',
  'lecture',
  'thesis',
  'chapter',
  'manual',
  'spec',
  'roadmap',
  'quarterly',
  'summary',
  'proposal',
  'agreement',
  'statement',
  'tax',
  'payroll',
  'export',
  'archive',
  'dataset',
  'sample',
  'template',
  'wedding',
  'birthday',
  'holiday',
  'beach',
  'mountain',
  'concert',
  'interview',
  'demo',
  'release',
  'build',
  'source',
  'assets',
  'website',
  'newsletter',
  'poster',
  'flyer',
  'letter',
  'passport',
  'insurance',
  'medical',
  'mortgage',
] as const

/** Appears in ~0.01% of names: the needle a user looks for once they forgot where it went. */
export const RARE_WORD = 'zanzibar'

/** [type, extension, share of files in percent]; the shares sum to 100. */
const CONTENT_TYPES: readonly [string, string, number][] = [
  ['image/jpeg', 'jpg', 25],
  ['image/png', 'png', 10],
  ['image/heic', 'heic', 3],
  ['image/webp', 'webp', 2],
  ['image/gif', 'gif', 1],
  ['video/mp4', 'mp4', 6],
  ['video/quicktime', 'mov', 2],
  ['video/webm', 'webm', 1],
  ['audio/mpeg', 'mp3', 4],
  ['audio/wav', 'wav', 1],
  ['audio/ogg', 'ogg', 1],
  ['application/pdf', 'pdf', 13],
  ['text/plain', 'txt', 4],
  ['text/csv', 'csv', 2],
  ['text/markdown', 'md', 1],
  ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'docx', 4],
  ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'xlsx', 3],
  ['application/vnd.openxmlformats-officedocument.presentationml.presentation', 'pptx', 1],
  ['application/msword', 'doc', 1],
  ['application/zip', 'zip', 5],
  ['application/gzip', 'tar.gz', 1],
  ['application/x-7z-compressed', '7z', 1],
  ['application/json', 'json', 2],
  ['application/octet-stream', 'bin', 5],
  ['application/x-msdownload', 'exe', 1],
]

export interface SeedOptions {
  users: number
  files: number
  /** Every n-th file belongs to the heavy user, so its rows are interleaved with everyone's. */
  heavyEvery: number
  /** created_at runs from here over `spanDays`, in insertion order, as a live table grows. */
  start: Date
  spanDays: number
  /**
   * The heavy user's id: a user that exists already (registered through the API, so a bench
   * can log in as it) instead of the seeded `bench-user-1`.
   */
  heavyOwnerId?: string
}

export interface Seeded {
  heavyOwnerId: string
  heavyFiles: number
}

export async function seed(db: Kysely<DB>, options: SeedOptions): Promise<Seeded> {
  const { users, files, heavyEvery, start, spanDays } = options
  const heavyOwner = options.heavyOwnerId
    ? sql`${options.heavyOwnerId}::uuid`
    : sql`md5('bench-user-1')::uuid`
  // One slot per share point, so picking a uniform slot picks a type by its share.
  const slots = CONTENT_TYPES.flatMap(([mime, ext, share]) =>
    Array.from({ length: share }, () => ({ mime, ext })),
  )
  if (slots.length !== 100) throw new Error(`content type shares sum to ${slots.length}, not 100`)
  const mimes = slots.map((s) => s.mime)
  const exts = slots.map((s) => s.ext)
  const vocabulary = [...VOCABULARY]
  const slotMs = (spanDays * 86_400_000) / files

  await db.transaction().execute(async (trx) => {
    // Same data on every run, so runs compare; gen_random_uuid() is unaffected (ids only).
    await sql`select setseed(0.4242)`.execute(trx)
    await sql`
      insert into users (id, email, password_hash)
      select md5('bench-user-' || n)::uuid, 'user' || n || '@bench.test', 'bench-not-a-hash'
      from generate_series(1, ${sql.lit(users)}) as n
    `.execute(trx)
    await sql`
      insert into files (id, owner_id, name, size, content_type, sha256, storage_key, driver,
                         status, created_at, updated_at, expires_at)
      select
        gen_random_uuid(),
        case when g % ${sql.lit(heavyEvery)} = 0 then ${heavyOwner}
          -- Squared, so a few users own thousands of files and most own a handful.
          else md5('bench-user-' || (2 + floor(${sql.lit(users - 1)} * power(r_owner, 2))::int))::uuid
        end,
        case
          when r_name < 0.15 then
            case split_part(mime, '/', 1)
              when 'image' then 'IMG_' when 'video' then 'VID_' when 'audio' then 'REC_'
              else 'Scan_' end || lpad(num::text, 4, '0') || '.' || ext
          when r_name < 0.55 then w1 || '_' || w2 || '_' || extract(year from created) || '.' || ext
          when r_name < 0.85 then initcap(w1) || ' ' || w2 || ' ' || num || '.' || ext
          else w1 || '-' || w2 || '-v' || num % 20 || '.' || ext
        end,
        size,
        mime,
        encode(sha256(convert_to(g::text, 'UTF8')), 'hex'),
        'bench/' || g,
        'local',
        'available',
        created,
        created,
        case
          when r_exp < 0.03 then now() + (1 + r_exp * 3000) * interval '1 day'
          -- Expired but not yet swept: still 'available', hidden by the expiry condition.
          when r_exp > 0.998 then created + interval '1 day'
        end
      from (
        select
          g,
          -- Millisecond precision like the service's own rows: keyset cursors carry JS Dates.
          date_trunc('milliseconds',
            ${start.toISOString()}::timestamptz + (g - 1 + random()) * ${sql.lit(slotMs)} * interval '1 millisecond') as created,
          (${mimes}::text[])[t] as mime,
          (${exts}::text[])[t] as ext,
          case when random() < 0.0001 then ${RARE_WORD}
            else (${vocabulary}::text[])[1 + floor(random() * ${sql.lit(vocabulary.length)})::int] end as w1,
          (${vocabulary}::text[])[1 + floor(random() * ${sql.lit(vocabulary.length)})::int] as w2,
          floor(random() * 10000)::int as num,
          -- Log-uniform over 100 B .. 5 GB, plus the odd empty file.
          case when random() < 0.005 then 0
            else floor(100 * power(5e7::float8, random()))::bigint end as size,
          random() as r_name,
          random() as r_owner,
          random() as r_exp
        from (
          select g, 1 + floor(random() * 100)::int as t
          from generate_series(1, ${sql.lit(files)}) as g
          -- OFFSET 0 keeps each volatile random() evaluated once per row, not once per use.
          offset 0
        ) as numbered
        offset 0
      ) as r
      order by g
    `.execute(trx)
    // As an upload would: each owner's usage counts the files. Without it the sweeper, taking
    // the seeded files that have expired, failed every minute on usage below zero.
    await sql`
      update users set used_bytes = used_bytes + seeded.bytes
      from (select owner_id, sum(size) as bytes from files where storage_key like 'bench/%'
            group by owner_id) as seeded
      where users.id = seeded.owner_id
    `.execute(trx)
  })
  await sql`analyze users`.execute(db)
  // Autovacuum would soon do the same after so many inserts; until the visibility map is
  // set, index-only scans (the name search's) read the table for every row they check.
  await sql`vacuum analyze files`.execute(db)

  const heavy = await db
    .selectFrom('files')
    .select((eb) => ['owner_id', eb.fn.countAll<number>().as('n')])
    .where('owner_id', '=', sql<string>`${heavyOwner}`)
    .groupBy('owner_id')
    .executeTakeFirstOrThrow()
  return { heavyOwnerId: heavy.owner_id, heavyFiles: Number(heavy.n) }
}
