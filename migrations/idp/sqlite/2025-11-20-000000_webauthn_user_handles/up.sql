-- The WebAuthn user handle of each member: a random UUID, created at the first passkey
-- registration and never changed (an authenticator replaces its old credential for this site
-- when a new one has the same handle). Kept apart from `subject`, which relying parties see.
CREATE TABLE webauthn_user_handles (
  member_id TEXT PRIMARY KEY NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  handle TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
