-- Name substring search (ILIKE '%…%') through trigrams.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX files_name_trgm_idx ON files USING gin (name gin_trgm_ops) WHERE status = 'available';

-- One btree per sort order, each led by the owner so a user's page is a range scan.
CREATE INDEX files_owner_name_idx ON files (owner_id, name, id) WHERE status = 'available';
CREATE INDEX files_owner_size_idx ON files (owner_id, size, id) WHERE status = 'available';
-- Type filters (exact or prefix) with the default newest-first order.
CREATE INDEX files_owner_type_created_idx ON files (owner_id, content_type, created_at DESC, id DESC)
  WHERE status = 'available';
