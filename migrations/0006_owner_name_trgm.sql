-- Name search is always scoped to one owner: a GIN over (owner, trigrams) bounds the
-- candidate rows by that owner's files instead of every user's (bench/search.ts: a
-- selective search over a long window fell from ~65 ms to ~15 ms at a million files).
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX files_owner_name_trgm_idx ON files USING gin (owner_id, name gin_trgm_ops)
  WHERE status = 'available';
DROP INDEX files_name_trgm_idx;
