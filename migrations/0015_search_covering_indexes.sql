-- A name search with a common word walks the owner's files in the page's order and checks the
-- substring (and any other filter) row by row. With every column a filter or the visibility
-- check reads carried in the index, that check runs on index entries, and the table is read
-- only for the page's rows (FilesRepository.search; bench/search.ts, 200,000 files of one
-- user: a name + type + month + size search fell from ~25 ms to ~4 ms of PostgreSQL CPU).
-- They replace the plain indexes on the same keys. Both are built before the old ones are
-- dropped: a build blocks only writes, a drop blocks reads too, until the commit.
CREATE INDEX files_owner_created_cover_idx ON files (owner_id, created_at DESC, id DESC)
  INCLUDE (name, content_type, size, expires_at) WHERE status = 'available';
CREATE INDEX files_owner_name_cover_idx ON files (owner_id, name, id)
  INCLUDE (content_type, size, created_at, expires_at) WHERE status = 'available';
DROP INDEX files_owner_created_idx;
DROP INDEX files_owner_name_idx;

-- Whether a name search walks the owner's files or looks the trigrams up depends on how many
-- names the planner expects to match, which it counts in the column's histogram. With 100
-- entries a word in 3% of names finds none about one time in fifteen, the estimate collapses
-- to 0.01%, and the trigram plan reads thousands of rows from the table; with 300 that is
-- about one in three thousand. Each name search plans ~0.1 ms longer.
ALTER TABLE files ALTER COLUMN name SET STATISTICS 300;
ANALYZE files (name);
