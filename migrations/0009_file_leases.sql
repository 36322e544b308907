-- Who may act on a row, and until when. On a pending row: the uploader, which renews it
-- while bytes stream, so the sweeper reaps only uploads whose process has gone silent. On a
-- deleted row: the worker that claimed it to remove its blob, with no transaction held
-- across the store call; a claimer that dies lets the lease lapse and another one retries.
ALTER TABLE files ADD COLUMN lease_until timestamptz;
UPDATE files SET lease_until = updated_at + interval '1 day' WHERE status = 'pending';
DROP INDEX files_housekeeping_idx;
CREATE INDEX files_housekeeping_idx ON files (status, lease_until) WHERE status <> 'available';
