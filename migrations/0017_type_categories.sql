-- A type filter walked the owner's files in list order and tested each entry's content type:
-- a category against its prefixes and types, an exact type on an index without the name, so
-- a name search with either read the table for every entry it tested. The category a content
-- type belongs to is now one function, the only place the categories are defined
-- (FilesRepository.search matches it; file-search.ts keeps their names), and each kind of
-- type filter has a covering index led by it: such a search walks only the files of that
-- category or type, on index entries (docs/benchmarks.md, 2026-12-02).
--
-- Changing a category means a new migration that replaces the function and rebuilds the
-- index below (REINDEX): entries keep the category they were built with.
CREATE FUNCTION file_type_category(content_type text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE
    WHEN content_type LIKE 'image/%' THEN 'image'
    WHEN content_type LIKE 'video/%' THEN 'video'
    WHEN content_type LIKE 'audio/%' THEN 'audio'
    WHEN content_type LIKE 'text/%'
      OR content_type LIKE 'application/vnd.openxmlformats-officedocument.%'
      OR content_type LIKE 'application/vnd.oasis.opendocument.%'
      OR content_type IN ('application/pdf', 'application/msword', 'application/rtf',
                          'application/vnd.ms-excel', 'application/vnd.ms-powerpoint',
                          'application/epub+zip')
      THEN 'document'
    WHEN content_type IN ('application/zip', 'application/x-tar', 'application/gzip',
                          'application/x-gzip', 'application/x-7z-compressed',
                          'application/x-rar-compressed', 'application/vnd.rar',
                          'application/x-bzip2', 'application/x-xz', 'application/zstd')
      THEN 'archive'
    ELSE 'other'
  END;

-- Built before the index it replaces is dropped (see migrations/0015).
CREATE INDEX files_owner_category_search_idx
  ON files (owner_id, file_type_category(content_type), created_at DESC, id DESC)
  INCLUDE (name_folded, content_type, size, expires_at) WHERE status = 'available';
CREATE INDEX files_owner_type_search_idx ON files (owner_id, content_type, created_at DESC, id DESC)
  INCLUDE (name_folded, size, expires_at) WHERE status = 'available';
DROP INDEX files_owner_type_created_idx;
