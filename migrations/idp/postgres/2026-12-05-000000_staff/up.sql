-- Staff accounts (union staff using the web console), kept apart from members: their own
-- table, passkeys and WebAuthn user handles, so a member's credential can never sign in as
-- staff nor a staff credential as a member.
CREATE TABLE staff_accounts (
  id TEXT PRIMARY KEY NOT NULL,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  subject TEXT NOT NULL UNIQUE,
  webauthn_handle TEXT NOT NULL UNIQUE,
  disabled_at BIGINT,
  created_by TEXT,
  created_at BIGINT NOT NULL,
  last_login_at BIGINT
);

CREATE TABLE staff_passkeys (
  id TEXT PRIMARY KEY NOT NULL,
  staff_id TEXT NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
  credential_id TEXT NOT NULL UNIQUE,
  label TEXT NOT NULL,
  passkey TEXT NOT NULL,
  sign_count BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT
);
CREATE INDEX staff_passkeys_staff ON staff_passkeys (staff_id);

-- One-time links: `enroll` (invitation mail: register a passkey) and `signin` (demo only).
-- Only the SHA-256 of the link's token is stored.
CREATE TABLE staff_links (
  token_hash TEXT PRIMARY KEY NOT NULL,
  staff_id TEXT NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX staff_links_staff ON staff_links (staff_id);

-- Letter mode: one invitation code per member (a reissue replaces it), as an HMAC only.
CREATE TABLE invitation_codes (
  member_id TEXT PRIMARY KEY NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  code_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);

-- Member imports made in the console (letters are printed per import).
CREATE TABLE member_imports (
  id TEXT PRIMARY KEY NOT NULL,
  staff_id TEXT,
  file_name TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  at BIGINT NOT NULL
);
CREATE TABLE member_import_rows (
  import_id TEXT NOT NULL REFERENCES member_imports (id) ON DELETE CASCADE,
  member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  created BOOLEAN NOT NULL,
  PRIMARY KEY (import_id, member_id)
);

ALTER TABLE members ADD COLUMN disabled_at BIGINT;
ALTER TABLE audit_events ADD COLUMN staff_id TEXT;
ALTER TABLE audit_events ADD COLUMN reason TEXT;
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX members_name_kana ON members (name_kana);
