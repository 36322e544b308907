-- A link with max_downloads = N may serve N copies' worth of bytes, whatever the ranges:
-- N × size, or N responses for an empty file (each counts as one byte). Every response
-- reserves its length first and settles when it ends, giving back what it did not send.
--   bytes_reserved: bytes of settled responses plus those of responses still in flight (or
--                   cut off by a crash, never settled: a crash only ever costs budget).
--   bytes_served:   bytes of settled responses; downloads = bytes_served / size, rounded down.
ALTER TABLE shares ADD COLUMN bytes_reserved bigint NOT NULL DEFAULT 0 CHECK (bytes_reserved >= 0);
ALTER TABLE shares ADD COLUMN bytes_served bigint NOT NULL DEFAULT 0 CHECK (bytes_served >= 0);

-- Downloads counted before the budget existed were whole copies.
UPDATE shares
SET bytes_reserved = shares.downloads * GREATEST(files.size, 1),
    bytes_served = shares.downloads * GREATEST(files.size, 1)
FROM files
WHERE files.id = shares.file_id AND shares.downloads > 0;
