-- A session is what one login starts; access tokens carry its id as `sid`. Its row is the
-- lock that rotation, reuse detection and logout each take in one transaction, so they
-- happen one at a time per session and a revoked session never gets another token.
-- user_agent and ip are as the login request gave them.
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  user_agent text,
  ip text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Each family of refresh tokens becomes a session. Revocation only ever marked a whole
-- family, so one revoked token means a revoked session; a token issued after that (by the
-- race this closes) dies with it.
INSERT INTO sessions (id, user_id, created_at, last_used_at, revoked_at)
SELECT family_id,
       (array_agg(user_id))[1],
       min(created_at),
       max(coalesce(used_at, created_at)),
       max(revoked_at)
FROM refresh_tokens
GROUP BY family_id;

-- A token now belongs to its session, which holds the user and the revocation.
ALTER TABLE refresh_tokens RENAME COLUMN family_id TO session_id;
ALTER INDEX refresh_tokens_family_idx RENAME TO refresh_tokens_session_idx;
ALTER TABLE refresh_tokens
  ADD CONSTRAINT refresh_tokens_session_id_fkey
  FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE;
ALTER TABLE refresh_tokens DROP COLUMN user_id, DROP COLUMN revoked_at;
