-- The wrapped data key and format of an encrypted blob (see src/storage/envelope.ts);
-- null for files stored while encryption was off, which are read as they are.
ALTER TABLE files ADD COLUMN envelope text;
