CREATE TABLE files (
  id uuid PRIMARY KEY,
  owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL,
  size bigint NOT NULL DEFAULT 0,
  -- Detected from the bytes (extension as fallback); what the client claimed is kept apart.
  content_type text NOT NULL DEFAULT 'application/octet-stream',
  claimed_content_type text,
  sha256 text,
  -- Server-generated; never derived from the name. Unique so two rows never share a blob.
  storage_key text NOT NULL UNIQUE,
  driver text NOT NULL,
  -- pending: bytes in flight; available: visible; deleted: invisible, blob removal under way.
  status text NOT NULL CHECK (status IN ('pending', 'available', 'deleted')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);

-- Per-user listing, newest first, over visible rows only.
CREATE INDEX files_owner_created_idx ON files (owner_id, created_at DESC, id DESC)
  WHERE status = 'available';
-- The sweeper's queries: expired visible files, and rows stuck in pending or deleted.
CREATE INDEX files_expiry_idx ON files (expires_at) WHERE status = 'available' AND expires_at IS NOT NULL;
CREATE INDEX files_housekeeping_idx ON files (status, updated_at) WHERE status <> 'available';
