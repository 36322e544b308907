-- Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) on POST /upload and
-- POST /files/:id/shares. One row per (user, key): the first request claims it with one
-- INSERT … ON CONFLICT, so of two concurrent requests with the same key exactly one runs, on
-- any instance. While it runs the row is 'processing' under a lease the request renews; a
-- crashed request's row counts as free once the lease lapses. Once it succeeds the row is
-- 'completed' with the response a retry gets. Rows older than a day count as absent and the
-- sweeper deletes them.
CREATE TABLE idempotency_keys (
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key text NOT NULL,
  -- Which request holds the row: a request that outlived its lease cannot touch its successor's.
  claim uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('processing', 'completed')),
  -- An HMAC of the request; null while an upload's body is still streaming.
  fingerprint text,
  lease_until timestamptz,
  response_status smallint,
  -- The JSON body without its links (they are made again from the ids at replay).
  response_body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key),
  CHECK ((status = 'processing') = (lease_until IS NOT NULL)),
  CHECK ((status = 'completed') = (response_status IS NOT NULL AND fingerprint IS NOT NULL))
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
