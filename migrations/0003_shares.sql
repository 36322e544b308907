CREATE TABLE shares (
  id uuid PRIMARY KEY,
  file_id uuid NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  -- SHA-256 of the link's token. The token itself is an HMAC of the id under a server key,
  -- so the database alone (a leak, a backup) never yields a working link.
  token_hash text NOT NULL UNIQUE,
  -- The link GET /share/:file_id returns: at most one per file.
  is_default boolean NOT NULL DEFAULT false,
  expires_at timestamptz,
  max_downloads integer CHECK (max_downloads > 0),
  downloads integer NOT NULL DEFAULT 0,
  password_hash text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX shares_default_idx ON shares (file_id) WHERE is_default;
CREATE INDEX shares_file_idx ON shares (file_id, created_at);
CREATE INDEX shares_expiry_idx ON shares (expires_at) WHERE expires_at IS NOT NULL;
