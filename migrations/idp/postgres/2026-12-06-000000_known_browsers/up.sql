-- Known browsers (issue 14, docs/designs/softlock.md): a browser where a member completed a
-- sign-in carries a device token; its failures count against its own budget, not against the
-- budget every other browser shares. Only the SHA-256 of the token's random part is stored.
CREATE TABLE known_browsers (
  id TEXT PRIMARY KEY NOT NULL,
  member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  -- The member ticked "remember me" at their last sign-in here: the login page shows their
  -- user ID.
  remembered BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX known_browsers_member ON known_browsers (member_id);

-- Set when the password was reset by mail: the next sign-in must use the member's strongest
-- factor (an app or a passkey, if they have one), not the mailbox again. Cleared by it.
ALTER TABLE members ADD COLUMN strong_factor_due BIGINT;
