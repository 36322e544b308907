-- tus resumable uploads (/uploads). Each one has an ordinary `files` row beside it, pending
-- until the upload completes, so quota reservations, account deletion and the purge treat
-- it like any upload. That row's lease_until stays NULL: the abandoned-upload sweep (pending
-- rows whose lease lapsed) never takes it; the tus step of the sweeper expires it instead.
CREATE TABLE tus_uploads (
  -- Random, 144 bits, base64url: the upload URL's last segment; never a storage path.
  id text PRIMARY KEY,
  file_id uuid NOT NULL UNIQUE REFERENCES files(id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- NULL while the client defers it (Upload-Defer-Length).
  upload_length bigint CHECK (upload_length >= 0),
  -- The truth about what is stored: blocks of the append up to floor(offset / block size),
  -- the rest in the carry blob. Only the lease holder moves it, by a conditional UPDATE.
  upload_offset bigint NOT NULL DEFAULT 0 CHECK (upload_offset >= 0),
  concat text NOT NULL DEFAULT 'none' CHECK (concat IN ('none', 'partial', 'final')),
  -- Upload-Metadata as the client sent it, echoed by HEAD.
  metadata text,
  -- The store's AppendHandle (JSON); NULL for a final concatenation, which is one put.
  append_handle text,
  -- The bytes past the last whole block, a small blob of its own (encrypted like any).
  carry_key text UNIQUE,
  carry_envelope text,
  -- The PATCH (or the sweeper) working on the upload, and until when.
  holder text,
  lease_until timestamptz,
  expires_at timestamptz NOT NULL,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tus_uploads_expiry_idx ON tus_uploads (expires_at);
