import type { Generated, GeneratedAlways } from 'kysely'

/** The tables as Kysely sees them; migrations/ is the authority, this mirrors it. */
export interface DB {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  invites: InvitesTable
  files: FilesTable
  shares: SharesTable
  idempotency_keys: IdempotencyKeysTable
  tus_uploads: TusUploadsTable
}

export interface UsersTable {
  id: Generated<string>
  email: string
  password_hash: string
  created_at: Generated<Date>
  /** Null: the DEFAULT_QUOTA_BYTES in force; 0: unlimited (migrations/0012). */
  quota_bytes: number | null
  used_bytes: Generated<number>
  /** Suspended by the operator: its tokens are refused while set (migrations/0011). */
  disabled_at: Date | null
  /** Deleted and hidden; the sweeper removes the row once its files are gone. */
  deleted_at: Date | null
}

export interface InvitesTable {
  id: Generated<string>
  token_hash: string
  note: string | null
  created_at: Generated<Date>
  expires_at: Date
  used_at: Date | null
  used_by: string | null
}

export interface SessionsTable {
  id: string
  user_id: string
  user_agent: string | null
  ip: string | null
  created_at: Generated<Date>
  last_used_at: Generated<Date>
  revoked_at: Date | null
}

export interface RefreshTokensTable {
  id: Generated<string>
  session_id: string
  token_hash: string
  expires_at: Date
  used_at: Date | null
  created_at: Generated<Date>
}

export type FileStatus = 'pending' | 'available' | 'deleted'

export interface FilesTable {
  id: string
  owner_id: string
  name: string
  /** lower(name), kept by PostgreSQL: what a name search matches (migrations/0016). */
  name_folded: GeneratedAlways<string>
  size: Generated<number>
  content_type: Generated<string>
  claimed_content_type: string | null
  sha256: string | null
  storage_key: string
  driver: string
  status: FileStatus
  created_at: Generated<Date>
  updated_at: Generated<Date>
  expires_at: Date | null
  envelope: string | null
  /** Pending: the uploader's; deleted: the blob remover's (migrations/0009). Null otherwise. */
  lease_until: Date | null
  /** What a pending upload has reserved of its owner's quota so far. */
  reserved_bytes: Generated<number>
}

export interface SharesTable {
  id: string
  file_id: string
  owner_id: string
  token_hash: string
  /** The GET /share/:file_id options it was made for; null otherwise (migrations/0010). */
  request_options: string | null
  expires_at: Date | null
  max_downloads: number | null
  downloads: Generated<number>
  /** The download budget's ledger (migrations/0008). */
  bytes_reserved: Generated<number>
  bytes_served: Generated<number>
  password_hash: string | null
  created_at: Generated<Date>
  updated_at: Generated<Date>
}

export interface IdempotencyKeysTable {
  user_id: string
  key: string
  claim: string
  status: 'processing' | 'completed'
  fingerprint: string | null
  /** Set while processing: the holder renews it; once it lapses the key is free. */
  lease_until: Date | null
  response_status: number | null
  response_body: string | null
  created_at: Date
}

export type TusConcat = 'none' | 'partial' | 'final'

/** A tus upload beside its pending files row (migrations/0014). */
export interface TusUploadsTable {
  id: string
  file_id: string
  owner_id: string
  upload_length: number | null
  upload_offset: Generated<number>
  concat: Generated<TusConcat>
  metadata: string | null
  append_handle: string | null
  carry_key: string | null
  carry_envelope: string | null
  holder: string | null
  lease_until: Date | null
  expires_at: Date
  completed_at: Date | null
  created_at: Generated<Date>
}
