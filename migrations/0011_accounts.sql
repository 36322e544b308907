-- Account states. disabled_at: the operator suspended it; its tokens are refused while set.
-- deleted_at: its owner (or the operator) deleted it. The row stays, hidden, only until the
-- sweeper has removed its files' blobs and rows; deleting it at once would cascade to the
-- file rows and leave their blobs to the slow orphan scan.
ALTER TABLE users ADD COLUMN disabled_at timestamptz, ADD COLUMN deleted_at timestamptz;

-- A deleted account's email may register again at once: unique among live accounts only.
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_email_live_idx ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX users_deleted_idx ON users (deleted_at) WHERE deleted_at IS NOT NULL;
-- A deleted account's files still to be hidden, and whether any row of it is left.
CREATE INDEX files_owner_idx ON files (owner_id);

-- One-time invitations to register (REGISTRATION=invite), created by the operator's CLI.
-- Only the token's SHA-256 is kept; spending one sets used_at, once, under its row lock.
CREATE TABLE invites (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  token_hash text NOT NULL UNIQUE,
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  used_by uuid REFERENCES users(id) ON DELETE SET NULL
);
