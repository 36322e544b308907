-- Storage quotas. used_bytes is what a user's files take: the bytes reserved by uploads in
-- flight (files.reserved_bytes of pending rows) plus the size of visible ones. Every change
-- to either moves it in the same transaction, so it never drifts; reservations are one
-- conditional UPDATE, so concurrent uploads can never pass the quota together.
ALTER TABLE users ADD COLUMN quota_bytes bigint CHECK (quota_bytes >= 0);
ALTER TABLE users ADD COLUMN used_bytes bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0);
ALTER TABLE files ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0;
UPDATE users SET used_bytes = COALESCE(
  (SELECT sum(size) FROM files WHERE files.owner_id = users.id AND files.status = 'available'), 0);
