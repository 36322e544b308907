-- GET /share/:file_id finds or creates: the link it made for the same request options is
-- handed out again while it can still serve. request_options holds those options in one
-- canonical text ('' for none, the old default link); NULL for links made by
-- POST /files/:id/shares and for GET-made links retired once they expired or ran out.
ALTER TABLE shares ADD COLUMN request_options text;
UPDATE shares SET request_options = '' WHERE is_default;
CREATE UNIQUE INDEX shares_request_options_idx ON shares (file_id, request_options)
  WHERE request_options IS NOT NULL;
DROP INDEX shares_default_idx;
ALTER TABLE shares DROP COLUMN is_default;

-- Emails are now stored in canonical form: NFKC, then lower case (src/users/email-address.ts).
-- Rows from before were only trimmed and lower-cased; each moves to its canonical form
-- unless another account already has it, or an older row moves there: those stay as they
-- are (a look-alike of another account) and can no longer sign in by that address.
UPDATE users SET email = moved.canonical
FROM (
  SELECT DISTINCT ON (canonical) id, canonical
  FROM (
    SELECT id, created_at, lower(normalize(email, NFKC)) AS canonical FROM users
  ) AS legacy
  WHERE NOT EXISTS (SELECT 1 FROM users AS taken WHERE taken.email = legacy.canonical)
  ORDER BY canonical, created_at, id
) AS moved
WHERE users.id = moved.id;
